"""Random full distortion pipelines (TEM, S(T)EM, SEM + post-processing) as one pure TensorFlow function.

:func:`distort` draws every parameter per image from the modality's config (:mod:`tfstem.synth.configs`) with
stateless RNG and applies the ops of :mod:`~tfstem.synth.noise_tem`, :mod:`~tfstem.synth.noise_stem` and
:mod:`~tfstem.synth.postprocess`. It is usable in ``tf.data`` and inside a (distributed) ``train_step`` on a GPU,
and compiles with XLA. Every op is always computed and then selected per image with ``tf.where`` so that the graph
has static shapes and no data-dependent control flow.
"""

from __future__ import annotations

import math

import tensorflow as tf

from tfstem.synth import noise_stem, noise_tem, postprocess
from tfstem.synth.configs import ModalityConfig, PostprocessConfig, STEMNoiseConfig, TEMNoiseConfig, modality_config
from tfstem.synth.random import as_seed, per_image, split_seed

__all__ = ["distort", "tem_noise", "stem_noise", "postprocess_pair", "sample_dose", "sample_mtf_parameters",
           "sample_pmt_parameters"]


def _uniform(seed, n, bounds) -> tf.Tensor:
    lo, hi = float(bounds[0]), float(bounds[1])
    return lo + (hi - lo) * tf.random.stateless_uniform(tf.reshape(n, [1]), as_seed(seed))


def _gate(seed, n, probability) -> tf.Tensor:
    return tf.random.stateless_uniform(tf.reshape(n, [1]), as_seed(seed)) < probability


def _select(gate, new, old) -> tf.Tensor:
    return tf.where(tf.reshape(gate, [-1, 1, 1, 1]), new, old)


def sample_dose(seed, n, counts=(0.5, 750.0), scale=0.5, mapping="log") -> tf.Tensor:
    """Mean dose in counts per pixel, exponentially distributed over ``counts`` (Eq. 30).

    The paper: "The distribution of alpha is exponential, with a scale parameter of 0.5 and a range
    [0.5, 750] / E{y}. The use of the exponential distribution yields higher probabilities for the generation of
    images at lower doses". We draw ``t ~ Exp(scale)`` truncated to [0, 1] (inverse-CDF sampling) and map it onto
    the range, log-uniformly by default (``counts = low (high / low)^t``, median 4.0 counts per pixel) or linearly
    (``mapping="linear"``, median 213; the median t is 0.283); ``alpha = counts / E{y}``. With the log mapping
    our hrstem inputs overlap the scale-matched input PSNR of the authors' shipped test pairs (benchmarks/RESULTS.md,
    Synthetic data section 4); no comparison with the linear mapping is recorded.

    Returns
    -------
    tf.Tensor, float32, [N]
        Mean counts per pixel.
    """
    u = tf.random.stateless_uniform(tf.reshape(n, [1]), as_seed(seed))
    t = -scale * tf.math.log1p(-u * (1.0 - math.exp(-1.0 / scale)))
    if mapping == "log":
        return counts[0] * tf.pow(counts[1] / counts[0], t)
    if mapping == "linear":
        return counts[0] + (counts[1] - counts[0]) * t
    raise ValueError(f"mapping must be 'log' or 'linear'; received {mapping!r}.")


def sample_mtf_parameters(seed, n, config: TEMNoiseConfig, attempts: int = 8):
    """Draw Eq. 29's (a, b, c) until MTF_r is positive and decreasing (vectorised, fixed ``attempts``).

    Images with no valid draw after ``attempts`` fall back to ``a = 1`` (a single Gaussian, always valid).

    Returns
    -------
    a, b, c : tf.Tensor, float32, [N] each
    """
    shape = tf.stack([attempts, n])
    u = tf.random.stateless_uniform(tf.concat([[3], shape], 0), as_seed(seed))
    a = config.mtf_a[0] + (config.mtf_a[1] - config.mtf_a[0]) * u[0]
    b = config.mtf_b[0] + (config.mtf_b[1] - config.mtf_b[0]) * u[1]
    c = config.mtf_c[0] + (config.mtf_c[1] - config.mtf_c[0]) * u[2]
    ok = tf.reshape(noise_tem.mtf_is_valid(tf.reshape(a, [-1]), tf.reshape(b, [-1]), tf.reshape(c, [-1])), shape)
    first = tf.argmax(tf.cast(ok, tf.int32), axis=0)
    pick = lambda v: tf.reduce_sum(tf.one_hot(first, attempts, axis=0) * v, axis=0)  # noqa: E731
    found = tf.reduce_any(ok, axis=0)
    return tf.where(found, pick(a), 1.0), pick(b), pick(c)


