"""Small Keras layers shared by the networks: size padding/cropping and per-image standardisation.

Every network of tfstem takes raw intensities, ``float32 [N, H, W, C]`` with any H and W, and returns
the same shape: the padding to the network's stride and any intensity normalisation live *inside* the
graph, so that ``tfstem.restore``, the exported SavedModel and TF Serving need nothing else.
"""

from __future__ import annotations

import keras
import tensorflow as tf

PAD_MODES = ("mean", "reflect", "symmetric", "zero")


@keras.saving.register_keras_serializable(package="tfstem")
class PadToMultiple(keras.layers.Layer):
    """Pad H and W at the bottom/right up to the next multiple of ``multiple``.

    Parameters
    ----------
    multiple : int
        Spatial size multiple the wrapped network needs (2 for CGRDN, 16 for a depth-4 U-Net).
    mode : {"mean", "reflect", "symmetric", "zero"}
        ``"mean"`` fills the new rows/columns with each image's and channel's mean, as the r_em
        authors' ``predict`` does for odd sizes; ``"reflect"``/``"symmetric"`` mirror the border.

    Input: ``float32 [N, H, W, C]``. Output: ``float32 [N, H', W', C]`` with H' = ceil(H / multiple) *
    multiple. Pair with :class:`CropToReference` to return to ``[N, H, W, C]``.
    """

    def __init__(self, multiple: int = 2, mode: str = "mean", **kwargs):
        super().__init__(**kwargs)
        if int(multiple) < 1:
            raise ValueError(f"multiple must be a positive integer; received multiple={multiple}.")
        if mode not in PAD_MODES:
            raise ValueError(f"mode must be one of {PAD_MODES}; received mode={mode!r}.")
        self.multiple = int(multiple)
        self.mode = mode

    def call(self, x):
        if self.multiple == 1:
            return x
        shape = tf.shape(x)
        pad_h = (-shape[1]) % self.multiple
        pad_w = (-shape[2]) % self.multiple
        paddings = [[0, 0], [0, pad_h], [0, pad_w], [0, 0]]
        if self.mode == "mean":
            mean = tf.reduce_mean(x, axis=[1, 2], keepdims=True)
            padded = tf.pad(x - mean, paddings) + mean
        elif self.mode == "zero":
            padded = tf.pad(x, paddings)
        elif self.mode == "reflect":
            padded = _reflect_pad_any_size(x, pad_h, pad_w)
        else:
            padded = tf.pad(x, paddings, mode="SYMMETRIC")
        return _keep_channels(padded, x.shape[-1])

    def compute_output_shape(self, input_shape):
        # known sizes stay known (tfstem.profiling counts the layers after this one at their padded size)
        padded = [None if n is None else -(-n // self.multiple) * self.multiple for n in input_shape[1:3]]
        return (input_shape[0], *padded, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple, "mode": self.mode}


def _keep_channels(padded, channels):
    """``padded`` with its channel count known again, when ``channels`` is known.

    A pad by computed amounts leaves every axis unknown to the graph converters (``tf.lite``'s MLIR shape
    inference), which then cannot lower the next convolution; a reshape to ``[N, H', W', channels]`` (no
    data moved) restores what is known.
    """
    if channels is None:
        return padded
    shape = tf.shape(padded)
    return tf.reshape(padded, tf.stack([shape[0], shape[1], shape[2], int(channels)]))


def _reflect_pad_any_size(x, pad_h, pad_w):
    """Reflect padding that also works when the pad exceeds the image (tiny images): repeat symmetric."""
    shape = tf.shape(x)
    safe = tf.logical_and(pad_h < shape[1], pad_w < shape[2])
    paddings = [[0, 0], [0, pad_h], [0, pad_w], [0, 0]]
    return tf.cond(
        safe,
        lambda: tf.pad(x, paddings, mode="REFLECT"),
        lambda: _tile_pad(x, pad_h, pad_w),
    )


def _tile_pad(x, pad_h, pad_w):
    """Periodic padding for images smaller than the pad, where a reflection is undefined."""
    shape = tf.shape(x)
    reps_h = pad_h // shape[1] + 2
    reps_w = pad_w // shape[2] + 2
    tiled = tf.tile(x, [1, reps_h, reps_w, 1])
    return tiled[:, : shape[1] + pad_h, : shape[2] + pad_w, :]


@keras.saving.register_keras_serializable(package="tfstem")
class CropToReference(keras.layers.Layer):
    """Crop ``x`` to the height and width of ``reference`` (top-left aligned).

    Inputs: ``[x, reference]``, both ``[N, *, *, C]``. Output: ``x[:, :H_ref, :W_ref, :]``.
    """

    def call(self, inputs):
        x, reference = inputs
        shape = tf.shape(reference)
        return x[:, : shape[1], : shape[2], :]

    def compute_output_shape(self, input_shape):
        x_shape, ref_shape = input_shape
        return (x_shape[0], ref_shape[1], ref_shape[2], x_shape[3])


@keras.saving.register_keras_serializable(package="tfstem")
class StandardizePerImage(keras.layers.Layer):
    """Per image and channel standardisation over H and W, returning the statistics for undoing it.

    ``scale = max(std_multiplier * std(x), std_floor)``; ``x_n = (x - mean) / scale``.

    With ``std_multiplier=1, std_floor=0.1`` this is the r_em authors' ``lay_r_em_pp`` (the floor is
    absolute, in the input's units); with ``std_multiplier=5`` it is the dual-channel N2V
    normalisation (mean / 5·std).

    Input: ``float32 [N, H, W, C]``. Outputs: ``x_n [N, H, W, C]``, ``mean [N, 1, 1, C]``,
    ``scale [N, 1, 1, C]``.
    """

    def __init__(self, std_floor: float = 0.1, std_multiplier: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.std_floor = float(std_floor)
        self.std_multiplier = float(std_multiplier)

    def call(self, x):
        mean, variance = tf.nn.moments(x, axes=[1, 2], keepdims=True)
        scale = tf.maximum(self.std_multiplier * tf.sqrt(variance), self.std_floor)
        return (x - mean) / scale, mean, scale

    def compute_output_shape(self, input_shape):
        stats = (input_shape[0], 1, 1, input_shape[3])
        return input_shape, stats, stats

    def get_config(self):
        return {**super().get_config(), "std_floor": self.std_floor, "std_multiplier": self.std_multiplier}


@keras.saving.register_keras_serializable(package="tfstem")
class Destandardize(keras.layers.Layer):
    """Undo :class:`StandardizePerImage`: ``y = y_n * scale + mean`` (the r_em ``lay_r_em_out``).

    Inputs: ``[y_n [N, H, W, C], mean [N, 1, 1, C], scale [N, 1, 1, C]]``. Output: ``[N, H, W, C]``.
    """

    def call(self, inputs):
        y_n, mean, scale = inputs
        return y_n * scale + mean

    def compute_output_shape(self, input_shape):
        return input_shape[0]
