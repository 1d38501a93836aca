"""Statistical tests of the r_em distortion ops on known inputs; tolerances come from the sampling statistics."""

import math

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from tfstem.synth import noise_stem, noise_tem, postprocess
from tfstem.synth.random import poisson

SEED = tf.constant([11, 12], tf.int64)


def _chi_square_pvalue(samples, mean):
    """Chi-square goodness of fit against Poisson(mean), bins merged to expected counts >= 5."""
    dist = stats.poisson(mean)
    lo, hi = int(dist.ppf(1e-5)), int(dist.ppf(1 - 1e-5))
    values = np.arange(lo, hi + 1)
    expected = dist.pmf(values) * samples.size
    expected[0] += dist.cdf(lo - 1) * samples.size
    expected[-1] += dist.sf(hi) * samples.size
    observed = np.array([(samples == v).sum() for v in values], float)
    observed[0] += (samples < lo).sum()
    observed[-1] += (samples > hi).sum()
    # merge sparse bins into their neighbour
    obs, exp = [], []
    acc_o = acc_e = 0.0
    for o, e in zip(observed, expected):
        acc_o, acc_e = acc_o + o, acc_e + e
        if acc_e >= 5:
            obs.append(acc_o)
            exp.append(acc_e)
            acc_o = acc_e = 0.0
    obs[-1] += acc_o
    exp[-1] += acc_e
    obs, exp = np.array(obs), np.array(exp)
    return stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue


@pytest.mark.parametrize("mean", [0.05, 1.0, 7.0, 9.99, 10.0, 30.0, 1000.0])
def test_poisson_sampler_matches_exact_distribution(mean):
    samples = poisson(tf.fill([60000], mean), SEED).numpy()
    assert np.all(samples == np.round(samples)) and samples.min() >= 0
    assert _chi_square_pvalue(samples, mean) > 1e-4
    se = math.sqrt(mean / samples.size)
    assert abs(samples.mean() - mean) < 5 * se
    # variance of the sample variance of a Poisson: (mu4 - sigma^4) / n, mu4 = mean (1 + 3 mean)
    se_var = math.sqrt((mean * (1 + 3 * mean) - mean**2) / samples.size)
    assert abs(samples.var() - mean) < 5 * se_var


def test_poisson_sampler_is_deterministic_and_seed_dependent():
    lam = tf.fill([1000], 3.0)
    a, b = poisson(lam, SEED).numpy(), poisson(lam, SEED).numpy()
    c = poisson(lam, tf.constant([11, 13], tf.int64)).numpy()
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_shot_noise_mean_and_variance_match_dose():
    x = tf.fill([8, 64, 64, 1], 0.4)
    alpha = 20.0  # 8 counts on average
    out = noise_tem.shot_noise(x, alpha, SEED).numpy()
    n = out.size
    assert np.allclose(out * alpha, np.round(out * alpha), atol=1e-3)
    assert abs(out.mean() - 0.4) < 5 * math.sqrt(0.4 / alpha / n)
    lam = 0.4 * alpha
    se_var = math.sqrt(lam * (1 + 3 * lam) - lam**2) / math.sqrt(n) / alpha**2
    assert abs(out.var() - 0.4 / alpha) < 5 * se_var


def test_pmt_pulse_spread_is_eq44():
    m_c, eta, delta, var_c, gain = 100.0, 0.2, 4.0, 100.0, 1e6
    expected = m_c * eta * gain * math.sqrt((1 - eta + 1 / (delta - 1)) / (m_c * eta) + var_c / m_c**2)
    assert float(noise_stem.pmt_pulse_spread(m_c, eta, delta, var_c, gain)) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("level", [0.5, 2.0])