def sample_pmt_parameters(seed, n, config: STEMNoiseConfig) -> dict:
    """Per-image m_c, eta, delta and delta_c^2 of Eq. 43-44, uniform in the config's ranges.

    Returns
    -------
    dict of tf.Tensor, float32, [N] each: keyword arguments of :func:`tfstem.synth.noise_stem.pmt_noise`.
    """
    s = lambda i: split_seed(seed, i)  # noqa: E731
    photons = _uniform(s(0), n, config.pmt_photons)
    return {"photons": photons, "quantum_efficiency": _uniform(s(1), n, config.pmt_quantum_efficiency),
            "stage_gain": _uniform(s(2), n, config.pmt_stage_gain),
            "photon_variance": photons * _uniform(s(3), n, config.pmt_photon_variance_ratio)}


def _mean(x):
    return tf.maximum(tf.reduce_mean(x, axis=[1, 2, 3]), 1e-6)


def tem_noise(clean, seed, config: TEMNoiseConfig = TEMNoiseConfig()):
    """Random TEM distortions (Eq. 27-40) of a clean batch.

    Order: camera PSF on both images (Eq. 27-29), shot noise (30), fixed pattern (31), dark current (32-33),
    black pixels (37) and zingers (38) on the collected charge, thermal (34), flicker (35) and reset (36) read-out
    noise, upper clip (39), quantisation (40); the result is divided by the dose to return to the clean scale.

    Parameters
    ----------
    clean : tf.Tensor, float32, [N, H, W, C]
        Non-negative undistorted images (e.g. normalised to max 1, Eq. 26).
    seed : tensor [2]
    config : TEMNoiseConfig

    Returns
    -------
    distorted, clean : tf.Tensor, float32, [N, H, W, C]
        ``clean`` includes the camera PSF (the paper embeds it in the undistorted image).
    """
    cfg = config
    y = tf.convert_to_tensor(clean, tf.float32)
    n = tf.shape(y)[0]
    s = lambda i: split_seed(seed, i)  # noqa: E731
    a, b, c = sample_mtf_parameters(s(0), n, cfg)
    y = _select(_gate(s(1), n, cfg.mtf_probability), noise_tem.apply_mtf(y, a, b, c), y)
    y = tf.maximum(y, 0.0)
    alpha = sample_dose(s(2), n, cfg.dose_counts, cfg.dose_exponential_scale, cfg.dose_mapping) / _mean(y)
    counts = noise_tem.shot_noise(y, alpha, s(3)) * per_image(alpha, n)
    steps = [
        (cfg.fixed_pattern_probability, lambda x, k: noise_tem.fixed_pattern_noise(
            x, _uniform(s(k), n, cfg.fixed_pattern_sigma), s(k + 1))),
        (cfg.dark_current_probability, lambda x, k: noise_tem.dark_current_noise(
            x, _uniform(s(k), n, cfg.dark_current_mean), _uniform(s(k + 2), n, cfg.dark_current_std),
            _uniform(s(k + 3), n, cfg.hot_pixel_fraction), s(k + 1))),
        (cfg.black_probability, lambda x, k: noise_tem.black_pixels(
            x, _uniform(s(k), n, cfg.black_count), tf.floor(_uniform(s(k + 2), n, (cfg.black_steps[0],
                                                                                   cfg.black_steps[1] + 0.999))),
            _uniform(s(k + 3), n, cfg.black_level), s(k + 1), max_steps=int(cfg.black_steps[1]))),
        (cfg.zinger_probability, lambda x, k: noise_tem.zingers(
            x, _uniform(s(k), n, cfg.zinger_count), tf.floor(_uniform(s(k + 2), n, (cfg.zinger_steps[0],
                                                                                    cfg.zinger_steps[1] + 0.999))),
            _uniform(s(k + 3), n, cfg.zinger_gain), s(k + 1), max_steps=int(cfg.zinger_steps[1]))),
        (cfg.thermal_probability, lambda x, k: noise_tem.thermal_noise(
            x, _uniform(s(k), n, cfg.thermal_sigma), s(k + 1))),
        (cfg.flicker_probability, lambda x, k: noise_tem.flicker_noise(
            x, _uniform(s(k), n, cfg.flicker_sigma), s(k + 1), cfg.flicker_exponent)),
        (cfg.reset_probability, lambda x, k: noise_tem.reset_noise(
            x, _uniform(s(k), n, cfg.reset_sigma), s(k + 1))),
        (cfg.clip_probability, lambda x, k: noise_tem.upper_clip(
            x, _uniform(s(k), n, cfg.clip_fraction) * tf.reduce_max(x, axis=[1, 2, 3]))),
        (cfg.quantize_probability, lambda x, k: noise_tem.quantize(
            x, _uniform(s(k), n, cfg.quantize_gain))),
    ]
    for i, (prob, op) in enumerate(steps):
        k = 10 + 10 * i
        counts = _select(_gate(s(k + 9), n, prob), op(counts, k), counts)
    return counts / per_image(alpha, n), y


