"""TEM noise model of the r_em paper (Lobato et al. 2023, section "TEM noise model", Eq. 27-40).

Every op is a pure TensorFlow function of an NHWC float32 batch, per-image parameters (a scalar or a ``[N]``
tensor each) and, where random, a stateless ``seed`` of shape ``[2]``. None calls NumPy or Python RNG, so they
run in ``tf.data`` maps, inside a ``train_step`` on a GPU and under ``tf.function(jit_compile=True)``.

Units: the ops after :func:`shot_noise` work in detector counts (electrons or ADC units); the pipeline in
:mod:`tfstem.synth.pipelines` converts back to the clean image's scale by dividing by the dose.
"""

from __future__ import annotations

import math

import tensorflow as tf

from tfstem.synth import _resample
from tfstem.synth.random import per_image, poisson, split_seed

__all__ = [
    "mtf",
    "mtf_is_valid",
    "apply_mtf",
    "shot_noise",
    "fixed_pattern_noise",
    "dark_current_nonuniformity",
    "dark_current_noise",
    "thermal_noise",
    "flicker_noise",
    "reset_noise",
    "random_walk_mask",
    "black_pixels",
    "zingers",
    "upper_clip",
    "quantize",
]


def mtf(height, width, a, b, c) -> tf.Tensor:
    """Camera modulation-transfer function on the FFT grid (Eq. 28-29).

    ``MTF = [a exp(-g^2 / 2b^2) + (1 - a) exp(-g^2 / 2c^2)] sinc(pi u / 2) sinc(pi v / 2)`` with (u, v) in units of
    the Nyquist frequency (0.5 cycles/pixel) and ``g = sqrt(u^2 + v^2)``; ``sinc(z) = sin(z) / z``.

    Parameters
    ----------
    height, width : int
        Image size in pixels.
    a, b, c : float or tf.Tensor [N]
        Eq. 29 parameters; b and c in Nyquist units.

    Returns
    -------
    tf.Tensor, float32, [N, H, W]
    """
    fy, fx = _resample.frequency_grid(height, width)
    v, u = 2.0 * fy, 2.0 * fx  # Nyquist units
    g2 = (u * u + v * v)[None]
    a, b, c = (tf.reshape(tf.cast(p, tf.float32), [-1, 1, 1]) for p in (a, b, c))
    mtf_r = a * tf.exp(-g2 / (2.0 * b * b)) + (1.0 - a) * tf.exp(-g2 / (2.0 * c * c))
    pixel = _sinc(math.pi * u / 2.0) * _sinc(math.pi * v / 2.0)
    return mtf_r * pixel[None]


def _sinc(z):
    safe = tf.where(tf.abs(z) < 1e-6, tf.ones_like(z), z)
    return tf.where(tf.abs(z) < 1e-6, tf.ones_like(z), tf.sin(safe) / safe)


def mtf_is_valid(a, b, c) -> tf.Tensor:
    """Eq. 29 constraint: MTF_r positive and monotonically decreasing on 1000 points over 10 Nyquist units.

    Parameters
    ----------
    a, b, c : tf.Tensor [N]

    Returns
    -------
    tf.Tensor, bool, [N]
    """
    g = tf.linspace(0.0, 10.0, 1000)[None]
    a, b, c = (tf.reshape(tf.cast(p, tf.float32), [-1, 1]) for p in (a, b, c))
    m = a * tf.exp(-g * g / (2.0 * b * b)) + (1.0 - a) * tf.exp(-g * g / (2.0 * c * c))
    positive = tf.reduce_all(m > 0.0, axis=1)
    decreasing = tf.reduce_all(m[:, 1:] - m[:, :-1] <= 0.0, axis=1)
    return positive & decreasing & (b > 0.0)[:, 0] & (c > 0.0)[:, 0]


def apply_mtf(x, a, b, c) -> tf.Tensor:
    """Blur with the camera PSF, ``y <- y (x) PSF`` (Eq. 27), as a product with the MTF of Eq. 28-29 in Fourier space.

    The paper embeds this in the *undistorted* TEM image, so the pipelines apply it to both images of a pair.
    Convolution is periodic (FFT).

    Parameters
    ----------
    x : tf.Tensor, float32, [N, H, W, C]
    a, b, c : float or tf.Tensor [N]
        See :func:`mtf`.

    Returns
    -------
    tf.Tensor, float32, [N, H, W, C]
    """
    x = tf.convert_to_tensor(x, tf.float32)
    return _resample.fft_filter(x, mtf(tf.shape(x)[1], tf.shape(x)[2], a, b, c))


