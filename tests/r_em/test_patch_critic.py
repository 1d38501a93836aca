"""Tests of the conditional r_em patch critic (Fig. 10)."""

import numpy as np
import pytest
import keras

from tfstem.r_em.patch_critic import build_patch_critic


def test_parameter_count_matches_hand_count():
    critic = build_patch_critic()
    # conv 4x4: 2->64, 64->128, 128->256, 256->512, 512->1 (+biases); instance-norm gamma/beta 128+256+512.
    expected = (16 * 2 * 64 + 64) + (16 * 64 * 128 + 128) + (16 * 128 * 256 + 256) + (16 * 256 * 512 + 512) + (
        16 * 512 + 1) + 2 * (128 + 256 + 512)
    assert critic.count_params() == expected == 2_765_505
    names = [layer.__class__.__name__ for layer in critic.layers]
    assert "BatchNormalization" not in names and "ZeroPadding2D" not in names
    assert names.count("GroupNormalization") == 3


def test_output_is_raw_patch_map_of_input_over_8():
    critic = build_patch_critic(features=8)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 64, 48, 1)).astype("float32")
    y = rng.normal(size=(2, 64, 48, 1)).astype("float32")
    out = critic.predict([x, y], verbose=0)
    assert out.shape == (2, 8, 6, 1)
    # Raw critic values, not probabilities: a scaled input drives them outside [0, 1].
    out_big = critic.predict([x, 50 * y], verbose=0)
    assert out_big.min() < 0 or out_big.max() > 1


def test_full_size_input_gives_32x32():
    critic = build_patch_critic(features=8)
    out = critic.predict([np.zeros((1, 256, 256, 1), "float32")] * 2, verbose=0)
    assert out.shape == (1, 32, 32, 1)


def test_critic_is_conditional_on_distorted_input():
    critic = build_patch_critic(features=8)
    rng = np.random.default_rng(1)
    y = rng.normal(size=(1, 32, 32, 1)).astype("float32")
    x1 = rng.normal(size=(1, 32, 32, 1)).astype("float32")
    out1 = critic.predict([x1, y], verbose=0)
    out2 = critic.predict([x1 + rng.normal(size=x1.shape).astype("float32"), y], verbose=0)
    assert np.abs(out1 - out2).max() > 1e-4


def test_keras_round_trip(tmp_path):
    critic = build_patch_critic(channels=2, features=8)
    path = tmp_path / "critic.keras"
    critic.save(path)
    loaded = keras.models.load_model(path)
    rng = np.random.default_rng(2)
    inputs = [rng.normal(size=(2, 32, 32, 2)).astype("float32") for _ in range(2)]
    np.testing.assert_allclose(loaded.predict(inputs, verbose=0), critic.predict(inputs, verbose=0), rtol=1e-5,
                               atol=1e-6)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="features"):
        build_patch_critic(features=0)
    with pytest.raises(ValueError, match="instance_norm_epsilon"):
        build_patch_critic(instance_norm_epsilon=0.0)
