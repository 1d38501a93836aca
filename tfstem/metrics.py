"""Image-quality metrics used by the three papers.

PSNR, SSIM and N-RMSE wrap scikit-image (``skimage.metrics``) so that figures are comparable with
other tools; SNR is the dual-channel N2V paper's peak-over-background ratio; CSS is Noise2Atom's
consecutive structural similarity (Wang et al. 2020, Eq. 10).

All functions take NumPy arrays (any real dtype; converted to float64) and return Python floats
unless stated otherwise. Nothing here modifies its inputs.
"""

from __future__ import annotations

import numpy as np
from skimage import metrics as _skm

__all__ = ["psnr", "ssim", "nrmse", "snr", "css", "css_pairs"]


def _as_float_pair(reference, test):
    reference = np.asarray(reference, dtype=np.float64)
    test = np.asarray(test, dtype=np.float64)
    if reference.shape != test.shape:
        raise ValueError(
            f"reference and test must have the same shape; received {reference.shape} and {test.shape}."
        )
    if reference.size == 0:
        raise ValueError("reference and test are empty; pass images with at least one pixel.")
    return reference, test


def _data_range(reference, data_range):
    if data_range is not None:
        return float(data_range)
    value = float(reference.max() - reference.min())
    if value == 0.0:
        raise ValueError("the reference image is constant; pass data_range explicitly.")
    return value


