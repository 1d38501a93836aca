"""Stateless random draws that run on any device and under XLA.

TensorFlow's own ``tf.random.poisson`` / ``tf.random.stateless_poisson`` have CPU kernels only and do not
compile with ``jit_compile=True``, so the shot-noise ops of the r_em noise models (Eq. 30, 33, 45) use
:func:`poisson` below, built from stateless uniform draws only.

Every function takes ``seed``: an int32/int64 tensor of shape ``[2]`` (as for ``tf.random.stateless_*``).
Derive independent sub-seeds with :func:`split_seed` (``tf.random.experimental.stateless_fold_in``).
"""

from __future__ import annotations

import tensorflow as tf

#: Means below this use exact CDF inversion; means at or above it use exact transformed rejection (PTRS).
SMALL_MEAN_LIMIT = 10.0
#: Number of terms of the CDF sum in the inversion branch: P(X > 40 | mean < 10) < 1e-13.
_INVERSION_TERMS = 40
#: Vectorised rejection attempts in the PTRS branch. The acceptance rate is above 0.89 for every mean >= 10
#: (Hormann 1993, Table 1), so all attempts fail with probability < 0.11**12 < 4e-12 per pixel; such pixels fall back
#: to the rounded normal approximation N(mean, mean).
_REJECTION_ATTEMPTS = 12


def as_seed(seed) -> tf.Tensor:
    """Return ``seed`` as an int64 tensor of shape ``[2]``.

    Parameters
    ----------
    seed : int, sequence of two ints, or tensor of shape [2]
        An int ``s`` becomes ``[s, 0]``.

    Raises
    ------
    ValueError
        If ``seed`` is a tensor of another shape.
    """
    if isinstance(seed, int):
        return tf.constant([seed, 0], dtype=tf.int64)
    seed = tf.convert_to_tensor(seed)
    if seed.shape.rank != 1 or (seed.shape[0] is not None and seed.shape[0] != 2):
        raise ValueError(f"seed must be an int or a shape-[2] integer tensor; received shape {seed.shape}.")
    return tf.cast(seed, tf.int64)


def split_seed(seed, index: int) -> tf.Tensor:
    """Independent sub-seed number ``index`` of ``seed`` (``stateless_fold_in``), shape ``[2]`` int64."""
    return tf.random.experimental.stateless_fold_in(as_seed(seed), index)


def per_image(value, batch_size, dtype=tf.float32) -> tf.Tensor:
    """Broadcast a scalar or a ``[N]`` parameter to shape ``[N, 1, 1, 1]`` for NHWC arithmetic."""
    value = tf.cast(tf.convert_to_tensor(value), dtype)
    value = tf.broadcast_to(tf.reshape(value, [-1]), [batch_size])
    return tf.reshape(value, [-1, 1, 1, 1])


def uniform(shape, seed, low=0.0, high=1.0) -> tf.Tensor:
    """Stateless uniform draws in ``[low, high)``, float32."""
    return tf.random.stateless_uniform(shape, as_seed(seed), minval=low, maxval=high, dtype=tf.float32)


def _poisson_inversion(lam: tf.Tensor, u: tf.Tensor) -> tf.Tensor:
    """Exact inversion of the Poisson CDF for means below :data:`SMALL_MEAN_LIMIT` (float64 arithmetic)."""
    lam = tf.minimum(lam, SMALL_MEAN_LIMIT)

    def body(k, p, cdf, count):
        count = count + tf.cast(u > cdf, lam.dtype)
        p = p * lam / tf.cast(k, lam.dtype)
        return k + 1, p, cdf + p, count

    p0 = tf.exp(-lam)
    _, _, _, count = tf.while_loop(lambda k, *_: k <= _INVERSION_TERMS, body,
                                   (tf.constant(1), p0, p0, tf.zeros_like(lam)),
                                   maximum_iterations=_INVERSION_TERMS)
    return count


