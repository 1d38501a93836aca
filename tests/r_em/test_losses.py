"""Unit tests of the r_em losses (Eq. 2-15) on hand-computed inputs and NumPy references."""

import numpy as np
import pytest
import tensorflow as tf

from tfstem.r_em import losses as r_em


def _img(a):
    a = np.asarray(a, dtype=np.float32)
    while a.ndim < 4:
        a = a[None] if a.ndim < 3 else a[..., None]
    return tf.constant(a)


def _np_sigmoid_bce(logits, label):
    p = 1.0 / (1.0 + np.exp(-logits))
    return -(label * np.log(p) + (1 - label) * np.log(1 - p))


def test_to_training_space_uses_x_statistics():
    x = _img([[1.0, 3.0], [1.0, 3.0]])  # mean 2, std 1
    y = _img([[2.0, 4.0], [0.0, 2.0]])
    x_n, y_n = r_em.to_training_space(x, y)
    np.testing.assert_allclose(x_n.numpy()[0, ..., 0], [[-1, 1], [-1, 1]], atol=1e-6)
    np.testing.assert_allclose(y_n.numpy()[0, ..., 0], [[0, 2], [-2, 0]], atol=1e-6)
    # Floor: a flat x divides by 0.1, not by 0.
    flat = _img(np.full((2, 2), 5.0))
    _, y_f = r_em.to_training_space(flat, _img(np.full((2, 2), 5.5)))
    np.testing.assert_allclose(y_f.numpy(), 5.0, atol=1e-5)


def test_example_weight_eq5_floor():
    y = tf.concat([_img([[0.0, 4.0], [0.0, 4.0]]), _img(np.full((2, 2), 7.0))], axis=0)
    w = r_em.example_weight(y, sigma_min=0.1).numpy().ravel()
    np.testing.assert_allclose(w, [0.5, 10.0], rtol=1e-6)
    with pytest.raises(ValueError, match="sigma_min"):
        r_em.example_weight(y, sigma_min=0.0)


def test_l1_and_l2_match_hand_values():
    y = _img([[0.0, 4.0], [0.0, 4.0]])  # std 2 -> w = 0.5
    y_g = _img([[1.0, 4.0], [0.0, 2.0]])  # |diff| = 1, 0, 0, 2
    np.testing.assert_allclose(r_em.l1_loss(y, y_g).numpy(), [0.5 * 3 / 4], rtol=1e-6)
    np.testing.assert_allclose(r_em.l1_loss(y, y_g, sigma_min=None).numpy(), [3 / 4], rtol=1e-6)
    np.testing.assert_allclose(r_em.l2_loss(y, y_g).numpy(), [0.25 * 5 / 4], rtol=1e-6)
    np.testing.assert_allclose(r_em.l2_loss(y, y_g, squared_weight=False).numpy(), [0.5 * 5 / 4], rtol=1e-6)
    np.testing.assert_allclose(r_em.l2_loss(y, y_g, sigma_min=None).numpy(), [5 / 4], rtol=1e-6)


def test_l1_is_contrast_invariant(rng):
    y = rng.normal(size=(2, 16, 16, 1)).astype(np.float32)
    y_g = y + 0.3 * rng.normal(size=y.shape).astype(np.float32)
    a = r_em.l1_loss(_img(y), _img(y_g)).numpy()
    b = r_em.l1_loss(_img(7 * y + 3), _img(7 * y_g + 3)).numpy()
    np.testing.assert_allclose(a, b, rtol=1e-5)
    assert np.all(a > 0.1)


def _np_local_whitening(image, window, sigma_min, reference=None):
    """Independent reference of Eq. 7 with TF 'SAME' stride-1 windows (pad (k-1)//2 before)."""
    reference = image if reference is None else reference
    h, w = image.shape
    before = (window - 1) // 2
    out = np.zeros_like(image)
    for i in range(h):
        for j in range(w):
            r0, r1 = max(i - before, 0), min(i - before + window, h)
            c0, c1 = max(j - before, 0), min(j - before + window, w)
            patch = reference[r0:r1, c0:c1]
            out[i, j] = (image[i, j] - patch.mean()) / max(sigma_min, patch.std())
    return out