def stem_noise(clean, seed, config: STEMNoiseConfig = STEMNoiseConfig(), pixel_size=None, scanning_electron=False,
               pixel_size_range=(0.025, 0.90)):
    """Random S(T)EM or SEM distortions (Eq. 41-55) of a clean batch.

    Order: scan jitter (41-42), PMT detector noise (43-46, kept in electron counts), fast-scan blur (47-50),
    row lines (51), black pixels (52, not for SEM), zingers (53), upper clip (54), quantisation (55), then
    division by the dose.

    Parameters
    ----------
    clean : tf.Tensor, float32, [N, H, W, C]
    seed : tensor [2]
    config : STEMNoiseConfig
    pixel_size : float or tf.Tensor [N], optional
        Angstrom per pixel, converts the jitter sigma from Angstrom to pixels; drawn from ``pixel_size_range``
        when omitted.
    scanning_electron : bool
        SEM: no black pixels (Eq. 52 is skipped, pores look alike).

    Returns
    -------
    distorted, clean : tf.Tensor, float32, [N, H, W, C]
        ``clean`` is returned unchanged (for symmetry with :func:`tem_noise`).
    """
    cfg = config
    y = tf.maximum(tf.convert_to_tensor(clean, tf.float32), 0.0)
    n = tf.shape(y)[0]
    s = lambda i: split_seed(seed, i)  # noqa: E731
    if pixel_size is None:
        pixel_size = _uniform(s(0), n, pixel_size_range)
    dr = tf.broadcast_to(tf.reshape(tf.cast(pixel_size, tf.float32), [-1]), tf.reshape(n, [1]))
    mode = tf.random.stateless_uniform(tf.reshape(n, [1]), s(1))
    p_x, p_y, _ = cfg.jitter_xy_probabilities
    use_x = (mode < p_x) | (mode >= p_x + p_y)
    use_y = mode >= p_x
    sig_x = tf.where(use_x, _uniform(s(2), n, cfg.jitter_sigma) / dr, 0.0)
    sig_y = tf.where(use_y, _uniform(s(3), n, cfg.jitter_sigma) / dr, 0.0)
    x = noise_stem.scan_jitter(y, sig_x, _uniform(s(4), n, cfg.jitter_phi), sig_y, _uniform(s(5), n, cfg.jitter_phi),
                               s(6))
    x = _select(_gate(s(7), n, cfg.jitter_probability), x, y)
    x = tf.maximum(x, 0.0)
    alpha = sample_dose(s(8), n, cfg.dose_counts, cfg.dose_exponential_scale, cfg.dose_mapping) / _mean(y)
    counts = noise_stem.pmt_noise(x, alpha, s(10), **sample_pmt_parameters(s(9), n, cfg)) * per_image(alpha, n)
    black_probability = 0.0 if scanning_electron else cfg.black_probability
    steps = [
        (cfg.fast_scan_probability, lambda v, k: noise_stem.fast_scan_blur(
            v, _uniform(s(k), n, cfg.fast_scan_alpha), _uniform(s(k + 1), n, cfg.fast_scan_beta),
            _uniform(s(k + 2), n, cfg.fast_scan_gamma), _uniform(s(k + 3), n, cfg.fast_scan_theta),
            cfg.fast_scan_taps)),
        (cfg.row_line_probability, lambda v, k: noise_stem.row_lines(
            v, tf.floor(_uniform(s(k), n, (1.0, cfg.row_line_max_count + 0.999))), cfg.row_line_max_count,
            cfg.row_line_length_fraction, cfg.row_line_factor, s(k + 1))),
        (black_probability, lambda v, k: noise_stem.black_pixels(
            v, _uniform(s(k), n, cfg.black_count), 0, _uniform(s(k + 2), n, cfg.black_level), s(k + 1), max_steps=0)),
        (cfg.zinger_probability, lambda v, k: noise_stem.zingers(
            v, _uniform(s(k), n, cfg.zinger_count), 0, _uniform(s(k + 2), n, cfg.zinger_gain), s(k + 1),
            max_steps=0)),
        (cfg.clip_probability, lambda v, k: noise_stem.upper_clip(
            v, _uniform(s(k), n, cfg.clip_fraction) * tf.reduce_max(v, axis=[1, 2, 3]))),
        (cfg.quantize_probability, lambda v, k: noise_stem.quantize(v, _uniform(s(k), n, cfg.quantize_gain))),
    ]
    for i, (prob, op) in enumerate(steps):
        k = 20 + 10 * i
        if prob > 0.0:
            counts = _select(_gate(s(k + 9), n, prob), op(counts, k), counts)
    return counts / per_image(alpha, n), y