def _poisson_ptrs(lam: tf.Tensor, seed) -> tf.Tensor:
    """Exact transformed rejection with squeeze (PTRS, Hormann 1993) for means >= 10, fixed attempts.

    All attempts are drawn at once (shape ``[attempts, ...]``) so the op has static shapes for XLA;
    the first accepted attempt is kept.
    """
    lam = tf.maximum(lam, SMALL_MEAN_LIMIT)
    shape = tf.concat([[_REJECTION_ATTEMPTS], tf.shape(lam)], axis=0)
    uv = tf.random.stateless_uniform(tf.concat([[2], shape], 0), as_seed(seed), dtype=lam.dtype)
    u = uv[0] - 0.5
    v = uv[1]
    slam = tf.sqrt(lam)
    log_lam = tf.math.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
    v_r = 0.9277 - 3.6224 / (b - 2.0)
    us = 0.5 - tf.abs(u)
    k = tf.floor((2.0 * a / us + b) * u + lam + 0.43)
    quick = (us >= 0.07) & (v <= v_r)
    reject = (k < 0.0) | ((us < 0.013) & (v > us))
    log_accept = tf.math.log(tf.maximum(v * inv_alpha / (a / (us * us) + b), 1e-300))
    log_pmf = -lam + k * log_lam - tf.math.lgamma(tf.maximum(k, 0.0) + 1.0)
    accepted = quick | (~reject & (log_accept <= log_pmf))
    # index of the first accepted attempt (or -1 when none was accepted)
    first = tf.argmax(tf.cast(accepted, tf.int32), axis=0)
    any_accepted = tf.reduce_any(accepted, axis=0)
    chosen = _take_first(k, first)
    fallback = tf.maximum(tf.round(lam + slam * tf.random.stateless_normal(
        tf.shape(lam), split_seed(seed, 7), dtype=lam.dtype)), 0.0)
    return tf.where(any_accepted, chosen, fallback)


def _take_first(values: tf.Tensor, index: tf.Tensor) -> tf.Tensor:
    """``values[index[...], ...]`` along axis 0 via a one-hot sum (static shapes, XLA friendly)."""
    one_hot = tf.one_hot(index, _REJECTION_ATTEMPTS, axis=0, dtype=values.dtype)
    return tf.reduce_sum(one_hot * values, axis=0)


def poisson(mean, seed) -> tf.Tensor:
    """Poisson draws of any shape from stateless uniforms; runs on CPU and GPU and under XLA.

    Means below :data:`SMALL_MEAN_LIMIT` (10) are sampled exactly by inverting the CDF with 40 terms
    (truncation error below 1e-13). Larger means use Hormann's transformed rejection with squeeze (PTRS),
    which is exact; it is run with 12 vectorised attempts and the rare pixel where all attempts are rejected
    (probability < 4e-12) takes the rounded normal approximation ``round(N(mean, mean))``. Arithmetic is in
    float64 so that means up to ~1e12 keep integer resolution.

    Parameters
    ----------
    mean : tf.Tensor, float, any shape
        Poisson means (counts), >= 0. Negative values are treated as 0.
    seed : tensor of shape [2]
        Stateless seed.

    Returns
    -------
    tf.Tensor
        Same shape as ``mean``, float32, non-negative integers.

    References
    ----------
    W. Hormann, "The transformed rejection method for generating Poisson random variables",
    Insurance: Mathematics and Economics 12 (1993) 39-45. r_em paper Eq. 30, 33, 45.
    """
    mean = tf.convert_to_tensor(mean)
    lam = tf.maximum(tf.cast(mean, tf.float64), 0.0)
    u = tf.random.stateless_uniform(tf.shape(lam), split_seed(seed, 1), dtype=tf.float64)
    small = _poisson_inversion(lam, u)
    large = _poisson_ptrs(lam, split_seed(seed, 2))
    return tf.cast(tf.where(lam < SMALL_MEAN_LIMIT, small, large), tf.float32)
