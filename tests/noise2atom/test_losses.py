"""Noise2Atom losses (Eq. 1-8) against hand-computed values."""

import numpy as np
import pytest
import tensorflow as tf

from tfstem.noise2atom import losses as L
from tfstem.noise2atom.lowpass import build_lowpass


def test_wasserstein_is_mean_of_product():
    assert float(L.wasserstein(-1.0, [[2.0], [4.0]])) == pytest.approx(-3.0)
    assert float(L.critic_loss(tf.constant([[2.0]]), tf.constant([[0.5]]), tf.constant(0.1))) == pytest.approx(
        -2.0 + 0.5 + 10 * 0.1)
    assert float(L.generator_adversarial_loss(tf.constant([[0.5], [1.5]]))) == pytest.approx(-1.0)


def test_gradient_penalty_of_unit_norm_linear_critic_is_zero():
    w = tf.constant(np.random.default_rng(0).normal(size=(1, 8, 8, 1)), tf.float32)
    w = w / tf.norm(w)
    critic = lambda x, training=True: tf.reduce_sum(x * w, axis=[1, 2, 3])[:, None]  # noqa: E731
    x = tf.random.stateless_normal((3, 8, 8, 1), seed=[1, 2])
    assert float(L.gradient_penalty(critic, x)) == pytest.approx(0.0, abs=1e-6)
    critic3 = lambda x, training=True: 3.0 * critic(x)  # noqa: E731  ||grad|| = 3 -> (1 - 3)^2 = 4
    assert float(L.gradient_penalty(critic3, x)) == pytest.approx(4.0, rel=1e-5)


def test_random_interpolate_lies_between_and_is_seeded():
    real, fake = tf.ones((4, 8, 8, 1)), -tf.ones((4, 8, 8, 1))
    a = L.random_interpolate(real, fake, seed=[3, 4], mode="per_sample").numpy()
    np.testing.assert_array_equal(a, L.random_interpolate(real, fake, seed=[3, 4], mode="per_sample").numpy())
    assert a.min() >= -1 and a.max() <= 1
    assert np.allclose(a, a[:, :1, :1, :])  # one u per sample
    p = L.random_interpolate(real, fake, seed=[3, 4]).numpy()
    np.testing.assert_array_equal(p, L.random_interpolate(real, fake, seed=[3, 4], mode="per_pixel").numpy())
    assert p.min() >= -1 and p.max() <= 1
    assert p[0].std() > 0.1  # the default: a u per pixel (Eq. 4's tensor u, as the released code draws it)


def test_cycle_losses():
    x = tf.random.stateless_uniform((2, 40, 40, 1), seed=[5, 6], minval=-1, maxval=1)
    assert float(L.cycle_loss(x, x)) == 0.0
    assert float(L.cycle_loss(x, x + 0.25)) == pytest.approx(0.25, rel=1e-5)
    lp = build_lowpass()
    assert float(L.low_frequency_cycle_loss(lp, x, x)) == 0.0
    # a constant offset passes the normalised low-pass unchanged
    assert float(L.low_frequency_cycle_loss(lp, x, x + 0.5)) == pytest.approx(0.5, rel=1e-4)
    # zero-mean checkerboard noise is (almost) removed by the low-pass: lfc << pixel MAE
    checker = 0.5 * (-1.0) ** (np.add.outer(np.arange(40), np.arange(40)))[None, :, :, None]
    noisy = x + tf.constant(checker, tf.float32)
    assert float(L.low_frequency_cycle_loss(lp, x, noisy)) < 0.01 * float(L.cycle_loss(x, noisy))


def test_full_objective_weights():
    assert float(L.full_objective(1.0, 2.0, 3.0)) == pytest.approx(5 * 1 + 1 * 2 + 3)


def test_pooled_correlation_and_sign_anchor_hinge():
    x = tf.random.stateless_normal((2, 16, 16, 1), seed=[7, 8])
    assert float(L.pooled_correlation(x, 3.0 * x + 1.0)) == pytest.approx(1.0, abs=1e-5)
    assert float(L.pooled_correlation(x, -x)) == pytest.approx(-1.0, abs=1e-5)
    assert float(L.pooled_correlation(x, tf.zeros_like(x))) == 0.0  # constant output: no NaN
    # a smooth blob passes the sigma=2 smoothing almost unchanged, so corr(G * s, s) ~ 1 and corr(G * s, -s) ~ -1
    r2 = np.add.outer(np.arange(-16, 16) ** 2, np.arange(-16, 16) ** 2)
    blob = tf.constant(np.exp(-r2 / (2 * 6.0**2))[None, :, :, None], tf.float32)
    assert float(L.sign_anchor_loss(blob, blob, margin=0.2)) == 0.0  # right sign: the hinge is off
    assert float(L.sign_anchor_loss(blob, -blob, margin=0.2)) == pytest.approx(1.2, abs=0.02)  # 0.2 - (-1)
    # white noise: corr(G * s, s) = g(0) / ||g||_2 = 1 / (sigma * sqrt(pi)) = 0.28 for sigma = 2, so the hinge
    # at margin 0.5 is active and equals 0.5 - 0.28 (up to the sampling error of 512 pixels)
    assert 0.5 - float(L.sign_anchor_loss(x, x, margin=0.5)) == pytest.approx(1 / (2 * np.sqrt(np.pi)), abs=0.08)


def test_css_identical_frames_one_independent_noise_near_zero():
    from tfstem.metrics import css, css_pairs

    rng = np.random.default_rng(0)
    frame = rng.uniform(0, 1, (32, 32))
    assert css(np.stack([frame, frame, frame])) == pytest.approx(1.0)
    noise = rng.uniform(0, 1, (4, 64, 64))
    assert abs(css(noise)) < 0.05 and css_pairs(noise).shape == (3,)
    # the same structure under independent noise scores in between
    noisy = frame[None] + rng.normal(0, 0.3, (3, 32, 32))
    assert 0.2 < css(noisy) < 0.9
