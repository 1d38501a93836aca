"""Classical denoisers the papers compare against: Gaussian blur, total variation (Chambolle), BM3D.

Each takes an image ``[H, W]``, ``[H, W, C]`` or a stack ``[N, H, W(, C)]`` of any real dtype and
returns ``float32`` of the same shape; multichannel input is filtered channel by channel (the dual
channel N2V paper filters ADF and BF independently with their own weights).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.restoration import denoise_tv_chambolle

__all__ = ["gaussian", "tv", "bm3d"]


def _per_channel(image, channel_params, fn, *, stack):
    """Apply ``fn(frame2d, param)`` to each 2-D frame and channel; ``channel_params`` per channel."""
    array = np.asarray(image)
    if array.ndim < 2 or array.ndim > 4:
        raise ValueError(f"image must be [H, W], [H, W, C], [N, H, W] or [N, H, W, C]; received shape {array.shape}.")
    if np.iscomplexobj(array):
        raise ValueError("image is complex; pass the real intensities (e.g. np.abs(image)).")
    array = array.astype(np.float32)
    if not np.all(np.isfinite(array)):
        raise ValueError("image contains NaN or inf; replace them before filtering.")
    has_channels = array.ndim == 4 or (array.ndim == 3 and not stack)
    work = array if has_channels else array[..., None]
    if work.ndim == 3:
        work = work[None]
    n_channels = work.shape[-1]
    params = list(np.broadcast_to(np.asarray(channel_params, dtype=np.float64), (n_channels,)))
    out = np.empty_like(work)
    for i in range(work.shape[0]):
        for c in range(n_channels):
            out[i, ..., c] = fn(work[i, ..., c], params[c])
    if not has_channels:
        out = out[..., 0]
    return out.reshape(array.shape)


def gaussian(image, sigma=1.0, *, stack=False):
    """Gaussian blur with standard deviation ``sigma`` pixels (the N2V paper's baseline: 1 px).

    Parameters
    ----------
    image : array_like
        ``[H, W]``, ``[H, W, C]``, or with ``stack=True`` ``[N, H, W]``; ``[N, H, W, C]`` always a stack.
    sigma : float or sequence of float
        Standard deviation in pixels, one value or one per channel.
    stack : bool
        Read a 3-D input as ``[N, H, W]`` frames rather than ``[H, W, C]`` channels.

    Returns
    -------
    numpy.ndarray, float32, same shape as ``image``
    """
    return _per_channel(image, sigma, lambda f, s: ndimage.gaussian_filter(f, s, mode="reflect"), stack=stack)


def tv(image, weight=1.0, *, stack=False):
    """Total-variation denoising (Chambolle 2004) by ``skimage.restoration.denoise_tv_chambolle``.

    ``weight`` (one or one per channel) is scikit-image's weight, applied to the frame scaled to
    [0, 1] and the result scaled back; the N2V paper used 1/lambda = 1.0 for ADF and 0.75 for BF.
    """

    def _tv(frame, w):
        lo, hi = float(frame.min()), float(frame.max())
        if hi == lo:
            return frame
        unit = (frame - lo) / (hi - lo)
        return denoise_tv_chambolle(unit, weight=w) * (hi - lo) + lo

    return _per_channel(image, weight, _tv, stack=stack)


def bm3d(image, sigma_psd=None, *, sigma_scale=1.0, stack=False):
    """BM3D (Dabov et al. 2007; Mäkinen et al. 2020) via the optional ``bm3d`` package.

    ``sigma_psd`` is the noise standard deviation in the units of the frame scaled to [0, 1];
    when None it is estimated per frame by ``skimage.restoration.estimate_sigma`` and multiplied by
    ``sigma_scale`` (the estimate assumes white Gaussian noise and is low for Poisson-dominated STEM frames).

    Raises
    ------
    ImportError
        When the ``bm3d`` package is absent: ``pip install 'tfstem[bm3d]'``.
    """
    try:
        import bm3d as _bm3d
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("BM3D needs the optional 'bm3d' package: pip install 'tfstem[bm3d]'") from error
    from skimage.restoration import estimate_sigma

    def _one(frame, sigma):
        lo, hi = float(frame.min()), float(frame.max())
        if hi == lo:
            return frame
        unit = (frame - lo) / (hi - lo)
        s = sigma_scale * float(estimate_sigma(unit)) if np.isnan(sigma) else sigma
        return np.asarray(_bm3d.bm3d(unit, sigma_psd=max(s, 1e-6)), dtype=np.float32) * (hi - lo) + lo

    return _per_channel(image, np.nan if sigma_psd is None else sigma_psd, _one, stack=stack)
