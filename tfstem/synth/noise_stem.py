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
    "scan_jitter",
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

    Returns
    -------
    tf.Tensor, float32, [N, length]
    """
    sigma = tf.reshape(tf.broadcast_to(tf.reshape(tf.cast(sigma, tf.float32), [-1]), [batch_size]), [-1, 1])
    phi = tf.reshape(tf.broadcast_to(tf.reshape(tf.cast(phi, tf.float32), [-1]), [batch_size]), [-1, 1, 1])
    a = sigma * tf.random.stateless_normal(tf.stack([batch_size, length]), split_seed(seed, 0))
    first = a[:, :1] / tf.sqrt(tf.maximum(1.0 - tf.square(phi[:, 0]), 1e-6))
    a = tf.concat([first, a[:, 1:]], axis=1)
    k = tf.range(length, dtype=tf.float32)
    lag = k[:, None] - k[None, :]  # [L, L]
    lower = tf.cast(lag >= 0.0, tf.float32)[None]
    powers = tf.pow(phi, tf.maximum(lag, 0.0)[None]) * lower  # phi^(k-j), 0^0 = 1
    return tf.linalg.matvec(powers, a)


def scan_jitter(x, sigma_x, phi_x, sigma_y, phi_y, seed) -> tf.Tensor:
    """X/Y scan jitter ``x <- SJ(y)`` (Eq. 41-42), resampled with bicubic (Keys, a = -0.5) interpolation.

    Displacements are AR(1) series over the slow-scan (row) index: X-jitter shifts each scan line along the
    fast-scan axis by ``Dx_row``; Y-jitter moves each scan line to row position ``row + Dy_row`` (stretching,
    squishing or interchanging lines). Pixels outside the image are clamped to the border, which is why the
    pipelines simulate an extended field of view and crop afterwards (the paper's extended box).
    Set a sigma to 0 to switch that direction off.

    Parameters
    ----------
    x : tf.Tensor, float32, [N, H, W, C]
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
    n, h = tf.shape(x)[0], x.shape[1]
    if h is None:
        raise ValueError("scan_jitter needs a static image height (the AR(1) matrix size); received None.")
    dy = ar1_series(n, h, sigma_y, phi_y, split_seed(seed, 1))
    dx = ar1_series(n, h, sigma_x, phi_x, split_seed(seed, 2))
    rows = tf.cast(tf.range(h), tf.float32)[None] + dy
    x = _resample.cubic_rows(x, rows)
    return _resample.cubic_shift_rows(x, dx)


def pmt_noise(x, dose, sigma, seed) -> tf.Tensor:
    """Scintillator/photomultiplier detector noise: ``x <- P(alpha x)`` (Eq. 45), ``x <- (x + N(0, sigma)) / alpha``
    (Eq. 46).

    Parameters
    ----------
    x : tf.Tensor, float32, [N, H, W, C]
        Non-negative expected signal.
    dose : float or tf.Tensor [N]
        Dose scale factor alpha (electrons per unit of ``x``).
    sigma : float or tf.Tensor [N]
        Gaussian PMT noise of Eq. 44 in electron units.
    seed : tensor [2]
    """
    x = tf.convert_to_tensor(x, tf.float32)
    n = tf.shape(x)[0]
    alpha = per_image(dose, n)
    counts = poisson(alpha * tf.maximum(x, 0.0), split_seed(seed, 0))
    gauss = per_image(sigma, n) * tf.random.stateless_normal(tf.shape(x), split_seed(seed, 1))
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
