"""The r_em losses (Lobato, Friedrich & Van Aert 2023, "Loss function", Eq. 2-15), as pure functions.

This module holds the combination: the lambdas of Eq. 13-14 (:class:`LossWeights`), the weighted pixel-wise
sum (:func:`pixel_wise_losses`, Eq. 14) and the generator's total (:func:`generator_loss`, Eq. 13). The terms
live by idea in :mod:`~tfstem.r_em.pixel_losses` (Eq. 4-11, the training space) and
:mod:`~tfstem.r_em.adversarial_losses` (Eq. 2-3, 12, 15); every name is importable from here too.

Every function takes ``float32 [B, H, W, C]`` tensors and returns a **per-example** loss ``float32 [B]``,
so that a distributed trainer can scale by the *global* batch with :func:`tf.nn.compute_average_loss`.

References
----------
I. Lobato, T. Friedrich, S. Van Aert, "Deep convolutional neural networks to restore single-shot
electron microscopy images", npj Comput. Mater. (2023), arXiv:2303.17025, Eq. 2-15.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import tensorflow as tf  # noqa: F401  (the annotations name tf.Tensor)

from tfstem.r_em.adversarial_losses import (relativistic_adversarial_loss, relativistic_average_probabilities,
                                            relativistic_discriminator_loss)
from tfstem.r_em.pixel_losses import (MLWT_WINDOW_WEIGHTS, MLWT_WINDOWS, PIXEL_TERMS, example_weight, fourier_loss,
                                      l1_loss, l2_loss, mean_loss, mlwt_loss, std_loss, to_training_space,
                                      whitening_transform)

__all__ = [
    "LossWeights",
    "to_training_space",
    "example_weight",
    "l1_loss",
    "l2_loss",
    "whitening_transform",
    "mlwt_loss",
    "fourier_loss",
    "mean_loss",
    "std_loss",
    "relativistic_average_probabilities",
    "relativistic_adversarial_loss",
    "relativistic_discriminator_loss",
    "pixel_wise_losses",
    "generator_loss",
    "PIXEL_TERMS",
    "MLWT_WINDOWS",
    "MLWT_WINDOW_WEIGHTS",
]


@dataclasses.dataclass(frozen=True)
class LossWeights:
    """The lambda weights of Eq. 13-14 and the loss options.

    The defaults are L1 x 10 alone, the authors' released loss vector [5e-4, 1, 10, 0, 0, 0, 0, 0]. The
    paper gives no values; the options of ``models/r_em.json`` (``l1_weight`` ... ``adversarial_weight``,
    presets ``paper`` and ``released``) hold tfstem's values with the reason for each, and
    :attr:`tfstem.r_em.config.R_EMConfig.loss_weights` builds this object from them.

    Attributes
    ----------
    l1, l2, mlwt, fourier, mean, std : float
        lambda_1, lambda_2, lambda_mlwt, lambda_fs-gamma, lambda_mean, lambda_std of Eq. 14.
    adversarial : float
        lambda_Adv of Eq. 13; only used when the GAN is on.
    sigma_min : float
        Floor of Eq. 5 and of every std in Eq. 7 (authors 0.1).
    gamma : float
        Power of Eq. 9 (paper 0.125).
    squared_l2_weight : bool
        See :func:`l2_loss`.
    mlwt_window_weights : tuple of float or None
        See :func:`mlwt_loss`.
    """

    l1: float = 10.0
    l2: float = 0.0
    mlwt: float = 0.0
    fourier: float = 0.0
    mean: float = 0.0
    std: float = 0.0
    adversarial: float = 5e-4
    sigma_min: float = 0.1
    gamma: float = 0.125
    squared_l2_weight: bool = True
    mlwt_window_weights: tuple | None = MLWT_WINDOW_WEIGHTS

    def __post_init__(self):
        for name in (*PIXEL_TERMS, "adversarial"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"loss weight {name} must be a non-negative number; received {name}={value!r}.")
        if sum(getattr(self, name) for name in PIXEL_TERMS) <= 0:
            raise ValueError("at least one pixel-wise loss weight (l1, l2, mlwt, fourier, mean, std) must be > 0.")
        if self.sigma_min <= 0:
            raise ValueError(f"sigma_min must be positive (authors: 0.1); received sigma_min={self.sigma_min}.")
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"gamma must lie in (0, 1] (paper: 0.125); received gamma={self.gamma}.")
        if self.mlwt_window_weights is not None:
            object.__setattr__(self, "mlwt_window_weights", tuple(float(w) for w in self.mlwt_window_weights))

    @classmethod
    def from_dict(cls, values: Mapping) -> "LossWeights":
        """Build from a mapping (e.g. the ``loss_weights`` of a JSON config); unknown keys are errors."""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise ValueError(f"unknown loss weight(s) {unknown}; known: {sorted(fields)}.")
        return cls(**dict(values))

    def to_dict(self) -> dict:
        """JSON-serialisable dict (inverse of :meth:`from_dict`)."""
        out = dataclasses.asdict(self)
        if out["mlwt_window_weights"] is not None:
            out["mlwt_window_weights"] = list(out["mlwt_window_weights"])
        return out


def pixel_wise_losses(y, y_g, weights: LossWeights = LossWeights()) -> dict:
    """Every pixel-wise term of Eq. 14 whose lambda is non-zero, per example.

    Parameters
    ----------
    y, y_g : tf.Tensor
        Target and restored image in the training space, float32 ``[B, H, W, C]``.
    weights : LossWeights
        Which terms (non-zero lambdas) and their options.

    Returns
    -------
    dict of str to tf.Tensor
        ``{"l1": [B], ...}`` for the active terms (unweighted values), plus ``"pixel_wise"``: the
        lambda-weighted sum of Eq. 14, float32 ``[B]``.
    """
    functions = {
        "l1": lambda: l1_loss(y, y_g, sigma_min=weights.sigma_min),
        "l2": lambda: l2_loss(y, y_g, sigma_min=weights.sigma_min, squared_weight=weights.squared_l2_weight),
        "mlwt": lambda: mlwt_loss(y, y_g, window_weights=weights.mlwt_window_weights, sigma_min=weights.sigma_min),
        "fourier": lambda: fourier_loss(y, y_g, gamma=weights.gamma, sigma_min=weights.sigma_min),
        "mean": lambda: mean_loss(y, y_g, sigma_min=weights.sigma_min),
        "std": lambda: std_loss(y, y_g, sigma_min=weights.sigma_min),
    }
    terms = {}
    total = 0.0
    for name in PIXEL_TERMS:
        lam = getattr(weights, name)
        if lam:
            terms[name] = functions[name]()
            total += lam * terms[name]
    terms["pixel_wise"] = total
    return terms


def generator_loss(pixel_wise, adversarial=None, *, adversarial_weight: float = 5e-4) -> tf.Tensor:
    """Total generator loss ``L_G = L_pixel-wise + lambda_Adv L_Adv`` (Eq. 13).

    Parameters
    ----------
    pixel_wise : tf.Tensor
        Eq. 14 per example, float32 ``[B]`` (``pixel_wise_losses(...)["pixel_wise"]``).
    adversarial : tf.Tensor, optional
        Eq. 12 per example, float32 ``[B]``; ``None`` when the GAN is off.
    adversarial_weight : float
        lambda_Adv.

    Returns
    -------
    tf.Tensor
        float32 ``[B]``.
    """
    if adversarial is None:
        return pixel_wise
    return pixel_wise + adversarial_weight * adversarial
