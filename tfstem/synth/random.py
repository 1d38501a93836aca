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
#: Most rejection attempts of the PTRS branch. The acceptance rate is above 0.89 for every mean >= 10
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


def _poisson_inversion(lam: tf.Tensor, u: tf.Tensor, needed: tf.Tensor) -> tf.Tensor:
    """Exact inversion of the Poisson CDF for means below :data:`SMALL_MEAN_LIMIT` (float64 arithmetic).

    The count is the first ``k`` with ``u <= cdf(k)``, after at most :data:`_INVERSION_TERMS` terms. Under XLA
    the CDF sum covers the whole array (static shapes) and stops as soon as every ``needed`` pixel has its count;
    elsewhere each term is computed for the pixels still searching only (about ``mean + 1`` terms per pixel instead
    of the batch's maximum). Both give the same counts.
    """
    lam = tf.minimum(lam, SMALL_MEAN_LIMIT)
    if not in_xla_context():
        return _poisson_inversion_shrinking(lam, u, needed)

    def body(k, p, cdf, count):
        count = count + tf.cast(u > cdf, lam.dtype)
        p = p * lam / tf.cast(k, lam.dtype)
        return k + 1, p, cdf + p, count

    def unfinished(k, p, cdf, count):
        return (k <= _INVERSION_TERMS) & tf.reduce_any(needed & (u > cdf))

    p0 = tf.exp(-lam)
    _, _, _, count = tf.while_loop(unfinished, body, (tf.constant(1), p0, p0, tf.zeros_like(lam)),
                                   maximum_iterations=_INVERSION_TERMS)
    return count


def _poisson_inversion_shrinking(lam: tf.Tensor, u: tf.Tensor, needed: tf.Tensor, terms_per_pass: int = 4) -> tf.Tensor:
    """:func:`_poisson_inversion` for the ``needed`` pixels still searching only (dynamic shapes, not for XLA).

    Terms are added ``terms_per_pass`` at a time; after each pass the pixels whose count is found leave the arrays.
    """
    flat_lam, flat_u = tf.reshape(lam, [-1]), tf.reshape(u, [-1])
    p = tf.exp(-flat_lam)
    searching = tf.reshape(needed, [-1]) & (flat_u > p)  # count 0 where u <= P(X = 0)
    index = tf.where(searching)  # [M, 1] int64
    lam_a, u_a, p_a = (tf.gather_nd(v, index) for v in (flat_lam, flat_u, p))

    def one_pass(k, index, lam_a, u_a, p_a, cdf_a, count):
        # a searching pixel has u > cdf(k - 1): its count is k plus the terms of this pass it still exceeds
        count_a = tf.fill(tf.shape(lam_a), tf.cast(k, lam_a.dtype))
        for j in range(terms_per_pass):
            p_a = p_a * lam_a / tf.cast(k + j, lam_a.dtype)
            cdf_a = cdf_a + p_a
            count_a = count_a + tf.cast(u_a > cdf_a, lam_a.dtype)
        found = u_a <= cdf_a
        count = tf.tensor_scatter_nd_update(count, tf.boolean_mask(index, found), tf.boolean_mask(count_a, found))
        keep = ~found
        return (k + terms_per_pass, tf.boolean_mask(index, keep),
                *(tf.boolean_mask(v, keep) for v in (lam_a, u_a, p_a, cdf_a)), count)

    def unfinished(k, index, *_):
        return (k <= _INVERSION_TERMS) & (tf.shape(index)[0] > 0)

    vector = tf.TensorShape([None])
    out = tf.while_loop(unfinished, one_pass, (tf.constant(1), index, lam_a, u_a, p_a, p_a, tf.zeros_like(flat_lam)),
                        shape_invariants=(tf.TensorShape([]), tf.TensorShape([None, 1]), vector, vector, vector, vector,
                                          flat_lam.shape))
    index, count = out[1], out[-1]
    # u above the CDF after the last term: the truncation value of the static path; the counts found in the last
    # pass are capped alike (terms past _INVERSION_TERMS do not count)
    count = tf.tensor_scatter_nd_update(count, index,
                                        tf.fill([tf.shape(index)[0]], tf.constant(_INVERSION_TERMS, count.dtype)))
    return tf.reshape(tf.minimum(count, _INVERSION_TERMS), tf.shape(lam))


