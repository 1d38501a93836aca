"""The relativistic adversarial r_em losses (Lobato, Friedrich & Van Aert 2023, Eq. 2-3, 12 and 15).

The generator's loss (Eq. 12) and the conditional critic's (Eq. 15) are relativistic-average binary cross
entropies of the critic's patch maps, per example (``float32 [B]``, the mean over the patch map), so that a
distributed trainer can scale them by the *global* batch; the "average" of Eq. 2-3 can be passed in as the
mean over the global batch.

References
----------
I. Lobato, T. Friedrich, S. Van Aert, "Deep convolutional neural networks to restore single-shot
electron microscopy images", npj Comput. Mater. (2023), arXiv:2303.17025, Eq. 2-3, 12, 15.
A. Jolicoeur-Martineau, "The relativistic discriminator: a key element missing from standard GAN",
ICLR 2019 (relativistic average GAN).
"""

from __future__ import annotations

import tensorflow as tf

from tfstem.r_em.pixel_losses import _per_example_mean

__all__ = ["relativistic_average_probabilities", "relativistic_adversarial_loss", "relativistic_discriminator_loss"]


def _batch_mean(logits):
    return tf.reduce_mean(logits)


def relativistic_average_probabilities(c_real, c_fake, *, real_mean=None, fake_mean=None):
    """Relativistic average discriminator outputs ``D_Rap`` (Eq. 2 and 3).

    ``D_Rap(y, y_g) = sigmoid(C(y) - E{C(y_g)})`` and ``D_Rap(y_g, y) = sigmoid(C(y_g) - E{C(y)})``.

    Parameters
    ----------
    c_real, c_fake : tf.Tensor
        Raw critic outputs for (x, y) and (x, y_g): float32 ``[B, h, w, 1]`` patch maps.
    real_mean, fake_mean : tf.Tensor, optional
        The expectations ``E{C(y)}``, ``E{C(y_g)}`` (scalars). Default: the mean over this batch and all
        patches. A distributed trainer passes the mean over the *global* batch.

    Returns
    -------
    tuple of tf.Tensor
        ``(D_Rap(y, y_g), D_Rap(y_g, y))``, float32 ``[B, h, w, 1]`` probabilities.
    """
    c_real, c_fake = tf.convert_to_tensor(c_real), tf.convert_to_tensor(c_fake)
    real_mean = _batch_mean(c_real) if real_mean is None else real_mean
    fake_mean = _batch_mean(c_fake) if fake_mean is None else fake_mean
    return tf.sigmoid(c_real - fake_mean), tf.sigmoid(c_fake - real_mean)


def _relativistic_bce(c_real, c_fake, real_label, fake_label, real_mean, fake_mean):
    c_real = tf.cast(tf.convert_to_tensor(c_real), tf.float32)
    c_fake = tf.cast(tf.convert_to_tensor(c_fake), tf.float32)
    real_mean = _batch_mean(c_real) if real_mean is None else tf.cast(real_mean, tf.float32)
    fake_mean = _batch_mean(c_fake) if fake_mean is None else tf.cast(fake_mean, tf.float32)
    real_logits = c_real - fake_mean
    fake_logits = c_fake - real_mean
    # Cross entropy from logits: stable where the sigmoid saturates.
    real_term = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.fill(tf.shape(real_logits), real_label),
                                                        logits=real_logits)
    fake_term = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.fill(tf.shape(fake_logits), fake_label),
                                                        logits=fake_logits)
    return _per_example_mean(real_term) + _per_example_mean(fake_term)


def relativistic_adversarial_loss(c_real, c_fake, *, real_mean=None, fake_mean=None) -> tf.Tensor:
    """Generator's relativistic adversarial loss (Eq. 12).

    ``-E{log(1 - D_Rap(y, y_g))} - E{log D_Rap(y_g, y)}``: binary cross entropy of
    ``C(y) - E{C(y_g)}`` against label 0 plus that of ``C(y_g) - E{C(y)}`` against label 1.

    Parameters
    ----------
    c_real, c_fake : tf.Tensor
        Critic patch maps for (x, y) and (x, y_g), float32 ``[B, h, w, 1]``.
    real_mean, fake_mean : tf.Tensor, optional
        See :func:`relativistic_average_probabilities`.

    Returns
    -------
    tf.Tensor
        float32 ``[B]`` (mean over the patch map of each example).
    """
    return _relativistic_bce(c_real, c_fake, 0.0, 1.0, real_mean, fake_mean)


def relativistic_discriminator_loss(
    c_real, c_fake, *, real_mean=None, fake_mean=None, label_smoothing: float = 0.95
) -> tf.Tensor:
    """Critic's conditional relativistic average loss (Eq. 15) with one-sided label smoothing.

    ``-E{log D_cRap(x, y, y_g)} - E{log(1 - D_cRap(x, y_g, y))}``; the released code smooths the real
    label to 0.95 (one-sided, Salimans et al. 2016); ``label_smoothing=1.0`` is Eq. 15 as printed.

    Parameters
    ----------
    c_real, c_fake : tf.Tensor
        Critic patch maps for (x, y) and (x, y_g), float32 ``[B, h, w, 1]``.
    real_mean, fake_mean : tf.Tensor, optional
        See :func:`relativistic_average_probabilities`.
    label_smoothing : float
        Target of the real term, in (0.5, 1] (authors 0.95).

    Returns
    -------
    tf.Tensor
        float32 ``[B]``.
    """
    if not 0.5 < label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must lie in (0.5, 1] (authors: 0.95); received {label_smoothing}.")
    return _relativistic_bce(c_real, c_fake, float(label_smoothing), 0.0, real_mean, fake_mean)
