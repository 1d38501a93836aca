"""TensorBoard scalars and image panels written with TensorFlow's core summary ops.

The ``tensorboard`` package is needed only to *view* the logs, not to write them (it is not a dependency).
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["write_scalar", "write_images", "write_scalars"]


def _summary_metadata(plugin_name):
    from tensorflow.core.framework import summary_pb2

    return summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin_name))


def write_scalar(tag: str, value: float, step: int) -> None:
    """One TensorBoard scalar (inside a writer's ``as_default()``)."""
    tf.summary.write(tag, tf.constant(value, tf.float32), step=step, metadata=_summary_metadata("scalars"))


def write_scalars(writer, prefix: str, values: dict, step: int) -> None:
    """Every finite float of ``values`` as ``prefix/name`` at ``step``; None entries are skipped."""
    with writer.as_default(step=step):
        for name, value in values.items():
            if value is not None:
                write_scalar(f"{prefix}/{name}" if prefix else name, float(value), step)


def write_images(writer, tag: str, images, step: int) -> None:
    """A TensorBoard image summary (PNG) of float ``[N, H, W, 1]`` images in [0, 1]."""
    pixels = tf.cast(tf.round(tf.clip_by_value(tf.convert_to_tensor(images, tf.float32), 0.0, 1.0) * 255.0), tf.uint8)
    pngs = tf.map_fn(tf.image.encode_png, pixels, fn_output_signature=tf.string)
    shape = tf.shape(pixels)
    tensor = tf.concat([tf.strings.as_string([shape[2], shape[1]]), pngs], axis=0)  # [width, height, png...]
    with writer.as_default(step=step):
        tf.summary.write(tag, tensor, step=step, metadata=_summary_metadata("images"))
