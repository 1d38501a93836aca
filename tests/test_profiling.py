"""tfstem.profiling: multiply-adds of Keras models against counts worked out by hand."""

import doctest

import keras
import pytest
from keras import layers

import tfstem.profiling
from tfstem.layers import PadToMultiple
from tfstem.profiling import multiply_adds, multiply_adds_by_layer, multiply_adds_per_pixel


def _model(*stack, channels=3):
    x = keras.Input((None, None, channels))
    y = x
    for layer in stack:
        y = layer(y)
    return keras.Model(x, y)


def test_conv2d_same_and_strided():
    # 3x3, 3 -> 8, "same" on 10x12: 120 px x 9 x 3 x 8; then 4x4 stride 2 "valid", 8 -> 5: 4 x 5 outputs
    model = _model(layers.Conv2D(8, 3, padding="same"), layers.Conv2D(5, 4, strides=2))
    assert multiply_adds(model, (1, 10, 12, 3)) == 120 * 9 * 3 * 8 + 4 * 5 * 16 * 8 * 5


def test_batch_scales_and_per_pixel():
    model = _model(layers.Conv2D(8, 3, padding="same"))
    assert multiply_adds(model, (3, 16, 16, 3)) == 3 * multiply_adds(model, (1, 16, 16, 3))
    assert multiply_adds_per_pixel(model, (3, 16, 16, 3)) == 9 * 3 * 8


def test_grouped_conv():
    model = _model(layers.Conv2D(8, 3, padding="same", groups=4), channels=4)
    assert multiply_adds(model, (1, 6, 6, 4)) == 36 * 9 * (4 // 4) * 8


def test_transposed_conv_counts_input_positions():
    # 4x4 stride 2 "valid": 5x5 in -> 12x12 out; each input pixel meets the whole kernel once
    model = _model(layers.Conv2DTranspose(6, 4, strides=2), channels=2)
    assert multiply_adds(model, (1, 5, 5, 2)) == 25 * 16 * 2 * 6


def test_depthwise_separable_dense():
    model = _model(layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same"),
                   layers.SeparableConv2D(7, 5, depth_multiplier=1), layers.Dense(4), channels=3)
    depthwise = 64 * 9 * 3 * 2                      # 8x8 out, 3 channels x 2
    separable = 16 * (25 * 6 * 1 + 6 * 1 * 7)       # 4x4 out ("valid" 5x5), then pointwise 6 -> 7
    dense = 16 * 7 * 4
    assert multiply_adds_by_layer(model, (1, 8, 8, 3)) == {
        model.layers[1].name: depthwise, model.layers[2].name: separable, model.layers[3].name: dense}


def test_nested_functional_and_sequential_models_are_walked():
    inner = _model(layers.Conv2D(4, 3, padding="same", name="inner_conv"), channels=2)
    inner.name = "inner"
    sequential = keras.Sequential([keras.Input((None, None, 4)), layers.Conv2D(1, 1, name="head")], name="seq")
    x = keras.Input((None, None, 2))
    y = layers.AveragePooling2D(2)(x)
    model = keras.Model(x, sequential(inner(y)))
    counts = multiply_adds_by_layer(model, (1, 8, 8, 2))
    # the inner model runs at the pooled 4x4 size
    assert counts == {"inner/inner_conv": 16 * 9 * 2 * 4, "seq/head": 16 * 4 * 1}


def test_shared_layer_counts_each_call():
    conv = layers.Conv2D(2, 1, name="shared")
    x = keras.Input((None, None, 2))
    model = keras.Model(x, conv(conv(x)))
    assert multiply_adds_by_layer(model, (1, 4, 4, 2)) == {"shared": 64, "shared#2": 64}


def test_padding_to_a_multiple_is_counted_at_the_padded_size():
    model = _model(PadToMultiple(8, mode="zero"), layers.Conv2D(1, 3, padding="same"), channels=1)
    assert multiply_adds(model, (1, 13, 9, 1)) == 16 * 16 * 9


def test_uncounted_kernel_warns():
    x = keras.Input((None, None, 4))
    model = keras.Model(x, layers.MultiHeadAttention(1, 2)(x, x))
    with pytest.warns(UserWarning, match="not counted"):
        multiply_adds(model, (1, 2, 2, 4))


def test_input_shape_errors_echo_the_value():
    model = _model(layers.Conv2D(1, 1), channels=3)
    with pytest.raises(ValueError, match=r"received input_shape=\(8, 8, 3\)"):
        multiply_adds(model, (8, 8, 3))
    with pytest.raises(ValueError, match="does not fit"):
        multiply_adds(model, (1, 8, 8, 2))


def test_cgrdn_at_256():
    from tfstem.r_em.cgrdn import build_cgrdn

    # features 64, growth 32, 8 layers x 4 RDBs x 4 GRDBs: ~115 GMAC per 256x256 frame (issue 18)
    assert multiply_adds(build_cgrdn(), (1, 256, 256, 1)) == 115_234_308_096


def test_docstring_examples():
    assert doctest.testmod(tfstem.profiling).failed == 0
