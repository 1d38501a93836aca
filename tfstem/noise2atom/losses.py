"""Noise2Atom losses (Wang et al., Appl. Microsc. 50:23, 2020, Eq. 1-8), each a pure function.

Conventions (the released code's Keras wiring): critic labels are -1 for the clean domain C ("True")
and +1 for Ms2c(s) ("False"); the critic minimises ``W(-1, D(c)) + W(+1, D(Ms2c(s))) + lambda * G``
(Eq. 1); the generator's adversarial term is ``W(-1, D(Ms2c(s)))`` (noisy mapped to "True"). All
images are on the generators' [-1, 1] scale.
"""

from __future__ import annotations

import tensorflow as tf

from tfstem.ops import gaussian_blur

__all__ = [
    "GRADIENT_PENALTY_WEIGHT",
    "ALPHA",
    "BETA",
    "LABEL_CLEAN",
    "LABEL_DENOISED",
    "wasserstein",
    "critic_loss",
    "generator_adversarial_loss",
    "random_interpolate",
    "gradient_penalty",
    "cycle_loss",
    "low_frequency_cycle_loss",
    "full_objective",
    "SIGN_ANCHOR_SIGMA",
    "pooled_correlation",
    "sign_anchor_loss",
]

GRADIENT_PENALTY_WEIGHT = 10.0  # lambda, Eq. 1
ALPHA = 5.0  # weight of L_gan, Eq. 8
BETA = 1.0  # weight of L_cycle, Eq. 8
LABEL_CLEAN = -1.0  # "True" in the paper's schedule
LABEL_DENOISED = 1.0  # "False"
SIGN_ANCHOR_SIGMA = 2.0  # px; input smoothing of the hinge and of train.noise2atom.mapping_correlation


def wasserstein(label, prediction):
    """Eq. 2: ``W(x, y) = E[x * y]``.

    Parameters
    ----------
    label : float or tensor broadcastable to ``prediction``
        -1 or +1.
    prediction : tensor, float32 ``[N, 1]``
        Critic scores.

    Returns
    -------
    tf.Tensor, float32 scalar
    """
    prediction = tf.convert_to_tensor(prediction, tf.float32)
    return tf.reduce_mean(tf.cast(label, tf.float32) * prediction)


def random_interpolate(real, fake, *, seed, mode: str = "per_pixel"):
    """Eq. 4: ``R(x, y) = u * x + (1 - u) * y`` with u ~ U[0, 1] (stateless).

    Parameters
    ----------
    real, fake : tensor, float32 ``[N, H, W, C]``
    seed : tensor or pair of int32
        Stateless seed ``[2]``.
    mode : {"per_pixel", "per_sample"}
        ``"per_pixel"`` (default): u of shape ``[N, H, W, 1]``, the paper's "uniform random tensor u"
        multiplied elementwise, as the released code draws it. ``"per_sample"``: one u per sample (standard
        WGAN-GP, Gulrajani et al. 2017; the ``cpu`` preset's).

    Returns
    -------
    tf.Tensor, float32 ``[N, H, W, C]``
    """
    if mode not in ("per_sample", "per_pixel"):
        raise ValueError(f"mode must be 'per_sample' or 'per_pixel'; received mode={mode!r}.")
    shape = tf.shape(real)
    u_shape = tf.stack([shape[0], 1, 1, 1]) if mode == "per_sample" else tf.stack([shape[0], shape[1], shape[2], 1])
    u = tf.random.stateless_uniform(u_shape, seed=seed, dtype=real.dtype)
    return u * real + (1.0 - u) * fake


def gradient_penalty(critic, interpolates, *, training=True):
    """Eq. 3 and 5: ``mean_i (1 - ||dD(y_i)/dy_i||_2)^2`` over the batch.

    Parameters
    ----------
    critic : callable
        ``[N, H, W, C] -> [N, 1]``.
    interpolates : tensor, float32 ``[N, H, W, C]``
        Random interpolates (:func:`random_interpolate`).

    Returns
    -------
    tf.Tensor, float32 scalar (unweighted; multiply by lambda = 10).
    """
    interpolates = tf.convert_to_tensor(interpolates, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(interpolates)
        scores = critic(interpolates, training=training)
    grads = tape.gradient(scores, interpolates)
    norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=tf.range(1, tf.rank(grads))) + 1e-12)
    return tf.reduce_mean(tf.square(1.0 - norms))


