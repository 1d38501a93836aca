"""The dual-channel N2V U-Net: architecture of the paper, the model contract, serialisation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfstem.n2v.unet import BilinearUpsampling2D, build_n2v_unet, build_n2v_unet_core


def _convs(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def test_paper_architecture_depth_features_kernels_pooling():
    core = build_n2v_unet_core(channels=2)  # paper defaults: depth 4, 64 features, 5x5 first layer
    convs = {layer.name: layer for layer in _convs(core)}
    # first level: two 5x5 convolutions with 64 features
    assert convs["enc0_conv1"].kernel_size == (5, 5) and convs["enc0_conv1"].filters == 64
    assert convs["enc0_conv2"].kernel_size == (5, 5) and convs["enc0_conv2"].filters == 64
    # every other convolution 3x3 except the 1x1 head
    others = [c for name, c in convs.items() if name not in ("enc0_conv1", "enc0_conv2", "head")]
    assert others and all(c.kernel_size == (3, 3) for c in others)
    # features double per level: 64, 128, 256, 512, bottleneck 1024; decoder mirrors them
    assert [convs[f"enc{i}_conv2"].filters for i in range(1, 4)] == [128, 256, 512]
    assert convs["bottleneck_conv2"].filters == 1024
    assert [convs[f"dec{i}_conv2"].filters for i in range(3, -1, -1)] == [512, 256, 128, 64]
    # depth 4: four average poolings, no max pooling, no transposed convolution
    pools = [layer for layer in core.layers if isinstance(layer, keras.layers.AveragePooling2D)]
    assert len(pools) == 4 and all(p.pool_size == (2, 2) for p in pools)
    assert not any(isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.Conv2DTranspose)) for layer in core.layers)
    assert sum(isinstance(layer, BilinearUpsampling2D) for layer in core.layers) == 4
    # skip connections at every level, including the outermost one
    assert sum(isinstance(layer, keras.layers.Concatenate) for layer in core.layers) == 4
    # linear 1x1 head with as many outputs as inputs
    head = convs["head"]
    assert head.kernel_size == (1, 1) and head.filters == 2 and head.activation.__name__ == "linear"
    assert core.count_params() == 31_446_018


def test_average_pooling_is_the_papers_bilinear_halving():
    x = tf.random.stateless_normal([2, 8, 12, 3], seed=[1, 2])
    pooled = keras.layers.AveragePooling2D(2)(x)
    resized = tf.image.resize(x, [4, 6], method="bilinear", antialias=False)
    np.testing.assert_allclose(pooled.numpy(), resized.numpy(), atol=1e-6)


def test_bilinear_upsampling_matches_resize_and_has_no_chequerboard():
    x = tf.random.stateless_normal([1, 5, 7, 2], seed=[3, 4])
    up = BilinearUpsampling2D(2)(x)
    assert up.shape == (1, 10, 14, 2)
    np.testing.assert_allclose(up.numpy(), tf.image.resize(x, [10, 14]).numpy(), atol=1e-6)
    flat = BilinearUpsampling2D(2)(tf.ones([1, 4, 4, 1]))
    np.testing.assert_allclose(flat.numpy(), 1.0, atol=1e-6)  # a constant stays constant


@pytest.mark.parametrize("shape", [(2, 32, 32, 2), (1, 30, 37, 2), (2, 17, 16, 1)])
def test_model_contract_any_size_raw_intensities(shape):
    model = build_n2v_unet(channels=shape[-1], features=4, depth=2)
    assert model.inputs[0].name.startswith("image")
    x = np.random.default_rng(0).normal(100.0, 20.0, size=shape).astype(np.float32)
    y = model.predict(x, verbose=0)
    assert y.shape == shape and y.dtype == np.float32 and np.all(np.isfinite(y))


def test_normalisation_inside_the_graph_makes_output_affine_equivariant():
    model = build_n2v_unet(channels=2, features=4, depth=2)
    x = np.random.default_rng(1).random((2, 32, 32, 2)).astype(np.float32)
    y = model.predict(x, verbose=0)
    y_scaled = model.predict(7.0 * x + 300.0, verbose=0)
    np.testing.assert_allclose(y_scaled, 7.0 * y + 300.0, rtol=1e-4, atol=1e-2)


def test_keras_round_trip(tmp_path):
    model = build_n2v_unet(channels=2, features=4, depth=2)
    x = np.random.default_rng(2).random((2, 32, 32, 2)).astype(np.float32)
    path = tmp_path / "n2v.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_wrapping_a_core_shares_its_weights():
    core = build_n2v_unet_core(channels=1, features=4, depth=3)
    model = build_n2v_unet(core=core)
    assert model.get_layer(core.name) is core
    x = np.random.default_rng(3).random((1, 40, 24, 1)).astype(np.float32)
    assert model.predict(x, verbose=0).shape == x.shape


@pytest.mark.parametrize("kwargs", [dict(channels=0), dict(depth=0), dict(first_kernel_size=4),
                                    dict(features=6, group_norm_groups=4)])
def test_bad_arguments_raise_value_error(kwargs):
    with pytest.raises(ValueError):
        build_n2v_unet_core(**kwargs)