def _ptrs_attempt(lam: tf.Tensor, seed) -> tuple[tf.Tensor, tf.Tensor]:
    """One PTRS proposal per element of ``lam`` (means >= 10): the candidate count and whether it is accepted."""
    slam = tf.sqrt(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
    v_r = 0.9277 - 3.6224 / (b - 2.0)
    uv = tf.random.stateless_uniform(tf.concat([[2], tf.shape(lam)], 0), as_seed(seed), dtype=lam.dtype)
    u = uv[0] - 0.5
    v = uv[1]
    us = 0.5 - tf.abs(u)
    k = tf.floor((2.0 * a / us + b) * u + lam + 0.43)
    quick = (us >= 0.07) & (v <= v_r)
    reject = (k < 0.0) | ((us < 0.013) & (v > us))
    log_accept = tf.math.log(tf.maximum(v * inv_alpha / (a / (us * us) + b), 1e-300))
    log_pmf = -lam + k * tf.math.log(lam) - tf.math.lgamma(tf.maximum(k, 0.0) + 1.0)
    return k, quick | (~reject & (log_accept <= log_pmf))


def _normal_fallback(lam: tf.Tensor, seed) -> tf.Tensor:
    """``round(N(lam, lam))`` clipped at 0, for the (probability < 4e-12) pixels whose every attempt was rejected."""
    noise = tf.random.stateless_normal(tf.shape(lam), split_seed(seed, 1000), dtype=lam.dtype)
    return tf.maximum(tf.round(lam + tf.sqrt(lam) * noise), 0.0)


def in_xla_context() -> bool:
    """True while tracing a function compiled with XLA (``jit_compile=True``, also when nested in one).

    Uses TensorFlow's own test (``control_flow_util``, which ``tf.while_loop`` and ``tf.map_fn`` consult); if that
    internal API ever moves, answers True so that the static-shape path, valid everywhere, is taken.
    """
    try:
        from tensorflow.python.ops import control_flow_util

        return bool(control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()))
    except Exception:  # pragma: no cover - depends on TensorFlow internals
        return True


def _poisson_ptrs_static(lam: tf.Tensor, seed, needed: tf.Tensor) -> tf.Tensor:
    """PTRS with static shapes (for XLA): every attempt covers the whole array; stops once all ``needed`` pixels
    have an accepted count (typically 4-6 attempts for a batch of 256 x 256 images), after at most
    :data:`_REJECTION_ATTEMPTS`."""

    def attempt(i, done, result):
        k, accepted = _ptrs_attempt(lam, split_seed(seed, i))
        return i + 1, done | accepted, tf.where(accepted & ~done, k, result)

    def unfinished(i, done, result):
        return (i < _REJECTION_ATTEMPTS) & ~tf.reduce_all(done)

    _, done, result = tf.while_loop(unfinished, attempt, (tf.constant(0), ~needed, tf.zeros_like(lam)),
                                    maximum_iterations=_REJECTION_ATTEMPTS)
    return tf.where(done, result, _normal_fallback(lam, seed))


def _poisson_ptrs_shrinking(lam: tf.Tensor, seed, needed: tf.Tensor) -> tf.Tensor:
    """PTRS on the pixels still waiting only: each attempt gathers the ``needed`` pixels not yet accepted (about
    a tenth after the first attempt), so a draw costs about 1.2 full-array attempts instead of 4-6.
    Dynamic shapes, hence not for XLA (XLA compiles it but returns wrong counts); see :func:`_poisson_ptrs_static`.
    """
    flat = tf.reshape(lam, [-1])
    waiting = tf.where(tf.reshape(needed, [-1]))  # [M, 1] int64 indices

    def attempt(i, waiting, result):
        k, accepted = _ptrs_attempt(tf.gather_nd(flat, waiting), split_seed(seed, i))
        result = tf.tensor_scatter_nd_update(result, tf.boolean_mask(waiting, accepted), tf.boolean_mask(k, accepted))
        return i + 1, tf.boolean_mask(waiting, ~accepted), result

    def unfinished(i, waiting, result):
        return (i < _REJECTION_ATTEMPTS) & (tf.shape(waiting)[0] > 0)

    _, waiting, result = tf.while_loop(
        unfinished, attempt, (tf.constant(0), waiting, tf.zeros_like(flat)), maximum_iterations=_REJECTION_ATTEMPTS,
        shape_invariants=(tf.TensorShape([]), tf.TensorShape([None, 1]), flat.shape))
    result = tf.tensor_scatter_nd_update(result, waiting, _normal_fallback(tf.gather_nd(flat, waiting), seed))
    return tf.reshape(result, tf.shape(lam))


def _poisson_ptrs(lam: tf.Tensor, seed, needed: tf.Tensor) -> tf.Tensor:
    """Exact transformed rejection with squeeze (PTRS, Hormann 1993) for the ``needed`` pixels (means >= 10).

    Each pixel keeps its first accepted proposal. Under XLA every attempt covers the whole array (static
    shapes); elsewhere (tf.data maps, eager, non-compiled graphs on CPU or GPU) only the pixels still waiting are
    drawn again, 4-6x cheaper. Both are exact; they draw different random streams.
    """
    lam = tf.maximum(lam, SMALL_MEAN_LIMIT)
    if in_xla_context():
        return _poisson_ptrs_static(lam, seed, needed)
    return _poisson_ptrs_shrinking(lam, seed, needed)


def poisson(mean, seed) -> tf.Tensor:
    """Poisson draws of any shape from stateless uniforms; runs on CPU and GPU and under XLA.

    Means below :data:`SMALL_MEAN_LIMIT` (10) are sampled exactly by inverting the CDF with 40 terms
    (truncation error below 1e-13). Larger means use Hormann's transformed rejection with squeeze (PTRS),
    which is exact; it is run for at most 12 attempts and the rare pixel where all attempts are rejected
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
    is_small = lam < SMALL_MEAN_LIMIT
    small = _poisson_inversion(lam, u, is_small)
    large = _poisson_ptrs(lam, split_seed(seed, 2), ~is_small)
    return tf.cast(tf.where(is_small, small, large), tf.float32)
