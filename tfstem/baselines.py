"""Classical denoisers the papers compare against: Gaussian blur, total variation (Chambolle), BM3D.

Each takes an image ``[H, W]``, ``[H, W, C]`` or a stack ``[N, H, W(, C)]`` of any real dtype and
returns ``float32`` of the same shape; multichannel input is filtered channel by channel (the dual
channel N2V paper filters ADF and BF independently with their own weights).

The paper's settings (Thornley et al. 2025, Methods, "Denoising") are available by name:
``tv(frames, "paper")`` and ``bm3d(frames, "paper")`` for ``[..., 2]`` ADF + BF input, on the paper's
intensity scale (see :func:`tv`, "Intensity scale"), with the numbers in :data:`TV_WEIGHT_PAPER`
and :data:`BM3D_SIGMA_PAPER`.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.restoration import denoise_tv_chambolle

__all__ = ["gaussian", "tv", "bm3d", "paper_data_range", "TV_WEIGHT_PAPER", "BM3D_SIGMA_PAPER",
           "PAPER_CHANNELS"]

#: Channel order of the dual-channel N2V paper's frames (and of ``"paper"`` settings below).
PAPER_CHANNELS = ("ADF", "BF")
#: The N2V paper's TV parameter 1/lambda (Methods, "Denoising": 1.0 ADF, 0.75 BF, best of 0.1-2.0).
TV_WEIGHT_PAPER = {"ADF": 1.0, "BF": 0.75}
#: The N2V paper's BM3D sigma_psd (Methods, "Denoising": 0.8 ADF, 0.4 BF, best of 0.4-1.2).
BM3D_SIGMA_PAPER = {"ADF": 0.8, "BF": 0.4}
#: Gaussian smoothing (px) and percentiles of :func:`paper_data_range`'s estimate of the noise-free range.
RANGE_SMOOTHING_PX = 1.0
RANGE_PERCENTILES = (0.1, 99.9)


def _work_array(image, *, stack):
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
    return array, work, has_channels


def _per_frame_params(value, shape, name):
    """Broadcast a scalar, a per-channel ``[C]`` or a per-frame-and-channel ``[N, C]`` value to ``[N, C]``."""
    try:
        return np.broadcast_to(np.asarray(value, dtype=np.float64), shape)
    except ValueError:
        raise ValueError(f"{name} must be one value, one per channel [C] or one per frame and channel [N, C] "
                         f"with N, C = {shape}; received shape {np.shape(value)}.") from None


def _per_channel(image, channel_params, fn, *, stack, extra=None):
    """Apply ``fn(frame2d, param[, extra])`` to each 2-D frame and channel.

    ``channel_params`` and ``extra`` are a scalar, one value per channel ``[C]`` or ``[N, C]``.
    """
    array, work, has_channels = _work_array(image, stack=stack)
    shape = (work.shape[0], work.shape[-1])
    params = _per_frame_params(channel_params, shape, "the filter parameter")
    extras = None if extra is None else _per_frame_params(extra, shape, "data_range")
    out = np.empty_like(work)
    for i in range(work.shape[0]):
        for c in range(work.shape[-1]):
            args = (params[i, c],) if extras is None else (params[i, c], extras[i, c])
            out[i, ..., c] = fn(work[i, ..., c], *args)
    if not has_channels:
        out = out[..., 0]
    return out.reshape(array.shape)


def _paper_values(table, image, *, stack, what):
    _, work, has_channels = _work_array(image, stack=stack)
    if not has_channels or work.shape[-1] != len(PAPER_CHANNELS):
        raise ValueError(f"{what}='paper' needs [..., 2] frames with channels {PAPER_CHANNELS}; received shape "
                         f"{np.shape(image)}. For one channel pass its value, e.g. {what}={table['ADF']} (ADF) or "
                         f"{table['BF']} (BF).")
    return [table[name] for name in PAPER_CHANNELS]


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


def paper_data_range(image, *, stack=False):
    """Estimate each frame's noise-free intensity range from the noisy frame (no reference needed).

    The span between the 0.1st and 99.9th percentiles of the frame smoothed by a 1 px Gaussian. Measured on
    the shipped N2V video (10 dB input PSNR; ``benchmarks/n2v_quality.py --check-range``): 1.01x (ADF) and
    1.06x (BF) the noise-free frames' range. At other noise levels the estimate drifts (more noise: larger);
    pass the true range to :func:`tv` / :func:`bm3d` when it is known (simulations).

    Parameters
    ----------
    image : array_like
        As :func:`gaussian`.

    Returns
    -------
    numpy.ndarray, float64 ``[N, C]`` (N = 1 for a single image, C = 1 without channels), intensity units
    of ``image``.
    """
    _, work, _ = _work_array(image, stack=stack)
    ranges = np.empty((work.shape[0], work.shape[-1]))
    for i in range(work.shape[0]):
        for c in range(work.shape[-1]):
            smooth = ndimage.gaussian_filter(work[i, ..., c], RANGE_SMOOTHING_PX, mode="reflect")
            lo, hi = np.percentile(smooth, RANGE_PERCENTILES)
            ranges[i, c] = hi - lo
    return ranges


def _resolve_range(image, data_range, *, stack):
    return paper_data_range(image, stack=stack) if data_range is None else data_range


def tv(image, weight=1.0, *, data_range=None, stack=False):
    """Total-variation denoising (Chambolle 2004) by ``skimage.restoration.denoise_tv_chambolle``.

    Parameters
    ----------
    image : array_like
        As :func:`gaussian`; intensities in any units.
    weight : float, sequence of float or ``"paper"``
        The TV parameter 1/lambda of the Rudin-Osher-Fatemi problem on the paper's intensity scale (one
        value, one per channel, or per frame and channel ``[N, C]``). ``"paper"``: the N2V paper's 1.0 (ADF)
        and 0.75 (BF) for ``[..., 2]`` ADF + BF input (:data:`TV_WEIGHT_PAPER`).
    data_range : float, array_like or None
        The noise-free intensity range that the paper's scale maps to 1, in the units of ``image`` (one
        value, per channel ``[C]`` or per frame and channel ``[N, C]``); None estimates it per frame with
        :func:`paper_data_range`. For simulations pass the noise-free frames' ``max - min``: the ``R`` of
        the PSNR.
    stack : bool
        As :func:`gaussian`.

    Returns
    -------
    numpy.ndarray, float32, same shape and units as ``image``

    Notes
    -----
    **From the paper's 1/lambda to scikit-image's weight.** scikit-image solves the ROF problem
    ``min_u sum_i |grad u_i| + (lambda / 2) (f_i - u_i)^2`` with ``weight = 1 / lambda``, the parameter the
    paper names (scikit-image 0.20, which the paper used). The problem is shift-free (the frame's minimum is
    taken off and added back) but not scale-free: for a frame
    ``f = s f'`` (``f'`` on the paper's scale, ``s`` the scale factor) put ``u = s u'``; then
    ``sum |grad u| + (lambda / 2) sum (f - u)^2 = s [sum |grad u'| + (s lambda / 2) sum (f' - u')^2]``, so the
    paper's ``1/lambda`` on ``f'`` is ``weight = s / lambda`` on ``f``. This function divides each frame by
    ``s = data_range``, applies scikit-image's weight ``1/lambda`` and multiplies back (the same minimiser).

    **Intensity scale (a choice: the paper does not print it).** The paper computed PSNR with scikit-image
    (Methods, "Noise metrics": ``PSNR = 10 log10(R^2 / MSE)``), whose default for float images is ``R = 1``
    (values in [0, 1]; it refuses values outside [-1, 1] without an explicit range), and it set the input
    PSNR of its simulations (7-20 dB) by adding Gaussian noise: its noise-free simulations span about
    ``R = 1``. The BM3D values agree: at 7 dB (ADF) / 6 dB (BF) the noise std on that scale is 0.45 / 0.50,
    inside the 0.4-1.2 the paper searched, and the best BF sigma 0.4 is near it. So ``data_range`` is the
    noise-free range. The former reading (the noisy frame min-max mapped to [0, 1], ``tv(..., data_range=
    frame.ptp())``) makes the weight 2.9x (ADF) / 3.1x (BF) stronger on the shipped 10 dB video and flattens
    the BF channel (SSIM 0.042 against 0.509 raw; ``benchmarks/n2v_quality.py``).

    References
    ----------
    Chambolle, J. Math. Imaging Vis. 20, 89-97 (2004); Thornley et al., npj Comput. Mater. (2025), Methods.
    """
    if isinstance(weight, str):
        if weight != "paper":
            raise ValueError(f"weight must be a number or 'paper'; received weight={weight!r}.")
        weight = _paper_values(TV_WEIGHT_PAPER, image, stack=stack, what="weight")

    def _tv(frame, w, scale):
        if scale <= 0:
            return frame
        lo = float(frame.min())
        return denoise_tv_chambolle((frame - lo) / scale, weight=w) * scale + lo

    return _per_channel(image, weight, _tv, stack=stack, extra=_resolve_range(image, data_range, stack=stack))


def bm3d(image, sigma_psd=None, *, data_range=None, sigma_scale=1.0, stack=False):
    """BM3D (Dabov et al. 2007; Mäkinen et al. 2020) via the optional ``bm3d`` package.

    Parameters
    ----------
    image : array_like
        As :func:`gaussian`.
    sigma_psd : float, sequence of float, ``"paper"`` or None
        Noise standard deviation on the paper's intensity scale (``image / data_range``; see :func:`tv`,
        "Intensity scale"): one value, one per channel or ``[N, C]``. ``"paper"``: 0.8 (ADF) and 0.4 (BF)
        for ``[..., 2]`` ADF + BF input (:data:`BM3D_SIGMA_PAPER`; the paper's best of 0.4-1.2 "for the
        scaling of our simulations"). None: estimated per frame by ``skimage.restoration.estimate_sigma``
        times ``sigma_scale`` (the estimate assumes white Gaussian noise and is low for Poisson-dominated
        STEM frames).
    data_range : float, array_like or None
        As :func:`tv`.
    sigma_scale : float
        Factor on the estimated sigma (``sigma_psd=None`` only).
    stack : bool
        As :func:`gaussian`.

    Returns
    -------
    numpy.ndarray, float32, same shape and units as ``image``

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

    if isinstance(sigma_psd, str):
        if sigma_psd != "paper":
            raise ValueError(f"sigma_psd must be a number, 'paper' or None; received sigma_psd={sigma_psd!r}.")
        sigma_psd = _paper_values(BM3D_SIGMA_PAPER, image, stack=stack, what="sigma_psd")

    def _one(frame, sigma, scale):
        if scale <= 0:
            return frame
        lo = float(frame.min())  # the paper's simulations start at 0 on their scale
        unit = (frame - lo) / scale
        s = sigma_scale * float(estimate_sigma(unit)) if np.isnan(sigma) else sigma
        return np.asarray(_bm3d.bm3d(unit, sigma_psd=max(s, 1e-6)), dtype=np.float32) * scale + lo

    return _per_channel(image, np.nan if sigma_psd is None else sigma_psd, _one, stack=stack,
                        extra=_resolve_range(image, data_range, stack=stack))
