"""Interpolation helpers shared by the scan-jitter and post-processing ops (pure TensorFlow, XLA friendly)."""

from __future__ import annotations

import tensorflow as tf


def _cubic_weights(t: tf.Tensor) -> list[tf.Tensor]:
    """Keys cubic convolution weights (a = -0.5, the bicubic of Matlab/MULTEM) for taps -1, 0, 1, 2."""
    a = -0.5

    def near(s):  # |s| <= 1
        return (a + 2.0) * s**3 - (a + 3.0) * s**2 + 1.0

    def far(s):  # 1 < |s| < 2
        return a * s**3 - 5.0 * a * s**2 + 8.0 * a * s - 4.0 * a

    return [far(1.0 + t), near(t), near(1.0 - t), far(2.0 - t)]


def cubic_rows(x: tf.Tensor, y_positions: tf.Tensor) -> tf.Tensor:
    """Resample whole rows: ``out[n, r] = cubic interpolation of x[n, :, :, :] at row y_positions[n, r]``.

    Parameters
    ----------
    x : tf.Tensor, float32, [N, H, W, C]
    y_positions : tf.Tensor, float32, [N, H_out]
        Row coordinates in pixels; samples beyond the border use the border row (clamped).

    Returns
    -------
    tf.Tensor, float32, [N, H_out, W, C]
    """
    height = tf.shape(x)[1]
    base = tf.floor(y_positions)
    t = y_positions - base
    base = tf.cast(base, tf.int32)
    out = 0.0
    for tap, w in zip(range(-1, 3), _cubic_weights(t)):
        idx = tf.clip_by_value(base + tap, 0, height - 1)
        rows = tf.gather(x, idx, axis=1, batch_dims=1)
        out = out + rows * w[:, :, None, None]
    return out


def cubic_shift_rows(x: tf.Tensor, shifts: tf.Tensor) -> tf.Tensor:
    """Resample along the fast-scan axis: ``out[n, r, c] = x[n, r, c + shifts[n, r, c]]`` (cubic, clamped).

    Parameters
    ----------
    x : tf.Tensor, float32, [N, H, W, C]
    shifts : tf.Tensor, float32, [N, H, W] (one shift per pixel) or [N, H] (one per row)
        Shifts in pixels.

    Returns
    -------
    tf.Tensor, float32, [N, H, W, C]
    """
    width = tf.shape(x)[2]
    cols = tf.cast(tf.range(width), tf.float32)
    if shifts.shape.rank == 2:
        shifts = shifts[:, :, None]
    pos = cols[None, None, :] + shifts  # [N, H, W]
    base = tf.floor(pos)
    t = pos - base
    base = tf.cast(base, tf.int32)
    out = 0.0
    for tap, w in zip(range(-1, 3), _cubic_weights(t)):
        idx = tf.clip_by_value(base + tap, 0, width - 1)
        vals = tf.gather(x, idx, axis=2, batch_dims=2)
        out = out + vals * w[..., None]
    return out


def _symmetric(index, size):
    """Mirror indices into [0, size - 1] about the pixel edges (``b a | a b c d | d c``): for bilinear sampling this
    equals TensorFlow's ``fill_mode="REFLECT"`` (reflect the coordinate, then clamp)."""
    period = 2 * size
    index = tf.math.floormod(index, period)
    return tf.where(index > size - 1, period - 1 - index, index)


def bilinear_sample(x: tf.Tensor, rows: tf.Tensor, cols: tf.Tensor, mode: str = "symmetric") -> tf.Tensor:
    """Bilinear sampling of ``x`` at fractional pixel positions, borders mirrored about the pixel edges
    (``"symmetric"``) or clamped (``"clamp"``).

    Parameters
    ----------
    x : tf.Tensor, float32, [N, H, W, C]
    rows, cols : tf.Tensor, float32, [N, H_out, W_out]
        Positions in pixels (row, column).

    Returns
    -------
    tf.Tensor, float32, [N, H_out, W_out, C]
    """
    height, width = tf.shape(x)[1], tf.shape(x)[2]
    r0 = tf.floor(rows)
    c0 = tf.floor(cols)
    tr = (rows - r0)[..., None]
    tc = (cols - c0)[..., None]
    r0 = tf.cast(r0, tf.int32)
    c0 = tf.cast(c0, tf.int32)

    def at(r, c):
        if mode == "symmetric":
            r, c = _symmetric(r, height), _symmetric(c, width)
        else:
            r = tf.clip_by_value(r, 0, height - 1)
            c = tf.clip_by_value(c, 0, width - 1)
        return tf.gather_nd(x, tf.stack([r, c], axis=-1), batch_dims=1)

    top = at(r0, c0) * (1.0 - tc) + at(r0, c0 + 1) * tc
    bottom = at(r0 + 1, c0) * (1.0 - tc) + at(r0 + 1, c0 + 1) * tc
    return top * (1.0 - tr) + bottom * tr


def fft_filter(x: tf.Tensor, transfer: tf.Tensor) -> tf.Tensor:
    """Multiply the 2-D spectrum of every image and channel by ``transfer`` (periodic convolution).

    Parameters
    ----------
    x : tf.Tensor, float32, [N, H, W, C]
    transfer : tf.Tensor, float32, [N, H, W] or [H, W]
        Real transfer function on the unshifted FFT grid.
    """
    xt = tf.transpose(x, [0, 3, 1, 2])
    spec = tf.signal.fft2d(tf.complex(xt, tf.zeros_like(xt)))
    if transfer.shape.rank == 2:
        transfer = transfer[None]
    spec = spec * tf.complex(transfer[:, None], tf.zeros_like(transfer[:, None]))
    return tf.transpose(tf.math.real(tf.signal.ifft2d(spec)), [0, 2, 3, 1])


def frequency_grid(height, width) -> tuple[tf.Tensor, tf.Tensor]:
    """Spatial frequencies (cycles per pixel) of the unshifted FFT grid, each float32 [H, W]."""
    fy = _fftfreq(height)
    fx = _fftfreq(width)
    return tf.meshgrid(fy, fx, indexing="ij")


def _fftfreq(n) -> tf.Tensor:
    n = tf.convert_to_tensor(n, tf.int32)
    k = tf.range(n)
    k = tf.where(k < (n + 1) // 2, k, k - n)
    return tf.cast(k, tf.float32) / tf.cast(n, tf.float32)