def test_pmt_noise_variance_follows_eq43_44(level):
    """Poisson counts (Eq. 45) plus N(0, sigma) (Eq. 46) with sigma^2 = mean count x (sigma_44 / (m_c eta G))^2: the
    output variance is x (1 + r^2) / alpha. The parameters make r^2 = 1.5, so the old sigma-in-[0, 1] draw (variance
    (alpha x + sigma^2) / alpha^2) misses it by far."""
    m_c, eta, delta, var_c, alpha = 20.0, 0.1, 1.5, 20.0, 5.0
    r2 = (1 - eta + 1 / (delta - 1)) / (m_c * eta) + var_c / m_c**2
    assert r2 == pytest.approx(1.5)
    x = tf.fill([8, 64, 64, 1], level)
    out = noise_stem.pmt_noise(x, alpha, SEED, photons=m_c, quantum_efficiency=eta, stage_gain=delta,
                               photon_variance=var_c).numpy()
    expected_var = level * (1 + r2) / alpha
    assert abs(out.mean() - level) < 5 * math.sqrt(expected_var / out.size)
    assert abs(out.var() / expected_var - 1.0) < 5 * math.sqrt(2.0 / out.size) + 0.01
    # the Gaussian part grows with the mean count: without it the variance would be level / alpha
    assert out.var() > 2.0 * level / alpha


@pytest.mark.parametrize("phi", [0.0, 0.6])
def test_ar1_jitter_lag1_autocorrelation_matches_phi(phi):
    n, length, sigma = 200, 256, 0.75
    d = noise_stem.ar1_series(n, length, sigma, phi, SEED).numpy()
    d = d - 0.0  # zero-mean process: no centring, so the estimator is unbiased
    r1 = (d[:, 1:] * d[:, :-1]).sum() / (d[:, :-1] ** 2).sum()
    # asymptotic standard error of the lag-1 estimate: sqrt((1 - phi^2) / (n L))
    assert abs(r1 - phi) < 5 * math.sqrt((1 - phi**2) / (n * length))
    stationary_var = sigma**2 / (1 - phi**2)
    assert abs(d[:, 0].var() / stationary_var - 1) < 5 * math.sqrt(2 / n)  # first term is already stationary
    assert abs(d.var() / stationary_var - 1) < 0.1


def test_blocked_ar1_filter_is_the_sequential_recursion():
    """The blocked computation behind the scan-order series equals Eq. 41 run term by term (lengths that are and
    are not multiples of the block, a recursion of three levels)."""
    phi = np.array([0.0, 0.5, 0.95], np.float32)
    for length in (64, 1000, 40000):
        a = np.random.default_rng(length).normal(size=(3, length)).astype(np.float32)
        expected = np.zeros_like(a)
        expected[:, 0] = a[:, 0]
        for k in range(1, length):
            expected[:, k] = phi * expected[:, k - 1] + a[:, k]
        out = noise_stem._ar1_filter_blocked(tf.constant(a), tf.constant(phi.reshape(3, 1, 1))).numpy()
        np.testing.assert_allclose(out, expected, rtol=0, atol=2e-5 * max(1.0, np.abs(expected).max()))


def test_raster_ar1_series_is_stationary_with_white_innovations():
    n, h, w, sigma, phi = 8, 40, 64, 0.8, 0.6
    series = noise_stem.raster_ar1_series(n, h, w, sigma, phi, SEED).numpy().reshape(n, -1)
    stationary = sigma**2 / (1 - phi**2)
    assert abs(series.var() / stationary - 1) < 0.1
    innovations = series[:, 1:] - phi * series[:, :-1]
    assert abs(innovations.std() / sigma - 1) < 5 * math.sqrt(0.5 / innovations.size)
    white = (innovations[:, 1:] * innovations[:, :-1]).sum() / (innovations**2).sum()
    assert abs(white) < 5 / math.sqrt(innovations.size)


def test_scan_x_jitter_moves_each_pixel_by_an_ar1_series_in_scan_order():
    """Eq. 41 with k the pixel index along the scan (time): consecutive pixels of a line have lag-1 correlation phi.
    A rigid shift of each line (the old reading) has lag-1 correlation 1 along the line."""
    n, h, w, sigma, phi = 32, 48, 96, 0.3, 0.5
    ramp = tf.broadcast_to(tf.range(w, dtype=tf.float32)[None, None, :, None], [n, h, w, 1])
    out = noise_stem.scan_jitter(ramp, sigma, phi, 0.0, 0.0, SEED).numpy()[..., 0]
    dx = noise_stem.raster_ar1_series(n, h, w, sigma, phi, tf.random.experimental.stateless_fold_in(SEED, 2)).numpy()
    inner = slice(12, -12)  # cubic interpolation reproduces a ramp exactly away from the clamped borders
    np.testing.assert_allclose(out[:, :, inner] - ramp.numpy()[:, :, inner, 0], dx[:, :, inner], atol=1e-3)
    shift = out[:, :, inner] - ramp.numpy()[:, :, inner, 0]
    r1 = (shift[:, :, 1:] * shift[:, :, :-1]).sum() / (shift[:, :, :-1] ** 2).sum()
    count = shift[:, :, 1:].size
    assert abs(r1 - phi) < 5 * math.sqrt((1 - phi**2) / count)
    assert abs(shift.var() / (sigma**2 / (1 - phi**2)) - 1) < 0.1
    # the series runs on across line ends: last pixel of a line -> first pixel of the next
    ends, starts = dx[:, :-1, -1].ravel(), dx[:, 1:, 0].ravel()
    assert abs((ends * starts).sum() / (ends**2).sum() - phi) < 5 * math.sqrt((1 - phi**2) / ends.size)
    still = noise_stem.scan_jitter(ramp, 0.0, phi, 0.0, phi, SEED).numpy()
    assert np.allclose(still, ramp.numpy(), atol=1e-5)


