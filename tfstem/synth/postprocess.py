"""Post-processing distortions of the r_em paper (Lobato et al. 2023, section "Post-processing distortions").

Interpolation, annotations and cropping change *both* images of a training pair (the restoration must keep them);
Gaussian blurring changes only the distorted image (the restoration must undo it). Pure TensorFlow, stateless
seeds of shape ``[2]``, XLA-compilable.
"""

from __future__ import annotations

import math

import tensorflow as tf

from tfstem.ops import gaussian_blur  # noqa: F401  (the paper's blur distortion; shared with Noise2Atom)
from tfstem.synth import _resample
from tfstem.synth.random import in_xla_context, split_seed

__all__ = ["random_linear_transform", "gaussian_blur", "annotations", "crop_fill"]


def random_linear_transform(images, seed, max_rotation=math.pi, scale=(0.8, 1.25), max_shear=0.2):
    """Interpolation distortion: the same random linear transform applied to every image in ``images``.

    The transform (rotation about the image centre, anisotropic scale, shear) is drawn per batch element and
    applied with bilinear interpolation and symmetric borders (``d c b a | a b c d | d c b a``, no edge streaks) to
    the distorted and the clean image alike. Outside XLA all images go through one
    ``ImageProjectiveTransformV3`` call (CPU and GPU kernels); XLA has no kernel for that op, so under
    ``jit_compile=True`` the same interpolation is computed with gathers (same values to float rounding). On 2
    loaded CPU cores both take about 8 ms per 256 x 256 pair (``benchmarks/synth_linear_transform_speed.py``).

    Parameters
    ----------
    images : sequence of tf.Tensor, float32, [N, H, W, C] each (same N, H, W)
    seed : tensor [2]
    max_rotation : float
        Rotation angle drawn in [-max_rotation, max_rotation] radians.
    scale : tuple(float, float)
        Scale factors per axis drawn log-uniformly in this range.
    max_shear : float
        Shear coefficient drawn in [-max_shear, max_shear].

    Returns
    -------
    list of tf.Tensor
        Transformed images, same shapes.
    """
    n = tf.shape(images[0])[0]
    u = tf.random.stateless_uniform(tf.stack([4, n]), split_seed(seed, 0))
    angle = (2.0 * u[0] - 1.0) * max_rotation
    log_lo, log_hi = math.log(scale[0]), math.log(scale[1])
    sy = tf.exp(log_lo + (log_hi - log_lo) * u[1])
    sx = tf.exp(log_lo + (log_hi - log_lo) * u[2])
    shear = (2.0 * u[3] - 1.0) * max_shear
    cos, sin = tf.cos(angle), tf.sin(angle)
    inverse = tf.stack([tf.stack([cos / sy, (-sin + shear * cos) / sy], -1),
                        tf.stack([sin / sx, (cos + shear * sin) / sx], -1)], 1)
    return linear_resample(images, inverse)


def linear_resample(images, inverse):
    """Bilinear resampling of every image under a linear map about the image centre, symmetric borders.

    Parameters
    ----------
    images : sequence of tf.Tensor, float32, [N, H, W, C] each (same N, H, W)
    inverse : tf.Tensor, float32, [N, 2, 2]
        Output -> input map of (row, column) offsets from the centre ``((H - 1) / 2, (W - 1) / 2)``.

    Returns
    -------
    list of tf.Tensor, same shapes as ``images``.
    """
    images = [tf.convert_to_tensor(im, tf.float32) for im in images]
    shape = tf.shape(images[0])
    h, w = shape[1], shape[2]
    m00, m01, m10, m11 = inverse[:, 0, 0], inverse[:, 0, 1], inverse[:, 1, 0], inverse[:, 1, 1]
    cy, cx = (tf.cast(h, tf.float32) - 1.0) / 2.0, (tf.cast(w, tf.float32) - 1.0) / 2.0
    if not in_xla_context():
        return _projective_transform(images, m00, m01, m10, m11, cy, cx)
    yy, xx = tf.meshgrid(tf.cast(tf.range(h), tf.float32) - cy, tf.cast(tf.range(w), tf.float32) - cx, indexing="ij")
    rows = m00[:, None, None] * yy[None] + m01[:, None, None] * xx[None] + cy
    cols = m10[:, None, None] * yy[None] + m11[:, None, None] * xx[None] + cx
    return [_resample.bilinear_sample(im, rows, cols, mode="symmetric") for im in images]


def _projective_transform(images, m00, m01, m10, m11, cy, cx):
    """:func:`linear_resample` with TensorFlow's fused kernel, all images in one call.

    ``ImageProjectiveTransformV3`` maps output (x = column, y = row) to input ``(a0 x + a1 y + a2, b0 x + b1 y + b2)``.
    """
    transforms = tf.stack([m11, m10, cx - m10 * cy - m11 * cx,
                           m01, m00, cy - m00 * cy - m01 * cx,
                           tf.zeros_like(m00), tf.zeros_like(m00)], axis=1)
    channels = [im.shape[-1] if im.shape[-1] is not None else tf.shape(im)[-1] for im in images]
    stacked = tf.concat(images, axis=-1)
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=stacked, transforms=transforms, output_shape=tf.shape(stacked)[1:3], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="REFLECT")
    return tf.split(out, channels, axis=-1)