def test_whitening_transform_constant_is_zero_and_matches_reference(rng):
    flat = _img(np.full((8, 8), 3.7))
    for window in (2, 4, 8, 16):
        np.testing.assert_allclose(r_em.whitening_transform(flat, window).numpy(), 0.0, atol=1e-4)  # float32 rounding / 0.1
    image = rng.normal(size=(6, 7)).astype(np.float32)
    for window in (2, 3, 4):
        got = r_em.whitening_transform(_img(image), window).numpy()[0, ..., 0]
        np.testing.assert_allclose(got, _np_local_whitening(image, window, 0.1), rtol=1e-4, atol=1e-4)
    # Hand value: 1x2 image [0, 2], window 2: the window of pixel 0 is [0, 2] (mean 1, std 1) -> -1;
    # pixel 1's window is [2] alone (std 0 -> floor 0.1) -> 0.
    got = r_em.whitening_transform(_img([[0.0, 2.0]]), 2).numpy().ravel()
    np.testing.assert_allclose(got, [-1.0, 0.0], atol=1e-5)


def test_mlwt_zero_for_identical_positive_otherwise_and_affine_invariant(rng):
    y = rng.normal(size=(2, 32, 32, 1)).astype(np.float32)
    y_g = y + 0.5 * rng.normal(size=y.shape).astype(np.float32)
    np.testing.assert_allclose(r_em.mlwt_loss(_img(y), _img(y)).numpy(), 0.0, atol=1e-6)
    base = r_em.mlwt_loss(_img(y), _img(y_g)).numpy()
    assert base.shape == (2,) and np.all(base > 0.05)
    shifted = r_em.mlwt_loss(_img(5 * y + 2), _img(5 * y_g + 2)).numpy()
    np.testing.assert_allclose(shifted, base, rtol=1e-3)
    # Equal weights (Eq. 8 as printed) differ from the released 1:1.33:1.66:2 weights.
    equal = r_em.mlwt_loss(_img(y), _img(y_g), window_weights=None).numpy()
    assert not np.allclose(equal, base)
    with pytest.raises(ValueError, match="one weight per window"):
        r_em.mlwt_loss(_img(y), _img(y_g), window_weights=(1.0, 2.0))


def test_fourier_loss_zero_for_identical_and_matches_numpy(rng):
    y = rng.normal(size=(2, 16, 16, 1)).astype(np.float32)
    np.testing.assert_allclose(r_em.fourier_loss(_img(y), _img(y)).numpy(), 0.0, atol=1e-7)
    # A single-pixel difference d has a flat spectrum |F| = d: the loss is d^gamma (minus the constant
    # eps^gamma that makes identical images give exactly 0).
    delta = np.zeros((1, 8, 8, 1), np.float32)
    delta[0, 3, 5, 0] = 2.0
    got = r_em.fourier_loss(_img(np.zeros_like(delta)), _img(delta), sigma_min=None).numpy()
    np.testing.assert_allclose(got, [2.0**0.125 - 1e-9**0.125], rtol=1e-5)
    y_g = y + rng.normal(size=y.shape).astype(np.float32)
    expected = np.mean(np.abs(np.fft.rfft2(y[..., 0] - y_g[..., 0])) ** 0.5, axis=(1, 2))
    got = r_em.fourier_loss(_img(y), _img(y_g), gamma=0.5, sigma_min=None).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    with pytest.raises(ValueError, match="gamma"):
        r_em.fourier_loss(_img(y), _img(y), gamma=0.0)


def test_fourier_and_std_gradients_are_finite_at_zero_difference():
    y = tf.constant(np.linspace(0, 1, 64, dtype=np.float32).reshape(1, 8, 8, 1))
    y_g = tf.Variable(y)
    with tf.GradientTape() as tape:
        loss = r_em.fourier_loss(y, y_g) + r_em.std_loss(y, y_g) + r_em.mlwt_loss(y, y_g)
    grad = tape.gradient(loss, y_g)
    assert np.all(np.isfinite(grad.numpy()))


def test_mean_and_std_constraints_hand_values():
    y = _img([[0.0, 2.0], [0.0, 2.0]])  # mean 1, std 1
    y_g = _img([[1.0, 1.0], [1.0, 5.0]])  # mean 2, std sqrt(3)
    np.testing.assert_allclose(r_em.mean_loss(y, y_g, sigma_min=None).numpy(), [1.0], rtol=1e-6)
    np.testing.assert_allclose(r_em.std_loss(y, y_g, sigma_min=None).numpy(), [np.sqrt(3) - 1], rtol=1e-5)
    # Weighted by w_y = 1 / max(0.1, 1) = 1 -> same.
    np.testing.assert_allclose(r_em.mean_loss(y, y_g).numpy(), [1.0], rtol=1e-6)