def test_scan_y_jitter_moves_whole_lines_by_an_ar1_series_over_lines():
    n, h, w, sigma, phi = 64, 64, 40, 0.5, 0.5
    ramp = tf.broadcast_to(tf.range(h, dtype=tf.float32)[None, :, None, None], [n, h, w, 1])
    out = noise_stem.scan_jitter(ramp, 0.0, 0.0, sigma, phi, SEED).numpy()[..., 0]
    shift = out[:, 20:-20] - ramp.numpy()[:, 20:-20, :, 0]
    assert np.allclose(shift, shift[:, :, :1], atol=1e-3)  # one displacement per line
    rows = shift[:, :, 0]
    r1 = (rows[:, 1:] * rows[:, :-1]).sum() / (rows[:, :-1] ** 2).sum()
    assert abs(r1 - phi) < 5 * math.sqrt((1 - phi**2) / rows.size)


@pytest.mark.parametrize("beta,gamma,theta", [(0.8, 6.0, 0.4), (2.0, 20.0, 1.2), (4.0, 40.0, 1.5)])
def test_readout_psf_integrates_to_one(beta, gamma, theta):
    s = np.linspace(0.0, 60.0 * beta, 400001)
    values = noise_stem.readout_psf(tf.constant(s, tf.float64), beta, gamma, tf.constant(theta, tf.float64)).numpy()
    assert abs(np.trapezoid(values, s) - 1.0) < 1e-4


def test_fast_scan_kernel_is_normalised_and_blur_keeps_constants():
    kernel = noise_stem.fast_scan_kernel([1.0, 3.0], [1.0, 2.0], [8.0, 30.0], [0.5, 1.2], length=32).numpy()
    assert np.allclose(kernel.sum(axis=1), 1.0, atol=1e-5)
    x = tf.fill([2, 8, 40, 1], 3.0)
    out = noise_stem.fast_scan_blur(x, 1.0, 1.0, 8.0, 0.5, 32).numpy()
    assert np.allclose(out, 3.0, atol=1e-4)
    # causality: an impulse only spreads to the right (later in the scan)
    impulse = np.zeros([1, 1, 40, 1], np.float32)
    impulse[0, 0, 5, 0] = 1.0
    spread = noise_stem.fast_scan_blur(impulse, 1.0, 1.0, 8.0, 0.5, 32).numpy()[0, 0, :, 0]
    assert np.allclose(spread[:5], 0.0) and spread[5:].sum() == pytest.approx(1.0, abs=1e-5)


def test_mtf_is_positive_and_decreasing():
    from tfstem.synth.configs import TEMNoiseConfig
    from tfstem.synth.distortion import sample_mtf_parameters

    a, b, c = sample_mtf_parameters(SEED, 64, TEMNoiseConfig())
    assert bool(tf.reduce_all(noise_tem.mtf_is_valid(a, b, c)))
    m = noise_tem.mtf(64, 64, a, b, c).numpy()
    assert np.allclose(m[:, 0, 0], 1.0)
    profile = m[:, 0, :33]  # along u from 0 to Nyquist
    assert np.all(profile > 0) and np.all(np.diff(profile, axis=1) <= 1e-7)
    # a negative second Gaussian that is wider than the first one makes MTF_r negative: must be rejected
    assert not bool(noise_tem.mtf_is_valid([1.5], [0.2], [1.0])[0])


