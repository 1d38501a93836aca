"""After training: is the learned mapping reverted (Wang et al. 2020, "Failure cases", case 1)?"""

from __future__ import annotations

import warnings

import keras
import numpy as np

from tfstem.noise2atom import losses as n2a_losses

__all__ = ["mapping_correlation", "check_reverted_mapping"]


def mapping_correlation(model: keras.Model, frames, *, sigma: float = n2a_losses.SIGN_ANCHOR_SIGMA,
                        max_frames: int = 8) -> float:
    """Pearson correlation between Gaussian-smoothed input frames and the denoised frames.

    Parameters
    ----------
    model : keras.Model
        A denoiser obeying the MODEL CONTRACT.
    frames : array_like ``[T, H, W]`` or ``[T, H, W, 1]``
    sigma : float
        Smoothing of the input in pixels (noise would otherwise dominate).

    Returns
    -------
    float in [-1, 1]. Negative: bright input regions became background (the paper's failure case 1).
    """
    from scipy import ndimage

    array = np.asarray(frames, dtype=np.float32)
    if array.ndim == 4:
        array = array[..., 0]
    if array.ndim == 2:
        array = array[None]
    array = array[:max_frames]
    # A direct call, not predict(): predict traces a new graph for every new model (seconds per check).
    out = np.concatenate([np.asarray(model(array[i:i + 2, ..., None], training=False))
                          for i in range(0, len(array), 2)])[..., 0]
    smooth = np.stack([ndimage.gaussian_filter(f, sigma) for f in array])
    return float(n2a_losses.pooled_correlation(smooth, out))


def check_reverted_mapping(model: keras.Model, frames, *, threshold: float = 0.0) -> float:
    """Warn when the denoiser inverts contrast (Wang et al. 2020, "Failure cases", case 1).

    Returns the correlation of :func:`mapping_correlation`; issues a ``UserWarning`` with advice when it is
    below ``threshold``.
    """
    corr = mapping_correlation(model, frames)
    if corr < threshold:
        warnings.warn(
            f"Noise2Atom mapping looks reverted: correlation between smoothed input and output is {corr:.2f} "
            "(bright regions mapped to background). This happens about once in ten runs (Wang et al. 2020, "
            "failure case 1). Retrain with another seed or with sign_anchor_weight=1 (a hinge on the contrast "
            "sign, not in the paper; on in the cpu preset), check that the background is homogeneous (no "
            "thickness gradient), and that atoms are brighter than the support (HAADF contrast).",
            UserWarning, stacklevel=2)
    return corr
