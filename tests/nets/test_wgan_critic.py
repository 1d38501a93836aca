"""Critic D: 4 downsampling modules (3x3 convT, 3x3 stride-2 conv, 25 % dropout) and a dense output."""

import keras
import numpy as np
import pytest

from tfstem.nets.wgan_critic import build_wgan_critic
from tfstem.nets.xception_unet import Noise2AtomNormalization


def test_paper_structure():
    model = build_wgan_critic()
    assert model.input_shape == (None, 128, 128, 1) and model.output_shape == (None, 1)
    dropouts = [l for l in model.layers if isinstance(l, keras.layers.Dropout)]
    assert len(dropouts) == 4 and all(l.rate == 0.25 for l in dropouts)
    convs = [l for l in model.layers if type(l) is keras.layers.Conv2D]
    convts = [l for l in model.layers if isinstance(l, keras.layers.Conv2DTranspose)]
    assert [l.strides for l in convs] == [(2, 2)] * 4 and all(l.kernel_size == (3, 3) for l in convs + convts)
    assert len(convts) == 4 and all(l.padding == "valid" for l in convs + convts)
    assert [l.filters for l in convs] == [64, 64, 128, 128]
    dense = model.layers[-1]
    assert isinstance(dense, keras.layers.Dense) and dense.units == 1
    assert dense.kernel.shape == (8 * 8 * 128, 1)
    norms = [l for l in model.layers if isinstance(l, Noise2AtomNormalization)]
    assert len(norms) == 6 and not any(l.name.startswith("critic_down1") for l in norms)  # first without norm
    assert 600_000 < model.count_params() < 700_000  # ~0.64 M (anchors.md)


def test_small_critic_runs_and_dropout_is_active_in_training():
    model = build_wgan_critic(crop_size=32, filters=(4, 4, 8, 8))
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 1)).astype("float32")
    a = model(x, training=False).numpy()
    np.testing.assert_allclose(a, model(x, training=False).numpy())
    assert not np.allclose(model(x, training=True).numpy(), a)


def test_bad_crop_size():
    with pytest.raises(ValueError, match="multiple of 16"):
        build_wgan_critic(crop_size=120)