def critic_loss(score_clean, score_denoised, penalty, *, gp_weight: float = GRADIENT_PENALTY_WEIGHT):
    """Critic side of Eq. 1: ``W(-1, D(c)) + W(+1, D(Ms2c(s))) + lambda * G``.

    Parameters
    ----------
    score_clean, score_denoised : tensor, float32 ``[N, 1]``
    penalty : tensor, float32 scalar
        :func:`gradient_penalty`.
    gp_weight : float
        lambda (paper: 10).
    """
    return (wasserstein(LABEL_CLEAN, score_clean) + wasserstein(LABEL_DENOISED, score_denoised)
            + gp_weight * penalty)


def generator_adversarial_loss(score_denoised):
    """Generator side of Eq. 1: ``W(-1, D(Ms2c(s)))`` (noisy mapped to "True", D fixed)."""
    return wasserstein(LABEL_CLEAN, score_denoised)


def cycle_loss(clean, reconstructed):
    """Eq. 6: ``E |c - Ms2c(Mc2s(c))|`` (mean absolute error).

    Parameters
    ----------
    clean, reconstructed : tensor, float32 ``[N, H, W, 1]``
    """
    return tf.reduce_mean(tf.abs(tf.cast(clean, tf.float32) - tf.cast(reconstructed, tf.float32)))


def low_frequency_cycle_loss(lowpass, noisy, reconstructed):
    """Eq. 7: ``E |Ms2b(s) - Ms2b(Mc2s(Ms2c(s)))|``.

    Parameters
    ----------
    lowpass : callable
        Ms2b (:func:`tfstem.noise2atom.lowpass.build_lowpass`), fixed.
    noisy, reconstructed : tensor, float32 ``[N, H, W, 1]``
        s and Mc2s(Ms2c(s)).
    """
    return tf.reduce_mean(tf.abs(lowpass(noisy) - lowpass(reconstructed)))


def full_objective(gan, cycle, lfc, *, alpha: float = ALPHA, beta: float = BETA):
    """Eq. 8: ``L_n2a = alpha * L_gan + beta * L_cycle + L_lfc`` (alpha = 5, beta = 1)."""
    return alpha * gan + beta * cycle + lfc


def pooled_correlation(a, b):
    """Pearson correlation of all pixels of a batch, pooled (one value, not one per image).

    Parameters
    ----------
    a, b : tensor or array, float ``[N, H, W, C]`` (or any shape), same shape

    Returns
    -------
    tf.Tensor, float32 scalar in [-1, 1]; 0 where either is constant.
    """
    a = tf.reshape(tf.cast(a, tf.float32), [-1])
    b = tf.reshape(tf.cast(b, tf.float32), [-1])
    a = a - tf.reduce_mean(a)
    b = b - tf.reduce_mean(b)
    return tf.math.divide_no_nan(tf.reduce_sum(a * b), tf.sqrt(tf.reduce_sum(a * a) * tf.reduce_sum(b * b)))


def sign_anchor_loss(noisy, denoised, *, margin: float, sigma: float = SIGN_ANCHOR_SIGMA):
    """Hinge on the contrast sign of Ms2c: ``max(0, margin - corr(G_sigma * s, Ms2c(s)))``. Not in the paper.

    The paper's failure case 1 (a "reverted" mapping: bright atoms mapped to background, dark support to
    peaks) satisfies Eq. 1-8 as well as the right one, since Mc2s can invert any contrast; the paper's remedy
    is to retrain. This term is the reverted-mapping check made differentiable: zero as soon as the
    correlation between the Gaussian-smoothed input and the output, pooled over the batch, exceeds ``margin``,
    so a margin below the correlation the ideal output has (about 0.6 on the shipped series, pooled) fixes
    the sign without pulling the output towards the smoothed input.

    Parameters
    ----------
    noisy, denoised : tensor, float32 ``[N, H, W, 1]``
        s and Ms2c(s) on the [-1, 1] scale.
    margin : float
        Correlation in [-1, 1] below which the hinge acts.
    sigma : float
        Smoothing of the input in pixels (the raw input's noise would otherwise dominate the correlation).

    Returns
    -------
    tf.Tensor, float32 scalar >= 0
    """
    smooth = gaussian_blur(noisy, sigma, radius=int(4 * sigma + 0.5))
    return tf.nn.relu(margin - pooled_correlation(smooth, denoised))
