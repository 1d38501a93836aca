"""After training: is the learned mapping reverted (Wang et al. 2020, "Failure cases", case 1) or collapsed?"""

from __future__ import annotations

import warnings

import keras
import numpy as np

from tfstem.noise2atom import losses as n2a_losses
from tfstem.training.collapse import check_collapse

__all__ = ["mapping_correlation", "check_reverted_mapping", "check_after_training"]

COLLAPSE_ADVICE = ("for Noise2Atom also check that the clean-domain peaks match the atoms' size and spacing "
                   "(peak_sigma, density) and try the cpu preset on a CPU")


def _sample_and_denoise(model: keras.Model, frames, max_frames: int):
    """Up to ``max_frames`` raw frames ``float32 [T, H, W]`` and the model's output for them ``[T, H, W]``."""
    array = np.asarray(frames, dtype=np.float32)
    if array.ndim == 4:
        array = array[..., 0]
    if array.ndim == 2:
        array = array[None]
    array = array[:max_frames]
    # A direct call, not predict(): predict traces a new graph for every new model (seconds per check).
    out = np.concatenate([np.asarray(model(array[i:i + 2, ..., None], training=False))
                          for i in range(0, len(array), 2)])[..., 0]
    return array, out


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
    array, out = _sample_and_denoise(model, frames, max_frames)
    return _correlation(array, out, sigma)


def _correlation(array, out, sigma):
    from scipy import ndimage

    smooth = np.stack([ndimage.gaussian_filter(f, sigma) for f in array])
    return float(n2a_losses.pooled_correlation(smooth, out))


def check_reverted_mapping(model: keras.Model, frames, *, threshold: float = 0.0) -> float:
    """Warn when the denoiser inverts contrast (Wang et al. 2020, "Failure cases", case 1).

    Returns the correlation of :func:`mapping_correlation`; issues a ``UserWarning`` with advice when it is
    below ``threshold``.
    """
    corr = mapping_correlation(model, frames)
    _warn_if_reverted(corr, threshold)
    return corr


def _warn_if_reverted(corr: float, threshold: float) -> None:
    if corr < threshold:
        warnings.warn(
            f"Noise2Atom mapping looks reverted: correlation between smoothed input and output is {corr:.2f} "
            "(bright regions mapped to background). This happens about once in ten runs (Wang et al. 2020, "
            "failure case 1). Retrain with another seed or with sign_anchor_weight=1 (a hinge on the contrast "
            "sign, not in the paper; on in the cpu preset), check that the background is homogeneous (no "
            "thickness gradient), and that atoms are brighter than the support (HAADF contrast).",
            UserWarning, stacklevel=3)


def check_after_training(model: keras.Model, frames, *, minimum: float, maximum: float, max_frames: int = 8) -> dict:
    """The two checks after training on one prediction of up to ``max_frames`` frames.

    Parameters
    ----------
    model : keras.Model
        The deployable denoiser: raw frames in, ``[0, 1]`` (clean domain) out.
    frames : array_like ``[T, H, W]`` or ``[T, H, W, 1]``
        Raw training frames.
    minimum, maximum : float
        The training stack's raw minimum and maximum: the input is compared with the output on ``[0, 1]``.

    Returns
    -------
    dict
        ``mapping_correlation`` (float, see :func:`check_reverted_mapping`, warns below 0) and ``collapse``
        (:func:`tfstem.training.collapse.check_collapse`'s verdict; warns when collapsed).
    """
    array, out = _sample_and_denoise(model, frames, max_frames)
    corr = _correlation(array, out, n2a_losses.SIGN_ANCHOR_SIGMA)
    _warn_if_reverted(corr, 0.0)
    unit = (array - minimum) / max(maximum - minimum, 1e-12)
    return {"mapping_correlation": corr,
            "collapse": check_collapse(unit, out, method="noise2atom", advice=COLLAPSE_ADVICE)}