def annotations(images, seed, max_marks: int = 6, probability_per_mark: float = 0.5):
    """Annotation distortion: the same random marks drawn at the same pixels of every image in ``images``.

    Marks imitate what acquisition software and users add: horizontal/vertical lines (scale bars, arrows' shafts),
    rectangle outlines (regions of interest) and filled blocks (text/labels), each drawn with probability
    ``probability_per_mark`` in black (the image minimum) or white (the image maximum).

    Parameters
    ----------
    images : sequence of tf.Tensor, float32, [N, H, W, C]
        The first image's per-image minimum and maximum give the mark values.
    seed : tensor [2]
    max_marks : int
        Number of candidate marks (static).
    probability_per_mark : float

    Returns
    -------
    list of tf.Tensor, same shapes.
    """
    first = tf.convert_to_tensor(images[0], tf.float32)
    shape = tf.shape(first)
    n, h, w = shape[0], shape[1], shape[2]
    hf, wf = tf.cast(h, tf.float32), tf.cast(w, tf.float32)
    yy = tf.cast(tf.range(h), tf.float32)[None, :, None]
    xx = tf.cast(tf.range(w), tf.float32)[None, None, :]
    u = tf.random.stateless_uniform(tf.stack([8, n, max_marks]), split_seed(seed, 0))
    lo = tf.reduce_min(first, axis=[1, 2, 3])
    hi = tf.reduce_max(first, axis=[1, 2, 3])
    value_mask = tf.zeros(tf.stack([n, h, w]), tf.bool)
    value = tf.zeros(tf.stack([n, h, w]), tf.float32)
    for k in range(max_marks):
        on = (u[0, :, k] < probability_per_mark)[:, None, None]
        kind = tf.floor(u[1, :, k] * 3.0)[:, None, None]  # 0 line, 1 rectangle outline, 2 filled block
        y0 = (u[2, :, k] * hf)[:, None, None]
        x0 = (u[3, :, k] * wf)[:, None, None]
        bh = (2.0 + u[4, :, k] * 0.25 * hf)[:, None, None]
        bw = (4.0 + u[5, :, k] * 0.35 * wf)[:, None, None]
        thick = (1.0 + tf.floor(u[6, :, k] * 3.0))[:, None, None]
        inside = (yy >= y0) & (yy < y0 + bh) & (xx >= x0) & (xx < x0 + bw)
        inner = (yy >= y0 + thick) & (yy < y0 + bh - thick) & (xx >= x0 + thick) & (xx < x0 + bw - thick)
        line = (yy >= y0) & (yy < y0 + thick) & (xx >= x0) & (xx < x0 + bw)
        mark = tf.where(kind < 0.5, line, tf.where(kind < 1.5, inside & ~inner, inside)) & on
        white = (u[7, :, k] < 0.5)[:, None, None]
        val = tf.where(white, hi[:, None, None], lo[:, None, None])
        value = tf.where(mark, val, value)
        value_mask = value_mask | mark
    m = value_mask[..., None]
    return [tf.where(m, value[..., None], tf.convert_to_tensor(im, tf.float32)) for im in images]


def crop_fill(images, seed, keep_fraction=0.5):
    """Cropping distortion: a border region outside a central rectangle filled with one constant in every image.

    A central rectangle with ``keep_fraction`` of the image area is protected (the paper's example: 50 %); one to
    four sides of the frame are cut at a random depth up to that rectangle and filled with either 0 or the middle
    of the image's value range ``(min + max) / 2`` (taken from the first image), the same in all images.

    Parameters
    ----------
    images : sequence of tf.Tensor, float32, [N, H, W, C]
    seed : tensor [2]
    keep_fraction : float
        Area fraction of the protected central rectangle, in (0, 1].

    Returns
    -------
    list of tf.Tensor, same shapes.
    """
    first = tf.convert_to_tensor(images[0], tf.float32)
    shape = tf.shape(first)
    n, h, w = shape[0], shape[1], shape[2]
    hf, wf = tf.cast(h, tf.float32), tf.cast(w, tf.float32)
    margin = 0.5 * (1.0 - math.sqrt(keep_fraction))
    u = tf.random.stateless_uniform(tf.stack([6, n]), split_seed(seed, 0))
    sides = u[:4] < 0.5
    sides = tf.tensor_scatter_nd_update(sides, [[0]], [sides[0] | ~tf.reduce_any(sides, axis=0)])  # >= 1 side
    depth = u[4][None] * margin  # same depth fraction for all cut sides of one image
    yy = tf.cast(tf.range(h), tf.float32)[None, :, None]
    xx = tf.cast(tf.range(w), tf.float32)[None, None, :]
    d = depth[0][:, None, None]
    cut = ((sides[0][:, None, None] & (yy < d * hf)) | (sides[1][:, None, None] & (yy >= (1.0 - d) * hf))
           | (sides[2][:, None, None] & (xx < d * wf)) | (sides[3][:, None, None] & (xx >= (1.0 - d) * wf)))
    lo = tf.reduce_min(first, axis=[1, 2, 3])
    hi = tf.reduce_max(first, axis=[1, 2, 3])
    fill = tf.where(u[5] < 0.5, tf.zeros_like(lo), 0.5 * (lo + hi))[:, None, None, None]
    return [tf.where(cut[..., None], fill, tf.convert_to_tensor(im, tf.float32)) for im in images]