def shot_noise(x, dose, seed) -> tf.Tensor:
    """Photon/electron shot noise ``x <- P(alpha x) / alpha`` (Eq. 30).

    Parameters
    ----------
    x : tf.Tensor, float32, [N, H, W, C]
        Non-negative expected signal (clean image scale).
    dose : float or tf.Tensor [N]
        Dose scale factor alpha (counts per unit of ``x``), > 0.
    seed : tensor [2]

    Returns
    -------
    tf.Tensor, float32, [N, H, W, C]
        Integers divided by alpha; mean ``x``, variance ``x / alpha``.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    alpha = per_image(dose, tf.shape(x)[0])
    return poisson(alpha * tf.maximum(x, 0.0), seed) / alpha


def fixed_pattern_noise(x, sigma, seed) -> tf.Tensor:
    """Fixed-pattern (pixel gain mismatch) noise ``x <- x + x N(0, sigma_fpn)`` (Eq. 31).

    Parameters
    ----------
    x : tf.Tensor, float32, [N, H, W, C]
    sigma : float or tf.Tensor [N]
        Relative gain spread (dimensionless).
    seed : tensor [2]
    """
    x = tf.convert_to_tensor(x, tf.float32)
    s = per_image(sigma, tf.shape(x)[0])
    return x + x * s * tf.random.stateless_normal(tf.shape(x), split_seed(seed, 0))


def dark_current_nonuniformity(shape, mean, std, hot_fraction, seed) -> tf.Tensor:
    """Dark-current non-uniformity map ``DCNU <- lnN(mu, sigma) + U(mu + 5 sigma, mu + 8 sigma)`` (Eq. 32).

    ``mean`` and ``std`` are the mean and standard deviation of the log-normal body itself (the paper's mu, sigma);
    a fraction ``hot_fraction`` of pixels are "hot pixels" that get the uniform outlier term.

    Parameters
    ----------
    shape : [N, H, W, C]
    mean, std : float or tf.Tensor [N]
        Counts per pixel (>= 0).
    hot_fraction : float or tf.Tensor [N]
        Probability of a hot pixel, in [0, 1].
    seed : tensor [2]

    Returns
    -------
    tf.Tensor, float32, ``shape``
    """
    n = shape[0]
    mu = tf.maximum(per_image(mean, n), 1e-6)
    sd = tf.maximum(per_image(std, n), 0.0)
    s2 = tf.math.log1p(sd * sd / (mu * mu))
    body = tf.exp(tf.math.log(mu) - 0.5 * s2 + tf.sqrt(s2) * tf.random.stateless_normal(shape, split_seed(seed, 0)))
    hot = tf.random.stateless_uniform(shape, split_seed(seed, 1)) < per_image(hot_fraction, n)
    outlier = tf.random.stateless_uniform(shape, split_seed(seed, 2), minval=5.0, maxval=8.0) * sd + mu
    return body + tf.where(hot, outlier, tf.zeros_like(body))


def dark_current_noise(x, mean, std, hot_fraction, seed) -> tf.Tensor:
    """Dark-current non-uniformity with its shot noise, ``x <- x + P(DCNU)`` (Eq. 32-33), in counts.

    Parameters
    ----------
    x : tf.Tensor, float32, [N, H, W, C]
        Signal in counts.
    mean, std, hot_fraction : see :func:`dark_current_nonuniformity`.
    seed : tensor [2]
    """
    x = tf.convert_to_tensor(x, tf.float32)
    dcnu = dark_current_nonuniformity(tf.shape(x), mean, std, hot_fraction, split_seed(seed, 0))
    return x + poisson(dcnu, split_seed(seed, 1))


def thermal_noise(x, sigma, seed) -> tf.Tensor:
    """Thermal (Johnson-Nyquist, white) read-out noise ``x <- x + N(0, sigma)`` (Eq. 34).

    Parameters
    ----------
    x : tf.Tensor, float32, [N, H, W, C]
    sigma : float or tf.Tensor [N]
        Standard deviation in the units of ``x``.
    seed : tensor [2]
    """
    x = tf.convert_to_tensor(x, tf.float32)
    return x + per_image(sigma, tf.shape(x)[0]) * tf.random.stateless_normal(tf.shape(x), split_seed(seed, 0))


def flicker_noise(x, sigma, seed, exponent=1.0) -> tf.Tensor:
    """Flicker (1/f, pink) read-out noise ``x <- x + F(N(0, sigma) / f)`` (Eq. 35), power spectrum ``~ 1 / f``.

    The paper calls this term "1/f noise or pink noise": its power spectral density falls as ``1 / f``. White complex
    Gaussian noise is therefore multiplied by ``f^(-exponent / 2)`` (``exponent = 1``: the amplitude falls as
    ``1 / sqrt(f)``, the power as ``1 / f``; the zero frequency is removed) and transformed back. The printed
    ``N(0, sigma) / f`` divides the *amplitude* by f, which is ``1 / f^2`` (brown) noise: ``exponent=2`` gives that
    reading. The field is then scaled to standard deviation ``sigma`` so that ``sigma`` means the same thing at any
    image size (the paper's scale depends on the FFT convention).

    Parameters
    ----------
    x : tf.Tensor, float32, [N, H, W, C]
    sigma : float or tf.Tensor [N]
        Standard deviation of the added field, units of ``x``.
    seed : tensor [2]
    exponent : float
        Power-law exponent of the power spectral density, ``PSD ~ f^(-exponent)``; 1 is the paper's text (pink).

    Returns
    -------
    tf.Tensor, float32, [N, H, W, C]
        ``x`` plus a zero-mean field of standard deviation ``sigma`` per image and channel.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    shape = tf.shape(x)
    n, h, w, c = shape[0], shape[1], shape[2], shape[3]
    fy, fx = _resample.frequency_grid(h, w)
    f = tf.sqrt(fy * fy + fx * fx)
    amplitude = tf.where(f > 0.0, tf.pow(tf.maximum(f, 1e-12), -0.5 * float(exponent)), tf.zeros_like(f))
    noise_shape = tf.stack([n, c, h, w])
    re = tf.random.stateless_normal(noise_shape, split_seed(seed, 0))
    im = tf.random.stateless_normal(noise_shape, split_seed(seed, 1))
    spec = tf.complex(re * amplitude, im * amplitude)
    field = tf.math.real(tf.signal.ifft2d(spec))
    field = field / tf.maximum(tf.math.reduce_std(field, axis=[2, 3], keepdims=True), 1e-12)
    field = tf.transpose(field, [0, 2, 3, 1])
    return x + per_image(sigma, n) * field


def reset_noise(x, sigma, seed) -> tf.Tensor:
    """Row reset noise: one N(0, sigma) offset per row added to all its pixels (Eq. 36).

    Parameters
    ----------
    x : tf.Tensor, float32, [N, H, W, C]
    sigma : float or tf.Tensor [N]
        Standard deviation of the row offsets, units of ``x``.
    seed : tensor [2]
    """
    x = tf.convert_to_tensor(x, tf.float32)
    shape = tf.shape(x)
    rows = tf.random.stateless_normal(tf.stack([shape[0], shape[1], 1, shape[3]]), split_seed(seed, 0))
    return x + per_image(sigma, shape[0]) * rows


def random_walk_mask(shape, count, steps, seed, max_steps: int = 8) -> tf.Tensor:
    """Random points grown into regions by a random walk (the masks of Eq. 37-38 and 52-53).

    Each pixel is a starting point with probability ``count / (H W)`` (so the expected number of points is
    ``count``); every walker then takes ``steps`` unit steps (up, down, left or right, drawn per walker and step;
    periodic at the borders) and every visited pixel joins the region.

    Parameters
    ----------
    shape : [N, H, W]
    count : float or tf.Tensor [N]
        Expected number of starting points per image.
    steps : int or tf.Tensor [N]
        Walk length per image, 0 <= steps <= max_steps.
    seed : tensor [2]
    max_steps : int
        Static upper bound on ``steps`` (loop length).

    Returns
    -------
    tf.Tensor, bool, [N, H, W]
    """
    n, h, w = shape[0], shape[1], shape[2]
    count = tf.reshape(tf.cast(count, tf.float32), [-1, 1, 1])
    steps = tf.reshape(tf.cast(steps, tf.int32), [-1])
    prob = count / tf.cast(h * w, tf.float32)
    walker = tf.random.stateless_uniform(shape, split_seed(seed, 0)) < prob
    if max_steps == 0:
        return walker
    walk_seed = split_seed(seed, 1)

    def body(step, walker, region):
        direction = tf.random.stateless_uniform(
            shape, tf.random.experimental.stateless_fold_in(walk_seed, step), maxval=4, dtype=tf.int32)
        moved = tf.zeros_like(walker)
        for d, (dy, dx) in enumerate(((-1, 0), (1, 0), (0, -1), (0, 1))):
            moved = moved | tf.roll(walker & tf.equal(direction, d), shift=[dy, dx], axis=[1, 2])
        active = (step < steps)[:, None, None]
        walker = tf.where(active, moved, walker)
        return step + 1, walker, region | (walker & active)

    _, _, region = tf.while_loop(lambda step, *_: step < max_steps, body, (tf.constant(0), walker, walker),
                                 maximum_iterations=max_steps)
    return region


def black_pixels(x, count, steps, level, seed, max_steps: int = 8) -> tf.Tensor:
    """Black pixels/regions ``x <- x S_black`` (Eq. 37; Eq. 52 for S(T)EM with ``steps = 0``).

    The sensitivity mask S is ``level`` inside the random-walk regions of :func:`random_walk_mask` and 1 elsewhere;
    the same mask is applied to every channel.

    Parameters
    ----------
    x : tf.Tensor, float32, [N, H, W, C]
    count : float or tf.Tensor [N]
        Expected number of black points.
    steps : int or tf.Tensor [N]
        Random-walk length per point.
    level : float or tf.Tensor [N]
        Residual sensitivity of a black pixel, in [0, 1).
    seed : tensor [2]
    """
    x = tf.convert_to_tensor(x, tf.float32)
    shape = tf.shape(x)
    mask = random_walk_mask(shape[:3], count, steps, seed, max_steps)[..., None]
    return tf.where(mask, x * per_image(level, shape[0]), x)


def zingers(x, count, steps, gain, seed, max_steps: int = 8) -> tf.Tensor:
    """Zinger points/streaks ``x <- x S_zinger`` (Eq. 38; Eq. 53 for S(T)EM with ``steps = 0``).

    The sensitivity mask S is ``gain`` (> 1) inside the random-walk regions and 1 elsewhere. Because Eq. 38 is
    multiplicative, a zinger on a zero pixel stays zero; the pipeline applies this op before the read-out offsets.

    Parameters
    ----------
    x : tf.Tensor, float32, [N, H, W, C]
    count : float or tf.Tensor [N]
        Expected number of zinger points.
    steps : int or tf.Tensor [N]
        Random-walk length per point.
    gain : float or tf.Tensor [N]
        Sensitivity of a zinger pixel, > 1.
    seed : tensor [2]
    """
    x = tf.convert_to_tensor(x, tf.float32)
    shape = tf.shape(x)
    mask = random_walk_mask(shape[:3], count, steps, seed, max_steps)[..., None]
    return tf.where(mask, x * per_image(gain, shape[0]), x)


def upper_clip(x, threshold) -> tf.Tensor:
    """Saturation ``x <- min(x, T_u)`` (Eq. 39 and 54).

    Parameters
    ----------
    x : tf.Tensor, float32, [N, H, W, C]
    threshold : float or tf.Tensor [N]
        T_u in the units of ``x``.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    return tf.minimum(x, per_image(threshold, tf.shape(x)[0]))


def quantize(x, gain) -> tf.Tensor:
    """Analog-to-digital quantisation ``x <- round(alpha x)`` (Eq. 40 and 55), returned as ``round(alpha x) / alpha``.

    Dividing by the ADC gain keeps the image on its input scale; every output value is an integer divided by
    ``alpha``.

    Parameters
    ----------
    x : tf.Tensor, float32, [N, H, W, C]
    gain : float or tf.Tensor [N]
        ADC gain alpha (levels per unit of ``x``), > 0.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    g = per_image(gain, tf.shape(x)[0])
    return tf.round(x * g) / g
