"""S(T)EM noise model of the r_em paper (Lobato et al. 2023, section "S(T)EM noise model", Eq. 41-55).

Pure TensorFlow ops of an NHWC float32 batch, per-image parameters (scalar or ``[N]``) and a stateless ``seed``
of shape ``[2]``; XLA-compilable, no NumPy or Python RNG in the traced path. Black pixels (Eq. 52), zingers
(Eq. 53), clipping (Eq. 54) and quantisation (Eq. 55) are the same operations as for TEM and are re-exported
from :mod:`tfstem.synth.noise_tem`.

The fast-scan direction is the image's x axis (columns); rows are scanned top to bottom.
"""

from __future__ import annotations

import math

import tensorflow as tf

from tfstem.synth import _resample
from tfstem.synth.noise_tem import black_pixels, quantize, upper_clip, zingers
from tfstem.synth.random import per_image, poisson, split_seed

__all__ = [
    "ar1_series",
    "raster_ar1_series",
    "scan_jitter",
    "pmt_pulse_spread",
    "pmt_noise",
    "detector_psf",
    "readout_psf",
    "readout_normalization",
    "fast_scan_kernel",
    "fast_scan_blur",
    "row_lines",
    "black_pixels",
    "zingers",
    "upper_clip",
    "quantize",
]


def _per_batch(value, batch_size, rank: int) -> tf.Tensor:
    """A scalar or ``[N]`` parameter as float32 ``[N, 1, ..., 1]`` with ``rank`` dimensions."""
    value = tf.broadcast_to(tf.reshape(tf.cast(value, tf.float32), [-1]), tf.reshape(batch_size, [1]))
    return tf.reshape(value, [-1] + [1] * (rank - 1))


def _ar1_filter(a, phi) -> tf.Tensor:
    """``D_k = phi D_{k-1} + a_k`` along the last axis from ``D_0 = a_0``, as a product with the lower-triangular
    ``phi^(k-j)`` matrix (static shapes, no sequential loop).

    Parameters
    ----------
    a : tf.Tensor, float32, [N, ..., L]
        Innovations (the first already scaled to the stationary spread by the caller).
    phi : tf.Tensor, float32, [N, 1, 1] (one coefficient per series batch, broadcast over the leading axes)

    Returns
    -------
    tf.Tensor, float32, same shape as ``a``.
    """
    length = a.shape[-1]
    k = tf.range(length, dtype=tf.float32)
    lag = k[:, None] - k[None, :]  # [L, L]
    lower = tf.cast(lag >= 0.0, tf.float32)[None]
    powers = tf.pow(phi, tf.maximum(lag, 0.0)[None]) * lower  # phi^(k-j), 0^0 = 1
    if a.shape.rank == 2:
        return tf.linalg.matvec(powers, a)
    return tf.einsum("nkj,nrj->nrk", powers, a)


def ar1_series(batch_size, length: int, sigma, phi, seed) -> tf.Tensor:
    """Stationary AR(1) displacement series of Eq. 41.

    ``D_1 = a_1 / sqrt(1 - phi^2)``, ``D_k = phi D_{k-1} + a_k`` with ``a_k ~ N(0, sigma)``: every term has standard
    deviation ``sigma / sqrt(1 - phi^2)`` and the lag-1 autocorrelation is ``phi``. Computed as a matrix product
    with the lower-triangular ``phi^(k-j)`` matrix (static shapes, no sequential loop).

    Parameters
    ----------
    batch_size : int
    length : int
        Number of terms (static).
    sigma : float or tf.Tensor [N]
        Innovation standard deviation (pixels).
    phi : float or tf.Tensor [N]
        Correlation coefficient in [0, 1).
    seed : tensor [2]

    Returns
    -------
    tf.Tensor, float32, [N, length]
        Displacements in pixels.
    """
    sigma = _per_batch(sigma, batch_size, 2)
    phi = _per_batch(phi, batch_size, 3)
    a = sigma * tf.random.stateless_normal(tf.stack([batch_size, length]), split_seed(seed, 0))
    first = a[:, :1] / tf.sqrt(tf.maximum(1.0 - tf.square(phi[:, 0]), 1e-6))
    return _ar1_filter(tf.concat([first, a[:, 1:]], axis=1), phi)


