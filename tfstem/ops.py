"""TensorFlow ops shared by several methods (no method imports another method's modules).

Pure functions of tensors, stateless, XLA-compilable, usable on a GPU.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["gaussian_blur"]


def gaussian_blur(x, sigma, radius: int = 4) -> tf.Tensor:
    """Separable Gaussian blur with a per-image standard deviation (paper: sigma in [0, 1] pixel, distorted only).

    Parameters
    ----------
    x : tf.Tensor, float32, [N, H, W, C]
    sigma : float or tf.Tensor [N]
        Standard deviation in pixels; 0 leaves the image unchanged.
    radius : int
        Kernel half-width in pixels (static); 4 covers sigma <= 1 to 1e-3.

    Returns
    -------
    tf.Tensor, float32, [N, H, W, C]
    """
    x = tf.convert_to_tensor(x, tf.float32)
    n = tf.shape(x)[0]
    s = tf.reshape(tf.broadcast_to(tf.reshape(tf.cast(sigma, tf.float32), [-1]), [n]), [-1, 1])
    taps = tf.cast(tf.range(-radius, radius + 1), tf.float32)[None]
    weights = tf.exp(-taps**2 / (2.0 * tf.maximum(s, 1e-3) ** 2))
    weights = tf.where(s < 1e-3, tf.cast(tf.equal(taps, 0.0), tf.float32), weights)
    weights = weights / tf.reduce_sum(weights, axis=1, keepdims=True)  # [N, 2r+1]

    def along(img, axis):
        pad = [[0, 0]] * 4
        pad[axis] = [radius, radius]
        padded = tf.pad(img, pad, mode="SYMMETRIC")
        size = tf.shape(img)[axis]
        out = tf.zeros_like(img)
        for i in range(2 * radius + 1):
            piece = padded[:, i:i + size] if axis == 1 else padded[:, :, i:i + size]
            out = out + weights[:, i][:, None, None, None] * piece
        return out

    return along(along(x, 1), 2)