def psnr(reference, test, *, data_range=None) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range^2 / MSE)``.

    Parameters
    ----------
    reference, test : array_like, same shape
        Ground truth and estimate, any real dtype, in the same intensity units.
    data_range : float, optional
        Peak-to-peak range of the signal; defaults to ``reference.max() - reference.min()``
        (the r_em paper's MAX, Eq. 1 of its ablation section).

    Returns
    -------
    float
        PSNR in dB (``inf`` for identical images).
    """
    reference, test = _as_float_pair(reference, test)
    return float(_skm.peak_signal_noise_ratio(reference, test, data_range=_data_range(reference, data_range)))


def ssim(reference, test, *, data_range=None, channel_axis=None) -> float:
    """Structural similarity (Wang et al. 2004) as computed by ``skimage.metrics.structural_similarity``.

    Parameters
    ----------
    reference, test : array_like, same shape, 2-D (or 3-D with ``channel_axis``)
    data_range : float, optional
        Defaults to the reference's peak-to-peak range.
    channel_axis : int, optional
        Axis of channels, averaged over.
    """
    reference, test = _as_float_pair(reference, test)
    return float(
        _skm.structural_similarity(
            reference, test, data_range=_data_range(reference, data_range), channel_axis=channel_axis
        )
    )


def nrmse(reference, test, *, normalization="euclidean") -> float:
    """Normalised root-mean-square error of ``test`` against ``reference``.

    Parameters
    ----------
    reference, test : array_like, same shape
        Any real dtype, the same intensity units.
    normalization : {"euclidean", "paper", "min-max", "mean"}
        The denominator of ``RMSE = sqrt(1/N sum_n (I_n - T_n)^2)`` (``I`` the reference, ``T`` the test,
        ``N`` pixels):

        * ``"paper"``: the dual-channel N2V paper's N-RMSE (Thornley et al. 2025, Methods, "Noise metrics"),
          ``RMSE / (I_max - I_min)`` with ``I_min``, ``I_max`` the reference's minimum and maximum;
        * ``"min-max"``: the same (scikit-image's name);
        * ``"mean"``: ``RMSE / mu_I``, the reference's mean;
        * ``"euclidean"`` (default, scikit-image's): ``RMSE / sqrt(1/N sum_n I_n^2)``.

    Returns
    -------
    float, dimensionless (0 for identical images).

    Notes
    -----
    The paper's equation did not survive in the text we have; its legend defines ``I_min``, ``I_max`` (the
    minimum and maximum intensities in the image) and ``mu_I`` (the mean), and the paper says it used
    scikit-image's metrics module, whose ``normalized_root_mse`` divides by ``I_max - I_min`` or ``mu_I`` (or
    the Euclidean norm). ``"paper"`` takes the range: the paper's PSNR divides by the same data range ``R``,
    so on its tables N-RMSE and PSNR describe one error on one scale (``N-RMSE = 10^(-PSNR / 20)`` when
    ``R`` is the reference's range), and the mean of a frame that sits on a pedestal (BF) says nothing about
    the contrast the error competes with.
    """
    reference, test = _as_float_pair(reference, test)
    if normalization == "paper":
        normalization = "min-max"
    if normalization not in ("euclidean", "min-max", "mean"):
        raise ValueError(f"normalization must be 'paper', 'euclidean', 'min-max' or 'mean'; received "
                         f"normalization={normalization!r}.")
    return float(_skm.normalized_root_mse(reference, test, normalization=normalization))


def snr(image, background_mask, *, peak=None) -> float:
    """The dual-channel N2V paper's signal-to-noise ratio of a feature over background.

    ``SNR = (peak - mean(background)) / std(background)``: the peak intensity above the mean
    background, divided by the RMS fluctuation of the background.

    Parameters
    ----------
    image : array_like, 2-D
        One channel of one frame, any real dtype.
    background_mask : array_like of bool, same shape as ``image``
        True where the pixel is background (no adatom, no feature).
    peak : float, optional
        Intensity of the feature; defaults to the maximum of ``image`` outside the background.
    """
    image = np.asarray(image, dtype=np.float64)
    mask = np.asarray(background_mask, dtype=bool)
    if mask.shape != image.shape:
        raise ValueError(f"background_mask must have the image's shape {image.shape}; received {mask.shape}.")
    if mask.sum() < 2:
        raise ValueError("background_mask selects fewer than 2 pixels; mark a background region.")
    if peak is None:
        if mask.all():
            raise ValueError("background_mask covers the whole image; pass peak or leave a feature unmasked.")
        peak = float(image[~mask].max())
    background = image[mask]
    noise = float(background.std())
    if noise == 0.0:
        return float("inf")
    return float((peak - background.mean()) / noise)


CSS_C1 = 1e-4  # Wang et al. 2020, Eq. 10
CSS_C2 = 9e-4  # Wang et al. 2020, Eq. 10


def _scale_series_to_unit(series):
    series = np.asarray(series, dtype=np.float64)
    if series.ndim == 4 and series.shape[-1] == 1:
        series = series[..., 0]
    if series.ndim != 3:
        raise ValueError(f"series must be [N, H, W] (or [N, H, W, 1]); received shape {series.shape}.")
    if series.shape[0] < 2:
        raise ValueError(f"CSS needs at least 2 frames; received {series.shape[0]}.")
    if not np.all(np.isfinite(series)):
        raise ValueError("series contains NaN or inf; clean or crop it before computing CSS.")
    lo, hi = series.min(), series.max()
    if hi == lo:
        return np.zeros_like(series)
    return (series - lo) / (hi - lo)


def css_pairs(series, *, scale=True) -> np.ndarray:
    """Consecutive structural similarity of every pair of neighbouring frames (Wang et al. 2020, Eq. 10).

    ``CSS(I_n, I_n+1) = (2 mu_n mu_n+1 + C1)(2 sigma_n,n+1 + C2) /
    ((mu_n^2 + mu_n+1^2 + C1)(sigma_n^2 + sigma_n+1^2 + C2))`` with global (whole-frame) means,
    variances and covariance, C1 = 1e-4, C2 = 9e-4.

    Parameters
    ----------
    series : array_like, ``[N, H, W]`` or ``[N, H, W, 1]``, N >= 2
        A time series of frames, any real dtype.
    scale : bool
        Scale the whole series jointly to [0, 1] first (the constants assume that range).

    Returns
    -------
    numpy.ndarray, float64, shape ``[N - 1]``
        CSS of frames (0, 1), (1, 2), ...
    """
    frames = _scale_series_to_unit(series) if scale else np.asarray(series, dtype=np.float64)
    a = frames[:-1].reshape(frames.shape[0] - 1, -1)
    b = frames[1:].reshape(frames.shape[0] - 1, -1)
    mu_a, mu_b = a.mean(axis=1), b.mean(axis=1)
    var_a, var_b = a.var(axis=1), b.var(axis=1)
    cov = ((a - mu_a[:, None]) * (b - mu_b[:, None])).mean(axis=1)
    luminance = (2 * mu_a * mu_b + CSS_C1) / (mu_a**2 + mu_b**2 + CSS_C1)
    structure = (2 * cov + CSS_C2) / (var_a + var_b + CSS_C2)
    return luminance * structure


def css(series, *, scale=True) -> float:
    """Mean consecutive structural similarity of a series (Wang et al. 2020, Eq. 10); see :func:`css_pairs`."""
    return float(css_pairs(series, scale=scale).mean())