def test_quantization_produces_integers_over_gain_and_clip_caps():
    x = tf.random.stateless_uniform([2, 16, 16, 1], SEED, maxval=10.0)
    gain = np.array([0.5, 3.0], np.float32)
    q = noise_tem.quantize(x, gain).numpy()
    scaled = q * gain[:, None, None, None]
    assert np.allclose(scaled, np.round(scaled), atol=1e-4)
    assert np.all(np.abs(q - x.numpy()) <= 0.5 / gain[:, None, None, None] + 1e-5)
    c = noise_tem.upper_clip(x, [4.0, 7.0]).numpy()
    assert c[0].max() <= 4.0 and c[1].max() <= 7.0
    below = x.numpy() < 4.0
    assert np.array_equal(c[below], x.numpy()[below])


def test_black_pixel_and_zinger_counts_match_parameters():
    n, count = 400, 12.0
    x = tf.fill([n, 48, 48, 1], 2.0)
    black = noise_tem.black_pixels(x, count, 0, 0.0, SEED, max_steps=0).numpy()
    counts = (black == 0.0).sum(axis=(1, 2, 3))
    assert abs(counts.mean() - count) < 5 * math.sqrt(count / n)  # binomial, p small
    assert set(np.unique(black)) <= {0.0, 2.0}
    zing = noise_tem.zingers(x, count, 0, 5.0, SEED, max_steps=0).numpy()
    zc = (zing == 10.0).sum(axis=(1, 2, 3))
    assert abs(zc.mean() - count) < 5 * math.sqrt(count / n)
    # random walks grow regions: at most steps + 1 pixels per point, more than the points alone
    walked = noise_tem.black_pixels(x, count, 4, 0.0, SEED, max_steps=4).numpy()
    wc = (walked == 0.0).sum(axis=(1, 2, 3))
    assert counts.mean() < wc.mean() <= 5 * counts.mean()


def test_row_lines_replace_segments_with_scaled_means():
    x = tf.random.stateless_uniform([16, 32, 64, 1], SEED, minval=1.0, maxval=2.0)
    out = noise_stem.row_lines(x, 3, 3, 0.5, (0.5, 1.5), SEED).numpy()
    xn = x.numpy()
    changed_rows = (out != xn).any(axis=2)[..., 0].sum(axis=1)
    assert changed_rows.max() <= 3 and changed_rows.mean() > 2.0
    for i in range(16):
        for r in np.nonzero((out[i] != xn[i]).any(axis=1)[:, 0])[0]:
            values = np.unique(out[i, r][out[i, r] != xn[i, r]])
            assert values.size <= 3  # one value per overlapping segment
            assert np.all((values >= 0.5) & (values <= 3.0))  # factor [0.5, 1.5] x mean in [1, 2]


def test_reset_noise_is_constant_along_rows():
    x = tf.zeros([64, 32, 48, 1])
    out = noise_tem.reset_noise(x, 0.7, SEED).numpy()
    assert np.allclose(out.std(axis=2), 0.0, atol=1e-6)
    offsets = out[:, :, 0, 0]
    assert abs(offsets.std() / 0.7 - 1) < 5 * math.sqrt(0.5 / offsets.size)


def test_thermal_fixed_pattern_dark_current_and_flicker_amplitudes():
    x = tf.fill([16, 64, 64, 1], 4.0)
    size = 16 * 64 * 64
    thermal = noise_tem.thermal_noise(x, 1.5, SEED).numpy() - 4.0
    assert abs(thermal.std() / 1.5 - 1) < 5 * math.sqrt(0.5 / size)
    fpn = (noise_tem.fixed_pattern_noise(x, 0.05, SEED).numpy() - 4.0) / 4.0
    assert abs(fpn.std() / 0.05 - 1) < 5 * math.sqrt(0.5 / size)
    mean, std, hot = 2.0, 0.5, 0.01
    dark = noise_tem.dark_current_noise(tf.zeros([16, 64, 64, 1]), mean, std, hot, SEED).numpy()
    expected = mean + hot * (mean + 6.5 * std)  # log-normal body + uniform(mu+5s, mu+8s) hot pixels
    assert np.all(dark == np.round(dark))
    assert abs(dark.mean() - expected) < 5 * math.sqrt((expected + std**2 + 1) / size)
    flicker = noise_tem.flicker_noise(tf.zeros([4, 64, 64, 1]), 0.8, SEED).numpy()
    assert np.allclose(flicker.std(axis=(1, 2, 3)), 0.8, rtol=1e-3)