def test_relativistic_losses_match_numpy(rng):
    c_real = rng.normal(size=(3, 4, 4, 1)).astype(np.float32)
    c_fake = rng.normal(size=(3, 4, 4, 1)).astype(np.float32) - 0.5
    d_real, d_fake = r_em.relativistic_average_probabilities(c_real, c_fake)
    np.testing.assert_allclose(d_real.numpy(), 1 / (1 + np.exp(-(c_real - c_fake.mean()))), rtol=1e-5)
    np.testing.assert_allclose(d_fake.numpy(), 1 / (1 + np.exp(-(c_fake - c_real.mean()))), rtol=1e-5)

    real_logits, fake_logits = c_real - c_fake.mean(), c_fake - c_real.mean()
    # Eq. 12: -log(1 - D(y, y_g)) - log D(y_g, y)
    adv = (-np.log(1 - 1 / (1 + np.exp(-real_logits)))).mean(axis=(1, 2, 3)) + (
        -np.log(1 / (1 + np.exp(-fake_logits)))).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(r_em.relativistic_adversarial_loss(c_real, c_fake).numpy(), adv, rtol=1e-5)
    # Eq. 15 with one-sided smoothing 0.95
    disc = _np_sigmoid_bce(real_logits, 0.95).mean(axis=(1, 2, 3)) + _np_sigmoid_bce(fake_logits, 0.0).mean(
        axis=(1, 2, 3))
    np.testing.assert_allclose(r_em.relativistic_discriminator_loss(c_real, c_fake).numpy(), disc, rtol=1e-5)
    eq15 = (-np.log(1 / (1 + np.exp(-real_logits)))).mean(axis=(1, 2, 3)) + (
        -np.log(1 - 1 / (1 + np.exp(-fake_logits)))).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(
        r_em.relativistic_discriminator_loss(c_real, c_fake, label_smoothing=1.0).numpy(), eq15, rtol=1e-5)
    # Explicit (e.g. global-batch) means replace the local ones.
    got = r_em.relativistic_adversarial_loss(c_real, c_fake, real_mean=0.0, fake_mean=0.0).numpy()
    ref = _np_sigmoid_bce(c_real, 0.0).mean(axis=(1, 2, 3)) + _np_sigmoid_bce(c_fake, 1.0).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(got, ref, rtol=1e-5)


def test_loss_weights_presets_and_totals(rng):
    released = r_em.LossWeights()  # L1 x 10 alone: the authors' released loss vector
    assert (released.l1, released.l2, released.mlwt, released.fourier) == (10.0, 0.0, 0.0, 0.0)
    y = _img(rng.normal(size=(2, 16, 16, 1)))
    y_g = _img(rng.normal(size=(2, 16, 16, 1)))
    terms = r_em.pixel_wise_losses(y, y_g, released)
    assert set(terms) == {"l1", "pixel_wise"}
    np.testing.assert_allclose(terms["pixel_wise"].numpy(), 10 * r_em.l1_loss(y, y_g).numpy(), rtol=1e-6)
    gan = r_em.LossWeights(l1=10.0, l2=2.0, mlwt=1.0, fourier=0.5, mean=1.0, std=1.0, adversarial=5e-4)
    terms = r_em.pixel_wise_losses(y, y_g, gan)
    assert set(terms) == set(r_em.PIXEL_TERMS) | {"pixel_wise"}
    expected = sum(getattr(gan, k) * terms[k].numpy() for k in r_em.PIXEL_TERMS)
    np.testing.assert_allclose(terms["pixel_wise"].numpy(), expected, rtol=1e-5)
    adv = tf.constant([1.0, 2.0])
    np.testing.assert_allclose(r_em.generator_loss(terms["pixel_wise"], adv, adversarial_weight=0.5).numpy(),
                               expected + [0.5, 1.0], rtol=1e-5)
    assert r_em.LossWeights.from_dict(gan.to_dict()) == gan
    with pytest.raises(ValueError, match="non-negative"):
        r_em.LossWeights(l1=-1.0)
    with pytest.raises(ValueError, match="unknown loss weight"):
        r_em.LossWeights.from_dict({"lambda_l1": 1.0})
    with pytest.raises(ValueError, match="at least one pixel-wise"):
        r_em.LossWeights(l1=0.0)
