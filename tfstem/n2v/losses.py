"""Noise2Void's masked mean squared error (Krull et al. 2019; Thornley et al. 2025, "Noise2Void implementation").

The network sees the masked input and is scored only where pixels were masked: changing the target
anywhere else does not change the loss (the blind spot).
"""

from __future__ import annotations

import keras
import tensorflow as tf

__all__ = ["masked_mse", "packed_masked_mse"]


def masked_mse(target, prediction, mask):
    """Mean squared error over masked pixels only, all channels.

    ``L = sum(mask * (prediction - target)^2) / (C * sum(mask_2d))`` — the mean of the squared
    error over every masked pixel of every channel. The dual-channel paper masks the same pixels in
    ADF and BF, so ``mask`` is usually ``[N, H, W, 1]`` and broadcast over channels.

    Parameters
    ----------
    target : tf.Tensor, float32 ``[N, H, W, C]``
        The unmasked (noisy) patches, normalised.
    prediction : tf.Tensor, float32 ``[N, H, W, C]``
        The network's output on the masked patches.
    mask : tf.Tensor, ``[N, H, W, 1]`` or ``[N, H, W, C]``
        1 where a pixel was masked, 0 elsewhere (any real or bool dtype).

    Returns
    -------
    tf.Tensor, float32 scalar
        0 when nothing is masked (no NaN).
    """
    target = tf.convert_to_tensor(target, tf.float32)
    prediction = tf.convert_to_tensor(prediction, tf.float32)
    mask = tf.cast(mask, tf.float32)
    weights = tf.broadcast_to(mask, tf.shape(target))
    total = tf.reduce_sum(weights * tf.square(prediction - target))
    return tf.math.divide_no_nan(total, tf.reduce_sum(weights))


@keras.saving.register_keras_serializable(package="tfstem")
def packed_masked_mse(packed_target, prediction):
    """:func:`masked_mse` with ``packed_target = concat([target, mask], axis=-1)``.

    Keras' ``compile(loss=...)`` passes one ``y_true``; the trainer packs the mask as its last
    channel. ``packed_target``: float32 ``[N, H, W, C + 1]``; ``prediction``: ``[N, H, W, C]``.
    """
    packed_target = tf.convert_to_tensor(packed_target, tf.float32)
    prediction = tf.cast(prediction, tf.float32)  # a bfloat16 network's output: the loss is float32
    return masked_mse(packed_target[..., :-1], prediction, packed_target[..., -1:])
