"""How well an r_em restorer does on held-out pairs (PSNR, SSIM) and what it does to a batch (a preview panel)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfstem.r_em.data import as_pairs
from tfstem.r_em.pixel_losses import to_training_space

__all__ = ["restoration_scores", "preview_panel"]


def restoration_scores(model, distorted, clean, *, batch_size: int = 4) -> dict:
    """Mean PSNR and SSIM (dB, unitless) of ``model(distorted)`` against ``clean``, per image (r_em Eq. 1).

    Parameters
    ----------
    model : keras.Model
        A restorer (raw intensities in and out).
    distorted, clean : np.ndarray
        float32 ``[N, H, W, C]`` raw intensities; each image's data range is that of its clean image (channel 0
        is scored).
    batch_size : int
        Images per network call.

    Returns
    -------
    dict
        ``{"psnr": float, "ssim": float, "psnr_input": float, "ssim_input": float}``.
    """
    from tfstem import metrics

    distorted, clean = as_pairs(distorted, clean)
    restored = np.concatenate([np.asarray(model(distorted[i:i + batch_size], training=False), np.float32)
                               for i in range(0, len(distorted), batch_size)])
    out = {"psnr": [], "ssim": [], "psnr_input": [], "ssim_input": []}
    for x, y_g, y in zip(distorted, restored, clean):
        out["psnr"].append(metrics.psnr(y[..., 0], y_g[..., 0]))
        out["ssim"].append(metrics.ssim(y[..., 0], y_g[..., 0]))
        out["psnr_input"].append(metrics.psnr(y[..., 0], x[..., 0]))
        out["ssim_input"].append(metrics.ssim(y[..., 0], x[..., 0]))
    return {k: float(np.mean(v)) for k, v in out.items()}


def preview_panel(model, distorted, clean, *, std_floor: float = 0.1):
    """distorted | restored | clean side by side, each in the distorted image's standardised scale.

    Parameters
    ----------
    model : keras.Model
        A restorer (raw intensities in and out).
    distorted, clean : tf.Tensor or np.ndarray
        float32 ``[N, H, W, C]`` raw intensities.
    std_floor : float
        Floor of the distorted image's std (the CGRDN's, 0.1).

    Returns
    -------
    tf.Tensor
        float32 ``[N, H, 3 W, 1]`` in [0, 1] (channel 0; +-3 std of the distorted image mapped to 0 and 1).
    """
    x = tf.convert_to_tensor(distorted, tf.float32)
    y = tf.convert_to_tensor(clean, tf.float32)
    y_g = tf.cast(model(x, training=False), tf.float32)
    x_n, y_gn, y_n = to_training_space(x, y_g, y, std_floor=std_floor)
    row = tf.concat([x_n, y_gn, y_n], axis=2)[..., :1]
    return tf.clip_by_value((row + 3.0) / 6.0, 0.0, 1.0)
