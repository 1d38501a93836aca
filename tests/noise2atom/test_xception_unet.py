"""Noise2Atom generator: paper structure, size bookkeeping without padding, .keras round trip."""

import keras
import numpy as np
import pytest

from tfstem.noise2atom.xception_unet import (Noise2AtomNormalization, build_denoiser, build_xception_unet)


@pytest.fixture(scope="module")
def small():
    return build_xception_unet(features=4, num_residual_blocks=1, full_resolution_kernels=(1, 3, 5, 7),
                               low_resolution_kernels=(3, 5), name="ms2c")


def test_paper_settings_parameter_count_and_structure():
    model = build_xception_unet()
    # 13.78 M per generator as computed from the released code (anchors.md, section 1b)
    assert model.count_params() == 13_798_625
    convs = [l for l in model.layers if isinstance(l, (keras.layers.Conv2D, keras.layers.Conv2DTranspose))]
    assert convs and all(l.padding == "valid" for l in convs)  # "no zero-paddings"
    strided = [l for l in convs if l.strides == (2, 2)]
    downs = [l for l in strided if isinstance(l, keras.layers.Conv2D) and not isinstance(l, keras.layers.Conv2DTranspose)]
    ups = [l for l in strided if isinstance(l, keras.layers.Conv2DTranspose)]
    assert len(downs) == 3 and all(l.kernel_size == (3, 3) for l in downs)  # depth 3, 3x3 stride-2 conv
    assert len(ups) == 3 and all(l.kernel_size == (4, 4) for l in ups)  # 4x4 stride-2 transposed conv
    kernels = {l.kernel_size[0] for l in convs if l.name.startswith("enc1_xception")}
    assert kernels == {1, 3, 5, 7}
    residual_adds = [l for l in model.layers if l.name.startswith("trunk_res") and l.name.endswith("_add")]
    assert len(residual_adds) == 16
    trunk = model.get_layer("trunk_res16_conv")
    assert trunk.filters == 192
    assert model.layers[-1].activation.__name__ == "tanh"
    norms = [l for l in model.layers if isinstance(l, Noise2AtomNormalization)]
    assert norms and all(l.mode == "instance" for l in norms)
    lrelus = [l for l in model.layers if isinstance(l, keras.layers.LeakyReLU)]
    assert all(abs(l.negative_slope - 0.2) < 1e-7 for l in lrelus)
    # every normalisation is followed by a leaky ReLU
    for norm in norms:
        consumers = [n.operation for n in norm._outbound_nodes]
        assert all(isinstance(c, keras.layers.LeakyReLU) for c in consumers)


@pytest.mark.parametrize("shape", [(1, 32, 32, 1), (2, 40, 24, 1), (1, 64, 8, 1)])
def test_multiples_of_eight_keep_their_size(small, shape):
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype("float32")
    y = small(x).numpy()  # eager call: no per-shape tracing
    assert y.shape == shape
    assert np.all(np.abs(y) < 1)


def test_normalization_modes_statistics():
    x = np.random.default_rng(1).normal(3.0, 2.0, (2, 8, 8, 3)).astype("float32")
    x[..., 1] += 10
    inst = Noise2AtomNormalization("instance")(x).numpy()
    np.testing.assert_allclose(inst.mean(axis=(1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(inst.std(axis=(1, 2)), 1, atol=1e-3)
    rel_layer = Noise2AtomNormalization("released")
    rel = rel_layer(x).numpy()
    np.testing.assert_allclose(rel.mean(axis=(1, 2, 3)), 0, atol=1e-4)
    assert abs(rel[..., 1].mean()) > 0.5  # channels are not normalised separately
    assert rel_layer.gamma.shape == (1,)
    with pytest.raises(ValueError, match="instance"):
        Noise2AtomNormalization("batch")


def test_denoiser_any_size_and_keras_round_trip(small, tmp_path):
    model = build_denoiser(small, minimum=0.0, maximum=10.0)
    assert model.input.name.startswith("image") or model.inputs[0].name.startswith("image")
    x = np.random.default_rng(2).poisson(2.0, (2, 37, 29, 1)).astype("float32")
    y = model(x).numpy()
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    path = tmp_path / "n2a.keras"
    model.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(again(x).numpy(), y, atol=1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="divisible"):
        build_xception_unet(features=6)
    with pytest.raises(ValueError, match="normalization"):
        build_xception_unet(features=8, normalization="batch")