def _ar1_filter_blocked(a, phi, block: int = 32) -> tf.Tensor:
    """:func:`_ar1_filter` of a long series ``[N, L]`` in ``O(N L block)`` instead of ``O(N L^2)``: each block of
    ``block`` terms is filtered from a zero start, the values at the block ends follow an AR(1) with coefficient
    ``phi^block`` (filtered the same way, recursively), and term ``j`` of a block adds ``phi^(j + 1)`` times the
    previous block's end value. Exact up to float rounding."""
    length = a.shape[-1]
    if length <= 2 * block:
        return _ar1_filter(a, phi)
    blocks = -(-length // block)
    padded = tf.pad(a, [[0, 0], [0, blocks * block - length]])  # zero innovations after the end change nothing
    z = _ar1_filter(tf.reshape(padded, tf.stack([tf.shape(a)[0], blocks, block])), phi)  # [N, B, block]
    ends = _ar1_filter_blocked(z[:, :, -1], tf.pow(phi, float(block)), block)  # [N, B]
    carried = tf.concat([tf.zeros_like(ends[:, :1]), ends[:, :-1]], axis=1)
    decay = tf.pow(phi, tf.range(1, block + 1, dtype=tf.float32)[None, None, :])  # [N, 1, block]
    full = z + carried[:, :, None] * decay
    return tf.reshape(full, tf.stack([tf.shape(a)[0], blocks * block]))[:, :length]


def raster_ar1_series(batch_size, height: int, width: int, sigma, phi, seed) -> tf.Tensor:
    """Stationary AR(1) series of Eq. 41 over the pixels in scan (time) order, ``k = row * width + column``.

    The same process as :func:`ar1_series` of length ``height * width``, reshaped to the image: consecutive pixels
    of a line are correlated by ``phi`` and the series runs on from the end of one line to the start of the next
    (the fly-back time is not modelled). Computed in blocks of 32 terms (:func:`_ar1_filter_blocked`), not with one
    ``(H W) x (H W)`` matrix.

    Parameters
    ----------
    batch_size : int
    height, width : int
        Image size in pixels (static).
    sigma : float or tf.Tensor [N]
        Innovation standard deviation (pixels).
    phi : float or tf.Tensor [N]
        Correlation coefficient in [0, 1).
    seed : tensor [2]

    Returns
    -------
    tf.Tensor, float32, [N, height, width]
        Displacements in pixels; ``out.reshape(N, -1)`` is the series in scan order.
    """
    length = int(height) * int(width)
    sigma = _per_batch(sigma, batch_size, 2)
    phi = _per_batch(phi, batch_size, 3)
    a = sigma * tf.random.stateless_normal(tf.stack([batch_size, length]), split_seed(seed, 0))
    first = a[:, :1] / tf.sqrt(tf.maximum(1.0 - tf.square(phi[:, 0]), 1e-6))  # k = 1 of Eq. 41: stationary start
    series = _ar1_filter_blocked(tf.concat([first, a[:, 1:]], axis=1), phi)
    return tf.reshape(series, tf.stack([batch_size, height, width]))


def scan_jitter(x, sigma_x, phi_x, sigma_y, phi_y, seed) -> tf.Tensor:
    """X/Y scan jitter ``x <- SJ(y)`` (Eq. 41-42), resampled with bicubic (Keys, a = -0.5) interpolation.

    Eq. 41 indexes each displacement series by "the pixel index along a given t direction". X-jitter (random pixel
    shifts along the fast-scan axis) is a series over every pixel in scan (time) order (:func:`raster_ar1_series`):
    the pixel at ``(row, column)`` is read from column ``column + Dx[row, column]``. Y-jitter (stretching, squishing
    or interchanging lines along the slow-scan axis) is a series over the lines: line ``row`` is read from row
    position ``row + Dy[row]``. The two directions are independent ("different time scales"). Pixels outside the
    image are clamped to the border, which is why the pipelines simulate an extended field of view and crop
    afterwards (the paper's extended box). Set a sigma to 0 to switch that direction off.

    Parameters
    ----------
    x : tf.Tensor, float32, [N, H, W, C]
        H and W static (the sizes of the AR(1) matrices).
    sigma_x, sigma_y : float or tf.Tensor [N]
        Innovation standard deviations in pixels (the paper draws [0.0025, 0.8] Angstrom; divide by the pixel size).
    phi_x, phi_y : float or tf.Tensor [N]
        Correlation coefficients in [0, 1) (paper: [0, 0.7]).
    seed : tensor [2]

    Returns
    -------
    tf.Tensor, float32, [N, H, W, C]
    """
    x = tf.convert_to_tensor(x, tf.float32)
    n, h, w = tf.shape(x)[0], x.shape[1], x.shape[2]
    if h is None or w is None:
        raise ValueError(f"scan_jitter needs a static image height and width (the AR(1) matrix sizes); received "
                         f"shape {x.shape}.")
    dy = ar1_series(n, h, sigma_y, phi_y, split_seed(seed, 1))
    dx = raster_ar1_series(n, h, w, sigma_x, phi_x, split_seed(seed, 2))
    rows = tf.cast(tf.range(h), tf.float32)[None] + dy
    x = _resample.cubic_rows(x, rows)
    return _resample.cubic_shift_rows(x, dx)


def pmt_pulse_spread(photons, quantum_efficiency, stage_gain, photon_variance, gain=1.0) -> tf.Tensor:
    """Standard deviation of the anode pulse per incident electron (Eq. 44), in anode units.

    ``sigma = m_c eta G sqrt((1 - eta + 1 / (delta - 1)) / (m_c eta) + delta_c^2 / m_c^2)``; Eq. 43's FWHM is
    ``2 sqrt(2 ln 2)`` times this. The mean pulse is ``m_c eta G``.

    Parameters
    ----------
    photons : float or tf.Tensor
        m_c, photons collected at the photocathode per incident electron (paper: "around 100").
    quantum_efficiency : float or tf.Tensor
        eta, detective quantum efficiency of the photocathode, in (0, 1].
    stage_gain : float or tf.Tensor
        delta, secondary-emission gain of each dynode stage, > 1.
    photon_variance : float or tf.Tensor
        delta_c^2, variance of m_c (``m_c`` for a Poisson photon yield).
    gain : float or tf.Tensor
        G, the PMT gain (anode charge per photoelectron).

    Returns
    -------
    tf.Tensor, float32, the broadcast shape of the parameters.
    """
    m, eta, delta, var, g = (tf.cast(v, tf.float32) for v in (photons, quantum_efficiency, stage_gain,
                                                              photon_variance, gain))
    return m * eta * g * tf.sqrt((1.0 - eta + 1.0 / (delta - 1.0)) / (m * eta) + var / (m * m))


def pmt_noise(x, dose, seed, *, photons=100.0, quantum_efficiency=0.2, stage_gain=4.0, photon_variance=100.0) \
        -> tf.Tensor:
    """Scintillator/photomultiplier detector noise: ``x <- P(alpha x)`` (Eq. 45), ``x <- (x + N(0, sigma)) / alpha``
    (Eq. 46) with sigma from Eq. 43-44.

    Eq. 44 is the spread of the anode pulse of one incident electron, whose mean is ``m_c eta G``. In electron units
    (the units of the Poisson count of Eq. 45, to which Eq. 46 adds it) one electron's pulse has the relative spread
    ``r = sigma_44 / (m_c eta G)`` (G cancels), and a pixel that receives on average ``lambda = alpha x``
    electrons gets ``sigma = r sqrt(lambda)``: the sum of lambda independent pulses. The mean count is used, not the
    drawn one, so that sigma is a fixed map as in Eq. 46 ``N(0, sigma)``; either way the output variance is
    ``lambda (1 + r^2)``.

    Parameters
    ----------
    x : tf.Tensor, float32, [N, H, W, C]
        Non-negative expected signal.
    dose : float or tf.Tensor [N]
        Dose scale factor alpha (electrons per unit of ``x``).
    seed : tensor [2]
    photons, quantum_efficiency, stage_gain, photon_variance : float or tf.Tensor [N]
        m_c, eta, delta and delta_c^2 of Eq. 43-44 (see :func:`pmt_pulse_spread`).

    Returns
    -------
    tf.Tensor, float32, [N, H, W, C]
        On the scale of ``x``: mean ``x``, variance ``x (1 + r^2) / alpha``.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    n = tf.shape(x)[0]
    alpha = per_image(dose, n)
    params = [per_image(v, n) for v in (photons, quantum_efficiency, stage_gain, photon_variance)]
    relative = pmt_pulse_spread(*params) / (params[0] * params[1])  # sigma_44 / (m_c eta G), G = 1
    mean_counts = alpha * tf.maximum(x, 0.0)
    counts = poisson(mean_counts, split_seed(seed, 0))
    gauss = relative * tf.sqrt(mean_counts) * tf.random.stateless_normal(tf.shape(x), split_seed(seed, 1))
    return (counts + gauss) / alpha


def detector_psf(s, alpha) -> tf.Tensor:
    """One-sided Lorentzian detector PSF of Eq. 48, ``alpha / (4 pi^2 s^2 + alpha^2)`` for lag ``s >= 0`` pixels.

    The paper writes it for ``x <= 0``; here ``s = -x`` is the lag behind the beam position (see
    :func:`fast_scan_kernel`). Not normalised.
    """
    return alpha / (4.0 * math.pi**2 * s * s + alpha * alpha)


def readout_normalization(beta, gamma, theta) -> tf.Tensor:
    """Eq. 50 as used here: ``a = (gamma^2 + 4 pi^2 beta^2) / (beta gamma (gamma sin(theta) + 2 pi beta cos(theta)))``.

    This makes ``int_0^inf a exp(-s / beta) sin(2 pi s / gamma + theta) ds = 1``. The printed Eq. 50 has 4 pi and
    16 pi^2 and reads as the integral itself rather than its inverse; this is the exact normaliser of the readout PSF
    as written in :func:`readout_psf` (the test integrates it numerically).
    """
    return (gamma**2 + 4.0 * math.pi**2 * beta**2) / (
        beta * gamma * (gamma * tf.sin(theta) + 2.0 * math.pi * beta * tf.cos(theta)))


def readout_psf(s, beta, gamma, theta) -> tf.Tensor:
    """Damped-oscillator read-out PSF of Eq. 49 for lag ``s >= 0`` pixels, normalised to unit integral by Eq. 50.

    ``a exp(-s / beta) sin(2 pi s / gamma + theta)``; the paper's ``x <= 0`` with ``exp(-x / beta)`` only decays
    when read as ``exp(-|x| / beta)``, which is what is implemented.
    """
    return readout_normalization(beta, gamma, theta) * tf.exp(-s / beta) * tf.sin(2.0 * math.pi * s / gamma + theta)


def fast_scan_kernel(alpha, beta, gamma, theta, length: int = 64) -> tf.Tensor:
    """Discrete fast-scan PSF ``psf_detector (*) psf_readout`` (Eq. 47-50), causal, normalised to sum 1.

    Parameters
    ----------
    alpha : float or tf.Tensor [N]
        Lorentzian width of the detector PSF (pixels).
    beta, gamma, theta : float or tf.Tensor [N]
        Damping length (pixels), oscillation period (pixels) and phase (rad) of the read-out PSF.
    length : int
        Number of taps (static), lags 0 .. length-1.

    Returns
    -------
    tf.Tensor, float32, [N, length]
        ``kernel[n, s]`` weights the signal ``s`` pixels before the current beam position.
    """
    s = tf.range(length, dtype=tf.float32)[None]
    alpha, beta, gamma, theta = (tf.reshape(tf.cast(p, tf.float32), [-1, 1]) for p in (alpha, beta, gamma, theta))
    det = detector_psf(s, alpha)
    det = det / tf.reduce_sum(det, axis=1, keepdims=True)
    read = readout_psf(s, beta, gamma, theta)
    read = read / tf.reduce_sum(read, axis=1, keepdims=True)
    # causal convolution of the two one-sided kernels, truncated to `length` taps
    idx = tf.range(length)
    lag = idx[:, None] - idx[None, :]  # [out, in]
    read_shift = tf.gather(read, tf.maximum(lag, 0), axis=1) * tf.cast(lag >= 0, tf.float32)[None]
    kernel = tf.reduce_sum(read_shift * det[:, None, :], axis=2)
    return kernel / tf.reduce_sum(kernel, axis=1, keepdims=True)


def fast_scan_blur(x, alpha, beta, gamma, theta, length: int = 64) -> tf.Tensor:
    """Fast-scan (short dwell time) blur along each scan line, ``Im (*) psf_detector (*) psf_readout`` (Eq. 47).

    The signal at beam position ``c`` is ``sum_s kernel[s] x[c - s]`` (the detector responds after the beam has
    passed), with the line's first pixel repeated on the left (fly-back).

    Parameters
    ----------
    x : tf.Tensor, float32, [N, H, W, C]
    alpha, beta, gamma, theta : float or tf.Tensor [N]
        See :func:`fast_scan_kernel`.
    length : int
        Kernel taps (static).
    """
    x = tf.convert_to_tensor(x, tf.float32)
    kernel = fast_scan_kernel(alpha, beta, gamma, theta, length)  # [N, L]
    n = tf.shape(x)[0]
    kernel = tf.broadcast_to(kernel, tf.stack([n, length]))
    width = tf.shape(x)[2]
    # Toeplitz matrix T[n, c, j]: weight of input column j in output column c; lags beyond the left border
    # pile onto column 0 (the repeated first pixel).
    cols = tf.range(width)
    lag = cols[:, None] - cols[None, :]  # [W, W]
    padded = tf.concat([kernel, tf.zeros(tf.stack([n, width]))], axis=1)
    inside = tf.cast((lag >= 0) & (lag < length), tf.float32)[None]
    toeplitz = tf.gather(padded, tf.clip_by_value(lag, 0, length), axis=1) * inside
    tail = 1.0 - tf.reduce_sum(toeplitz, axis=2)  # [N, W]: weight of lags that fall left of the image
    toeplitz = toeplitz + tail[:, :, None] * tf.one_hot(0, width)[None, None]
    out = tf.einsum("ncj,nhjk->nhck", toeplitz, x)
    return out


def row_lines(x, count, max_count: int, length_fraction, factor, seed) -> tf.Tensor:
    """Row-line noise ``x <- RL(x)`` (Eq. 51): segments of scan lines replaced by their mean times a factor.

    Each image gets ``count`` segments (at most ``max_count``), each on a random row, starting at a random column,
    ``length`` pixels long with ``length / W`` uniform in ``[0, length_fraction]`` (at least 1 pixel), and each
    replaced by (its mean intensity) x (a factor uniform in ``factor``, paper: [0.5, 1.5]).

    Parameters
    ----------
    x : tf.Tensor, float32, [N, H, W, C]
    count : int or tf.Tensor [N]
        Number of segments per image, 0 <= count <= max_count.
    max_count : int
        Static upper bound on ``count``.
    length_fraction : float
        Largest segment length as a fraction of the width.
    factor : tuple(float, float)
        Range of the random intensity factor.
    seed : tensor [2]

    Returns
    -------
    tf.Tensor, float32, [N, H, W, C]
    """
    x = tf.convert_to_tensor(x, tf.float32)
    shape = tf.shape(x)
    n, h, w = shape[0], shape[1], shape[2]
    hf, wf = tf.cast(h, tf.float32), tf.cast(w, tf.float32)
    u = tf.random.stateless_uniform(tf.stack([4, n, max_count]), split_seed(seed, 0))
    row = tf.cast(tf.floor(u[0] * hf), tf.int32)
    length = tf.maximum(tf.floor(u[1] * length_fraction * wf), 1.0)
    start = tf.floor(u[2] * tf.maximum(wf - length, 1.0))
    fac = factor[0] + (factor[1] - factor[0]) * u[3]
    active = tf.range(max_count)[None] < tf.reshape(tf.cast(count, tf.int32), [-1, 1])
    cols = tf.cast(tf.range(w), tf.float32)
    out = x
    for k in range(max_count):
        on_row = tf.equal(tf.range(h)[None], row[:, k:k + 1])  # [N, H]
        in_seg = (cols[None] >= start[:, k:k + 1]) & (cols[None] < start[:, k:k + 1] + length[:, k:k + 1])  # [N, W]
        mask = on_row[:, :, None] & in_seg[:, None, :] & active[:, k][:, None, None]  # [N, H, W]
        m = tf.cast(mask, tf.float32)[..., None]
        mean = tf.reduce_sum(out * m, axis=[1, 2], keepdims=True) / tf.maximum(
            tf.reduce_sum(m, axis=[1, 2], keepdims=True), 1.0)
        out = tf.where(mask[..., None], mean * fac[:, k][:, None, None, None], out)
    return out
