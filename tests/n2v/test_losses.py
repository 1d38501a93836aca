"""Masked MSE of Noise2Void: only masked pixels count."""

import numpy as np
import tensorflow as tf

from tfstem.n2v.losses import masked_mse, packed_masked_mse


def _data(seed=0):
    rng = np.random.default_rng(seed)
    target = rng.normal(size=(2, 32, 32, 2)).astype(np.float32)
    prediction = rng.normal(size=(2, 32, 32, 2)).astype(np.float32)
    mask = np.zeros((2, 32, 32, 1), np.float32)
    mask[0, 3, 5] = mask[0, 20, 30] = mask[1, 7, 7] = 1
    return target, prediction, mask


def test_value_is_mean_over_masked_pixels_and_all_channels():
    target, prediction, mask = _data()
    where = np.broadcast_to(mask, target.shape).astype(bool)
    expected = np.mean((prediction[where] - target[where]) ** 2)
    assert np.isclose(float(masked_mse(target, prediction, mask)), expected, rtol=1e-6)


def test_changing_an_unmasked_target_does_not_change_the_loss():
    target, prediction, mask = _data(1)
    before = float(masked_mse(target, prediction, mask))
    changed = target.copy()
    changed[0, 4, 5, :] += 100.0  # unmasked pixel
    changed[1, :, :, 1] -= 50.0 * (1 - mask[1, :, :, 0])  # every unmasked pixel of a channel
    assert float(masked_mse(changed, prediction, mask)) == before
    changed[0, 3, 5, 1] += 1.0  # a masked pixel, BF channel
    assert float(masked_mse(changed, prediction, mask)) != before


def test_empty_mask_gives_zero_not_nan():
    target, prediction, mask = _data(2)
    assert float(masked_mse(target, prediction, np.zeros_like(mask))) == 0.0


def test_packed_form_equals_unpacked():
    target, prediction, mask = _data(3)
    packed = tf.concat([target, mask], axis=-1)
    assert np.isclose(float(packed_masked_mse(packed, prediction)), float(masked_mse(target, prediction, mask)))