def _spectral_slope(field):
    """Least-squares slope of log power against log radial frequency over 0.02-0.4 cycles/pixel, [N, H, W] input."""
    power = (np.abs(np.fft.fft2(field)) ** 2).mean(axis=0)
    fy = np.fft.fftfreq(field.shape[1])[:, None]
    fx = np.fft.fftfreq(field.shape[2])[None, :]
    f = np.sqrt(fy**2 + fx**2)
    band = (f > 0.02) & (f < 0.4)
    return np.polyfit(np.log(f[band]), np.log(power[band]), 1)[0]


def test_flicker_noise_power_spectrum_falls_as_one_over_f():
    """Eq. 35 is "1/f noise or pink noise": the fitted log-log slope of the power spectrum is -1. Dividing the
    amplitude by f (the old code, and exponent=2 here) gives -2."""
    field = noise_tem.flicker_noise(tf.zeros([16, 128, 128, 1]), 0.8, SEED).numpy()[..., 0]
    assert abs(_spectral_slope(field) + 1.0) < 0.1
    brown = noise_tem.flicker_noise(tf.zeros([16, 128, 128, 1]), 0.8, SEED, exponent=2.0).numpy()[..., 0]
    assert abs(_spectral_slope(brown) + 2.0) < 0.1


def test_postprocess_ops():
    x = tf.random.stateless_uniform([4, 32, 32, 1], SEED)
    assert np.allclose(postprocess.gaussian_blur(x, 0.0).numpy(), x.numpy())
    blurred = postprocess.gaussian_blur(x, 1.0).numpy()
    assert blurred.std() < 0.6 * x.numpy().std()
    assert abs(blurred.mean() - x.numpy().mean()) < 1e-3
    y = x * 0.5
    xa, ya = postprocess.annotations([x, y], SEED, probability_per_mark=1.0)
    changed_x = xa.numpy() != x.numpy()
    changed_y = ya.numpy() != y.numpy()
    assert changed_x.any() and np.array_equal(xa.numpy()[changed_x], ya.numpy()[changed_x])
    xc, yc = postprocess.crop_fill([x, y], SEED, keep_fraction=0.5)
    cut = xc.numpy() != x.numpy()
    assert cut.any() and not cut[:, 10:22, 10:22].any()  # the central half of the area is protected
    assert np.array_equal(xc.numpy()[cut], yc.numpy()[cut])
    xt, yt = postprocess.random_linear_transform([x, x], SEED)
    assert np.array_equal(xt.numpy(), yt.numpy()) and not np.allclose(xt.numpy(), x.numpy())


def test_linear_transform_is_the_same_with_and_without_xla():
    """The fused TensorFlow kernel (outside XLA) and the gather path (under XLA) interpolate alike, borders
    included; a shift by a whole pixel mirrors the edge column (symmetric border)."""
    x = tf.random.stateless_uniform([3, 24, 20, 2], SEED)
    # XLA draws other random numbers than the CPU kernels, so the maps are fixed here: rotation + shear, scale
    # + shear, and a large rotation that samples far outside the frame
    maps = tf.constant([[[0.9, 0.3], [-0.25, 1.1]], [[1.2, 0.0], [0.15, 0.8]], [[-0.6, 0.8], [-0.8, -0.6]]])
    run = lambda v: postprocess.linear_resample([v, v[..., :1]], maps)  # noqa: E731
    fused = tf.function(run, jit_compile=False)(x)
    xla = tf.function(run, jit_compile=True)(x)
    for a, b in zip(fused, xla):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=2e-5)
    assert fused[0].shape == (3, 24, 20, 2) and fused[1].shape == (3, 24, 20, 1)
    np.testing.assert_array_equal(fused[0].numpy()[..., :1], fused[1].numpy())
    # symmetric border of the gather path: sampling column -1 reads column 0, column -2 reads column 1
    from tfstem.synth import _resample

    rows = tf.broadcast_to(tf.range(24, dtype=tf.float32)[None, :, None], [3, 24, 20])
    cols = tf.broadcast_to(tf.range(20, dtype=tf.float32)[None, None, :] - 2.0, [3, 24, 20])
    shifted = _resample.bilinear_sample(x, rows, cols).numpy()
    np.testing.assert_array_equal(shifted[:, :, 0], x.numpy()[:, :, 1])
    np.testing.assert_array_equal(shifted[:, :, 1], x.numpy()[:, :, 0])
    np.testing.assert_array_equal(shifted[:, :, 2:], x.numpy()[:, :, :18])


