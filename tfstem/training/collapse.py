"""After training: did the denoiser collapse (an almost flat output, or one unrelated to its input)?

A self-supervised or adversarial denoiser can finish a run with falling losses and return a nearly constant
image (the frame's mean plus a faint trace of its structure), or, barely trained, an image that has nothing
to do with its input. A flat output scores well on temporal stability (CSS) because nothing changes, and is
easy to mistake for a strong denoiser. The check compares the output with the input smoothed by a Gaussian
(which removes most of the noise and keeps the structure a denoiser should return), per frame and channel:

* ``contrast``: the output's spatial standard deviation / the smoothed input's;
* ``correlation``: their Pearson correlation;
* ``structure = |correlation| x min(contrast, 1)``: how much of the input's structure the output carries
  (below 1 the slope of the least-squares line from the smoothed input to the output; capped at 1 because
  contrast beyond the input's cannot make up for a missing correlation: an output of loud noise unrelated
  to the input has a large contrast and a correlation near 0).

The run is flagged when the median ``structure`` is below :data:`STRUCTURE_THRESHOLD` (0.2). Measured on
the shipped data (frames 1, 9, ..., 41 of the N2V video, 8 frames of the Noise2Atom series;
``tests/training/test_collapse.py`` asserts the margins): the noise-free frames carry 0.69 (ADF) / 0.79 (BF)
of the 10 dB input's smoothed structure, a trained N2V (267 steps) 0.70 / 0.81, a 1 px Gaussian blur 0.86 /
0.92, a 4 px blur (BF lattice erased, not flat) 0.48 / 0.24; the Noise2Atom series' noise-free atoms 0.60
and atoms + carbon 0.68; a flat frame 0, a flat frame with 5 % of the true structure 0.04 / 0.10, N2V after
3 steps of the ``quick`` preset 0.01 (contrast 0.36, correlation 0.03), Noise2Atom after 2 steps of
``quick`` 0.01 (contrast 9.7, correlation 0.01).

One check for every method: each method calls :func:`check_collapse` with its input and output in the same
intensity units (Noise2Atom maps its input to [0, 1] with the training stack's min-max, as its output).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage

__all__ = ["CollapseWarning", "STRUCTURE_THRESHOLD", "SMOOTHING_SIGMA", "structure_ratios", "check_collapse",
           "collapse_message"]

#: Below this share of the smoothed input's structure (``structure``) the output counts as collapsed.
STRUCTURE_THRESHOLD = 0.2
#: Gaussian smoothing of the input, px (noise down by ~7x for white noise, atom-scale structure kept).
SMOOTHING_SIGMA = 2.0


class CollapseWarning(UserWarning):
    """The trained denoiser returns an (almost) flat image: not a denoised result."""


def _frames(array, name):
    array = np.asarray(array, dtype=np.float64)
    if array.ndim == 2:
        array = array[None, ..., None]
    elif array.ndim == 3:
        array = array[..., None]  # [N, H, W]
    if array.ndim != 4:
        raise ValueError(f"{name} must be [H, W], [N, H, W] or [N, H, W, C]; received shape {array.shape}.")
    return array


def structure_ratios(inputs, outputs, *, sigma: float = SMOOTHING_SIGMA) -> dict:
    """The input's structure as it survives in the output.

    Parameters
    ----------
    inputs, outputs : array_like, same shape
        ``[H, W]``, ``[N, H, W]`` or ``[N, H, W, C]``, the same intensity units (any real dtype).
    sigma : float
        Gaussian smoothing of the input, px.

    Returns
    -------
    dict of float, each the median over frames and channels
        ``contrast``: the output's spatial standard deviation / the smoothed input's (dimensionless);
        ``correlation``: Pearson correlation of output and smoothed input (-1 to 1);
        ``structure``: ``|correlation| x min(contrast, 1)``: how much of the input's structure the output
        carries (0 for a flat output and for one unrelated to the input, 1 at most).
    """
    inputs, outputs = _frames(inputs, "inputs"), _frames(outputs, "outputs")
    if inputs.shape != outputs.shape:
        raise ValueError(f"inputs {inputs.shape} and outputs {outputs.shape} must have the same shape.")
    contrast, correlation, structure = [], [], []
    for i in range(inputs.shape[0]):
        for c in range(inputs.shape[-1]):
            smooth = ndimage.gaussian_filter(inputs[i, ..., c], sigma, mode="reflect")
            out = outputs[i, ..., c]
            ratio = out.std() / max(smooth.std(), 1e-12)
            corr = 0.0 if out.std() == 0 or smooth.std() == 0 else float(np.corrcoef(smooth.ravel(), out.ravel())[0, 1])
            contrast.append(ratio)
            correlation.append(corr)
            # Capped: contrast beyond the input's does not make up for a missing correlation (a barely
            # trained Noise2Atom returns noise of 10x the contrast, correlation 0.01).
            structure.append(abs(corr) * min(ratio, 1.0))
    return {"contrast": float(np.median(contrast)), "correlation": float(np.median(correlation)),
            "structure": float(np.median(structure))}


def collapse_message(method: str, ratios: dict, *, advice: str = "") -> str:
    """The plain-words verdict on a collapsed run (the warning, the CLI line and the example reports use it)."""
    return (f"{method}: TRAINING FAILED - the output has lost the input's structure (collapsed): it carries "
            f"{ratios['structure']:.0%} of the smoothed input's structure (contrast {ratios['contrast']:.0%}, "
            f"correlation {ratios['correlation']:.2f}; noise-free images carry 60-80%, below "
            f"{STRUCTURE_THRESHOLD:.0%} counts as collapsed): an almost flat image, or one unrelated to the "
            f"input. Do not use this model. What to do: train longer (more steps or a larger --max-minutes) and "
            f"check that the loss in history.json went down"
            f"{'; ' + advice if advice else ''}.")


def check_collapse(inputs, outputs, *, method: str, sigma: float = SMOOTHING_SIGMA, advice: str = "") -> dict:
    """Flag, and warn about, a denoiser output that carries far less structure than its smoothed input.

    Parameters
    ----------
    inputs, outputs : array_like
        As :func:`structure_ratios`: a few input frames and the trained model's output for them, same units.
    method : str
        Named in the message.
    sigma : float
        As :func:`structure_ratios`.
    advice : str
        Method-specific advice appended to the message.

    Returns
    -------
    dict
        ``collapsed`` (bool: ``structure`` below :data:`STRUCTURE_THRESHOLD`), ``contrast``,
        ``correlation``, ``structure`` (floats, :func:`structure_ratios`) and, when collapsed, ``message``.

    Warns
    -----
    CollapseWarning
        When collapsed, with :func:`collapse_message`.
    """
    ratios = structure_ratios(inputs, outputs, sigma=sigma)
    collapsed = ratios["structure"] < STRUCTURE_THRESHOLD
    verdict = {"collapsed": bool(collapsed), **ratios}
    if collapsed:
        verdict["message"] = collapse_message(method, ratios, advice=advice)
        warnings.warn(verdict["message"], CollapseWarning, stacklevel=2)
    return verdict