def postprocess_pair(distorted, clean, seed, config: PostprocessConfig = PostprocessConfig()):
    """Random post-processing distortions of a pair (section "Post-processing distortions").

    Interpolation (same random linear transform on both), Gaussian blur (distorted only, sigma in [0, 1] px),
    annotations (same marks on both), cropping fill (same region and value on both).

    Returns
    -------
    distorted, clean : tf.Tensor, float32, [N, H, W, C]
    """
    cfg = config
    x = tf.convert_to_tensor(distorted, tf.float32)
    y = tf.convert_to_tensor(clean, tf.float32)
    n = tf.shape(x)[0]
    s = lambda i: split_seed(seed, i)  # noqa: E731
    xt, yt = postprocess.random_linear_transform([x, y], s(0), cfg.interpolation_max_rotation,
                                                 cfg.interpolation_scale, cfg.interpolation_max_shear)
    g = _gate(s(1), n, cfg.interpolation_probability)
    x, y = _select(g, xt, x), _select(g, yt, y)
    x = _select(_gate(s(2), n, cfg.blur_probability), postprocess.gaussian_blur(x, _uniform(s(3), n, cfg.blur_sigma)), x)
    # marks take their values from the clean image so that they are identical in both
    yt, xt = postprocess.annotations([y, x], s(4))
    g = _gate(s(5), n, cfg.annotation_probability)
    x, y = _select(g, xt, x), _select(g, yt, y)
    yt, xt = postprocess.crop_fill([y, x], s(6), cfg.crop_keep_fraction)
    g = _gate(s(7), n, cfg.crop_probability)
    x, y = _select(g, xt, x), _select(g, yt, y)
    return x, y


def distort(clean, modality, seed, pixel_size=None):
    """Distort a batch of clean images with the full random pipeline of ``modality``; on-device friendly.

    Parameters
    ----------
    clean : tf.Tensor or np.ndarray, float32, [N, H, W, C] (H static for S(T)EM/SEM)
        Non-negative undistorted images, e.g. from :func:`tfstem.synth.clean_images` (normalised to max 1).
    modality : str or ModalityConfig
        One of ``hrstem, lrstem, hrtem, lrtem, hrsem, lrsem`` or a custom config.
    seed : int or tensor [2]
        Stateless seed: the same seed gives bit-identical output.
    pixel_size : float or tf.Tensor [N], optional
        Angstrom per pixel (scan-jitter amplitudes are in Angstrom); drawn from the config's range when omitted.

    Returns
    -------
    distorted, clean : tf.Tensor, float32, [N, H, W, C]
        The distorted image and the matching target. The target differs from the input ``clean`` where the
        paper's model changes the ground truth too: the TEM camera PSF (Eq. 27), interpolation, annotations and
        cropping.

    Examples
    --------
    >>> import tensorflow as tf
    >>> from tfstem.synth import distort
    >>> x, y = distort(tf.ones([2, 32, 32, 1]), "hrstem", seed=7)
    >>> x.shape
    TensorShape([2, 32, 32, 1])
    """
    cfg: ModalityConfig = modality_config(modality)
    seed = as_seed(seed)
    clean = tf.convert_to_tensor(clean, tf.float32)
    if clean.shape.rank != 4:
        raise ValueError(f"clean must be a batch [N, H, W, C]; received shape {clean.shape}.")
    if cfg.detector == "tem":
        x, y = tem_noise(clean, split_seed(seed, 0), cfg.tem)
    else:
        x, y = stem_noise(clean, split_seed(seed, 0), cfg.stem, pixel_size=pixel_size,
                          scanning_electron=cfg.detector == "sem", pixel_size_range=cfg.imaging.pixel_size)
    return postprocess_pair(x, y, split_seed(seed, 1), cfg.postprocess)