OPS = {
    "poisson": lambda x, s: poisson(5.0 * x, s),
    "shot_noise": lambda x, s: noise_tem.shot_noise(x, 10.0, s),
    "mtf": lambda x, s: noise_tem.apply_mtf(x, 0.5, 0.3, 0.8),
    "fixed_pattern": lambda x, s: noise_tem.fixed_pattern_noise(x, 0.05, s),
    "dark_current": lambda x, s: noise_tem.dark_current_noise(x, 1.0, 0.5, 1e-3, s),
    "thermal": lambda x, s: noise_tem.thermal_noise(x, 1.0, s),
    "flicker": lambda x, s: noise_tem.flicker_noise(x, 1.0, s),
    "reset": lambda x, s: noise_tem.reset_noise(x, 1.0, s),
    "black": lambda x, s: noise_tem.black_pixels(x, 4.0, 2, 0.0, s, max_steps=2),
    "zinger": lambda x, s: noise_tem.zingers(x, 4.0, 2, 3.0, s, max_steps=2),
    "clip": lambda x, s: noise_tem.upper_clip(x, 0.5),
    "quantize": lambda x, s: noise_tem.quantize(x, 3.0),
    "jitter": lambda x, s: noise_stem.scan_jitter(x, 1.0, 0.5, 1.0, 0.5, s),
    "pmt": lambda x, s: noise_stem.pmt_noise(x, 10.0, s),
    "fast_scan": lambda x, s: noise_stem.fast_scan_blur(x, 1.0, 1.0, 8.0, 0.5, 8),
    "row_lines": lambda x, s: noise_stem.row_lines(x, 2, 2, 0.5, (0.5, 1.5), s),
    "linear_transform": lambda x, s: postprocess.random_linear_transform([x], s)[0],
    "blur": lambda x, s: postprocess.gaussian_blur(x, 0.7),
    "annotations": lambda x, s: postprocess.annotations([x], s)[0],
    "crop": lambda x, s: postprocess.crop_fill([x], s)[0],
}


@pytest.mark.slow
def test_every_op_runs_in_tf_function_with_and_without_xla():
    """All ops traced into one function (one XLA compilation keeps the test short)."""
    x = tf.random.stateless_uniform([2, 16, 16, 1], SEED)

    def all_ops(x, seed):
        return {name: op(x, seed) for name, op in OPS.items()}

    eager = all_ops(x, SEED)
    graph = tf.function(all_ops, jit_compile=False)(x, SEED)
    xla = tf.function(all_ops, jit_compile=True)(x, SEED)
    for name in OPS:
        for out in (graph[name].numpy(), xla[name].numpy()):
            assert out.shape == (2, 16, 16, 1) and np.all(np.isfinite(out)), name
        # graph mode draws the same random numbers as eager (float rounding of fused ops aside)
        np.testing.assert_allclose(graph[name].numpy(), eager[name].numpy(), rtol=1e-4, atol=1e-4, err_msg=name)
    for name in ("mtf", "clip", "quantize", "fast_scan", "blur"):  # deterministic ops: XLA gives the same values
        np.testing.assert_allclose(xla[name].numpy(), eager[name].numpy(), rtol=1e-4, atol=1e-4, err_msg=name)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_poisson_sampler_is_exact_with_and_without_xla(jit_compile):
    """The static-shape draw (XLA) and the shrinking draw (elsewhere) both follow Poisson(mean) for mixed means."""
    means = tf.constant(np.repeat([3.0, 12.0, 250.0], 30000), tf.float32)
    samples = tf.function(poisson, jit_compile=jit_compile)(means, SEED).numpy()
    for k, mean in enumerate([3.0, 12.0, 250.0]):
        part = samples[k * 30000:(k + 1) * 30000]
        assert _chi_square_pvalue(part, mean) > 1e-4, (jit_compile, mean)
        assert abs(part.mean() - mean) < 5 * math.sqrt(mean / part.size), (jit_compile, mean)
