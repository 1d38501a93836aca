"""Noise2Void masking as pure TensorFlow functions of a batch and a seed (Thornley et al. 2025, Methods, Fig. 2d).

* :func:`jittered_grid_points` and :func:`points_to_mask`: the masked pixels, a grid of pitch ``spacing``
  with a random origin per patch, each point jittered by up to ``jitter`` px;
* :func:`local_mean_excluding_centre` (N2V2's replacement, the paper's) and :func:`random_neighbour`
  (original N2V's): the values the masked pixels get;
* :func:`mask_batch`: both, one mask shared by every channel of a patch.

Stateless (``tf.random.stateless_*``): the same seed gives the same mask. No scatter, static shapes: they run
in ``tf.data``, under XLA and on a GPU.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfstem.n2v.config import REPLACEMENTS

__all__ = ["jittered_grid_points", "points_to_mask", "local_mean_excluding_centre", "random_neighbour",
           "mask_batch"]


def _seed(seed):
    """A stateless seed, int32 ``[2]``, from an int or a pair (Python, NumPy or tensor)."""
    if isinstance(seed, (int, np.integer)):
        return tf.constant([int(seed), 0], tf.int32)
    return tf.cast(tf.convert_to_tensor(seed), tf.int32)


def jittered_grid_points(batch, height, width, seed, *, spacing=24, jitter=2):
    """Jittered grid of masked pixel positions, one grid per patch (paper, Methods and Fig. 2d).

    The grid ``origin + (i·spacing, j·spacing)`` with a random origin in ``[0, spacing)^2`` per patch
    covers the patch; each point then moves by independent integers in ``[-jitter, jitter]`` in y and
    x. Points that fall outside the patch are dropped by :func:`points_to_mask`.

    Parameters
    ----------
    batch, height, width : int or scalar int tensor
        Patches and their size in px.
    seed : int or int tensor of shape [2]
        Stateless seed: the same seed gives the same points.
    spacing : int
        Grid pitch in px (paper: 24).
    jitter : int
        Maximum displacement in px (paper: 2).

    Returns
    -------
    points : tf.Tensor, int32 ``[batch, ny, nx, 2]``
        (y, x) of each jittered point; ``ny = ceil(height / spacing)``, ``nx`` likewise.
    origin : tf.Tensor, int32 ``[batch, 2]``
        The un-jittered grid's origin (y, x) in px.
    """
    seed = _seed(seed)
    ny = (height + spacing - 1) // spacing
    nx = (width + spacing - 1) // spacing
    seed_origin = tf.random.experimental.stateless_fold_in(seed, 0)
    seed_jitter = tf.random.experimental.stateless_fold_in(seed, 1)
    origin = tf.random.stateless_uniform([batch, 2], seed_origin, minval=0, maxval=spacing, dtype=tf.int32)
    offsets = tf.random.stateless_uniform(
        [batch, ny, nx, 2], seed_jitter, minval=-jitter, maxval=jitter + 1, dtype=tf.int32
    )
    iy = tf.range(ny, dtype=tf.int32)[:, None] * spacing
    ix = tf.range(nx, dtype=tf.int32)[None, :] * spacing
    base = tf.stack([tf.broadcast_to(iy, [ny, nx]), tf.broadcast_to(ix, [ny, nx])], axis=-1)
    points = origin[:, None, None, :] + base[None] + offsets
    return points, origin


def points_to_mask(points, height, width):
    """Binary mask ``float32 [N, height, width, 1]`` with ones at ``points`` (int32 ``[N, ny, nx, 2]``).

    Points outside the patch are ignored. Built from one-hot rows and columns (static shapes, no
    scatter), so it runs in ``tf.data``, under XLA and on a GPU.
    """
    rows = tf.one_hot(points[..., 0], height, dtype=tf.float32)  # [N, ny, nx, H]; out of range -> 0
    cols = tf.one_hot(points[..., 1], width, dtype=tf.float32)  # [N, ny, nx, W]
    mask = tf.einsum("bijy,bijx->byx", rows, cols)
    return tf.minimum(mask, 1.0)[..., None]


def _box_sum(x, radius):
    """Sum over the ``(2·radius+1)^2`` window of each pixel and channel, zero outside the image."""
    size = 2 * radius + 1
    channels = tf.shape(x)[-1]
    column = tf.ones([size, 1, channels, 1], x.dtype)
    row = tf.ones([1, size, channels, 1], x.dtype)
    x = tf.nn.depthwise_conv2d(x, column, strides=[1, 1, 1, 1], padding="SAME")
    return tf.nn.depthwise_conv2d(x, row, strides=[1, 1, 1, 1], padding="SAME")


def local_mean_excluding_centre(x, radius=12):
    """Mean of each pixel's ``(2r+1)^2`` neighbourhood without the pixel itself (N2V2 replacement).

    Windows are clipped at the image border and the divisor counts only the pixels inside the
    image, minus the centre — not ``w^2 - B·C`` as in the successor code (anchors 3b).

    Parameters
    ----------
    x : tf.Tensor, float32 ``[N, H, W, C]``
    radius : int
        Window half-side r in px (window side 2r + 1).

    Returns
    -------
    tf.Tensor, float32 ``[N, H, W, C]``
    """
    x = tf.convert_to_tensor(x, tf.float32)
    total = _box_sum(x, radius)
    count = _box_sum(tf.ones_like(x[..., :1]), radius)
    return (total - x) / (count - 1.0)


def _flip_inside(position, offset, size):
    """``position + offset``, or ``position - offset`` where that leaves the image: never the centre itself
    (a mirror about the border could map ``y - 2`` at ``y = 1`` back onto ``y``)."""
    moved = position + offset
    return tf.where((moved < 0) | (moved >= size), position - offset, moved)


def random_neighbour(x, seed, radius=2):
    """Original N2V replacement: each pixel's value taken from a random other pixel of its window.

    One offset per pixel, the same for every channel (both channels see the same neighbour); the
    offset is uniform over the ``(2r+1)^2 - 1`` non-centre positions; at the border an offset that
    leaves the image is reversed.

    Parameters
    ----------
    x : tf.Tensor, float32 ``[N, H, W, C]``
    seed : int or int tensor of shape [2]
    radius : int
        Window half-side r in px (N2V default: 2, a 5x5 window).

    Returns
    -------
    tf.Tensor, float32 ``[N, H, W, C]``
    """
    x = tf.convert_to_tensor(x, tf.float32)
    shape = tf.shape(x)
    n, h, w = shape[0], shape[1], shape[2]
    size = 2 * radius + 1
    centre = radius * size + radius
    draw = tf.random.stateless_uniform([n, h, w], _seed(seed), minval=0, maxval=size * size - 1, dtype=tf.int32)
    draw = draw + tf.cast(draw >= centre, tf.int32)
    dy, dx = draw // size - radius, draw % size - radius
    yy, xx = _flip_inside(tf.range(h)[None, :, None], dy, h), _flip_inside(tf.range(w)[None, None, :], dx, w)
    bb = tf.broadcast_to(tf.range(n)[:, None, None], [n, h, w])
    return tf.gather_nd(x, tf.stack([bb, yy, xx], axis=-1))


def mask_batch(patches, seed, *, spacing=24, jitter=2, replacement="local_mean", radius=12):
    """Mask a batch of normalised patches for Noise2Void training.

    The same pixels are masked in every channel of a patch (one mask shared by ADF and BF, so that
    one channel cannot leak the other's value at a masked pixel).

    Parameters
    ----------
    patches : tf.Tensor, float32 ``[N, H, W, C]``
    seed : int or int tensor of shape [2]
    spacing, jitter : int
        See :func:`jittered_grid_points`.
    replacement : {"local_mean", "neighbour"}
        See :class:`tfstem.n2v.config.N2VConfig`.
    radius : int
        Replacement window half-side, px.

    Returns
    -------
    masked : tf.Tensor, float32 ``[N, H, W, C]``
        Input of the network: ``patches`` with masked pixels replaced.
    mask : tf.Tensor, float32 ``[N, H, W, 1]``
        1 at masked pixels.
    """
    if replacement not in REPLACEMENTS:
        raise ValueError(f"replacement must be one of {REPLACEMENTS}; received replacement={replacement!r}.")
    patches = tf.convert_to_tensor(patches, tf.float32)
    seed = _seed(seed)
    shape = tf.shape(patches)
    height = patches.shape[1] if patches.shape[1] is not None else shape[1]
    width = patches.shape[2] if patches.shape[2] is not None else shape[2]
    points, _ = jittered_grid_points(shape[0], height, width, tf.random.experimental.stateless_fold_in(seed, 0),
                                     spacing=spacing, jitter=jitter)
    mask = points_to_mask(points, height, width)
    if replacement == "local_mean":
        values = local_mean_excluding_centre(patches, radius)
    else:
        values = random_neighbour(patches, tf.random.experimental.stateless_fold_in(seed, 1), radius)
    return patches * (1.0 - mask) + values * mask, mask

