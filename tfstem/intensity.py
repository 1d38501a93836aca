"""The intensity scale of :func:`tfstem.restore`: per-frame standardisation in float64, and the result's checks.

The network computes in float32, whose squares overflow above ~1.8e19 and whose absolute std floor (0.1 for
the r_em CGRDN) silently changes the result of images whose values are small. So, for a model that
standardises each image itself (:func:`tfstem.restore.standardisation_layer`), each frame and channel is first
mapped, in float64 on the caller's values, to mean 0 and a fixed std (:func:`standardise_frames`), restored, and
mapped back (:func:`destandardise_into`). :func:`check_restored` refuses a result that is NaN/inf or beyond
float32's range.
"""

from __future__ import annotations

import numpy as np

from tfstem.io.series import FLOAT32_MAX

__all__ = ["network_input_std", "standardise_frames", "destandardise_into", "check_restored", "FLOAT32_MAX"]


def network_input_std(std_floor: float, std_multiplier: float) -> float:
    """The std :func:`standardise_frames` maps frames to for a network that standardises with this floor and multiplier.

    1, or 10x the level where the network's own floor (``std_multiplier * std >= std_floor``) would bite:
    a padded or flat-ish image stays far above the floor.
    """
    return max(1.0, 10.0 * std_floor / std_multiplier)


def standardise_frames(frames: np.ndarray, target_std: float):
    """Map each frame and channel to mean 0 and std ``target_std``, in float64 on the caller's values.

    Parameters
    ----------
    frames : numpy.ndarray ``[N, H, W, C]``, any real dtype, finite, |values| <= float32's maximum.
    target_std : float

    Returns
    -------
    standardised : numpy.ndarray float32 ``[N, H, W, C]``; 0 for constant frames.
    mean, scale : numpy.ndarray float64 ``[N, 1, 1, C]``, in the input's units; ``scale = std / target_std``
        (0 for a constant frame and channel, so that its restored value is its constant).
    """
    n, _, _, c = frames.shape
    standardised = np.empty(frames.shape, dtype=np.float32)
    mean = np.empty((n, 1, 1, c), dtype=np.float64)
    scale = np.empty((n, 1, 1, c), dtype=np.float64)
    for i, frame in enumerate(frames):  # one frame at a time: a float64 copy of a whole stack may not fit
        x = frame.astype(np.float64)
        constant = x.max(axis=(0, 1), keepdims=True) == x.min(axis=(0, 1), keepdims=True)
        m = np.where(constant, x[:1, :1], x.mean(axis=(0, 1), keepdims=True))
        d = x - m
        # the std through max |d|: no overflow of d**2 near 1e300, no underflow to 0 near 1e-200
        peak = np.abs(d).max(axis=(0, 1), keepdims=True)
        unit = d / np.where(peak > 0, peak, 1.0)
        rms = np.sqrt(np.mean(unit * unit, axis=(0, 1), keepdims=True))
        rms = np.where(constant, 0.0, rms)
        standardised[i] = unit * (target_std / np.where(rms > 0, rms, 1.0))
        mean[i], scale[i] = m[0], (rms * peak / target_std)[0]
    return standardised, mean, scale


def destandardise_into(out: np.ndarray, restored: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> None:
    """``out[i] = mean[i] + scale[i] * restored[i]`` computed in float64, stored float32, checked to fit."""
    for i in range(restored.shape[0]):
        values = restored[i].astype(np.float64) * scale[i] + mean[i]
        check_restored(values, i, standardised=True)
        out[i] = values


def check_restored(values: np.ndarray, frame: int, *, standardised: bool) -> None:
    """A ``ValueError`` if frame ``frame`` of the result holds NaN/inf or values beyond float32's range."""
    finite = np.isfinite(values)
    if not finite.all():
        why = ("although its input was standardised to mean 0 and std 1" if standardised else
               "whose input is finite: the model overflows at this intensity scale (it does not standardise its "
               "input, so restore passes intensities unchanged); scale the image to the range the model was "
               "trained on")
        raise ValueError(
            f"the model returned {values.size - np.count_nonzero(finite)} NaN or inf values for frame {frame}, {why}."
        )
    peak = float(np.abs(values).max())
    if peak > FLOAT32_MAX:
        raise ValueError(
            f"the restored frame {frame} reaches {peak:.3g}, beyond float32's range (+-{FLOAT32_MAX:.3g}) that "
            "restore returns; divide the image by a constant first."
        )
