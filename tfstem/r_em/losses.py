"""The r_em losses (Lobato, Friedrich & Van Aert 2023, "Loss function", Eq. 2-15), as pure functions.

Every function takes ``float32 [B, H, W, C]`` tensors and returns a **per-example** loss ``float32 [B]``
(the mean over H, W, C, or over the critic's patch map), so that a distributed trainer can scale by the
*global* batch with :func:`tf.nn.compute_average_loss`. Take ``tf.reduce_mean`` for a batch value.

Which intensity space
---------------------
The authors train in a standardised space: both the distorted input ``x`` and the target ``y`` are
standardised with **x's** per-image mean and std (std floored at an absolute 0.1), which is exactly what
the CGRDN graph does inside (``StandardizePerImage`` / ``Destandardize``). tfstem's generator returns
raw intensities, so the trainer maps ``y`` and ``G(x)`` back to that space with :func:`to_training_space`
before calling these functions; the losses are then the authors' losses to float precision and do not
depend on the detector's intensity units. On top of that, the released code multiplies target and
prediction per image by ``w_y = 1 / max(sigma_min, Std(y))`` (Eq. 5, ``LOSS_NORM = True``) before every
pixel-wise term; each pixel-wise function here does the same when ``sigma_min`` is not ``None``.

References
----------
I. Lobato, T. Friedrich, S. Van Aert, "Deep convolutional neural networks to restore single-shot
electron microscopy images", npj Comput. Mater. (2023), arXiv:2303.17025, Eq. 2-15.
A. Jolicoeur-Martineau, "The relativistic discriminator: a key element missing from standard GAN",
ICLR 2019 (relativistic average GAN).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import tensorflow as tf

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
]

#: Names of the pixel-wise terms of Eq. 14, in the order of the authors' loss vector.
PIXEL_TERMS = ("l1", "l2", "mlwt", "fourier", "mean", "std")

#: MLWT window sizes (paper, "Multi-local whitening transform loss") and the released code's weights.
MLWT_WINDOWS = (2, 4, 8, 16)
MLWT_WINDOW_WEIGHTS = (1.0, 1.33, 1.66, 2.0)


def _check_images(name: str, tensor) -> tf.Tensor:
    tensor = tf.convert_to_tensor(tensor)
    if tensor.shape.rank is not None and tensor.shape.rank != 4:
        raise ValueError(f"{name} must be a [B, H, W, C] tensor; received shape {tensor.shape}.")
    if not tensor.dtype.is_floating:
        tensor = tf.cast(tensor, tf.float32)
    return tensor


def _moments(image, axes=(1, 2)):
    mean, variance = tf.nn.moments(image, axes=list(axes), keepdims=True)
    return mean, tf.sqrt(tf.maximum(variance, 0.0))


def _per_example_mean(values) -> tf.Tensor:
    return tf.reduce_mean(values, axis=tf.range(1, tf.rank(values)))


def to_training_space(x, *images, std_floor: float = 0.1):
    """Standardise ``images`` with the statistics of the distorted input ``x`` (the r_em training space).

    ``mean, std`` per image and channel over H and W of ``x``; ``scale = max(std, std_floor)``;
    returns ``(image - mean) / scale`` for every image. This is the authors' data normalisation
    (both x and y standardised with x's statistics) and the inverse of the CGRDN's ``Destandardize``.

    Parameters
    ----------
    x : tf.Tensor
        Distorted input, float32 ``[B, H, W, C]``, raw intensities.
    *images : tf.Tensor
        Tensors of the same shape (target ``y``, restored ``G(x)``), raw intensities.
    std_floor : float
        Absolute floor of the std, in the input's units (authors: 0.1).

    Returns
    -------
    tuple of tf.Tensor
        ``(x_n, *images_n)``, float32 ``[B, H, W, C]``, dimensionless.
    """
    x = _check_images("x", x)
    mean, std = _moments(x)
    scale = tf.maximum(std, std_floor)
    return tuple((tf.cast(t, x.dtype) - mean) / scale for t in (x, *images))


def example_weight(y, sigma_min: float = 0.1) -> tf.Tensor:
    """Per-example weight ``w_y = 1 / max(sigma_min, Std(y))`` (Eq. 5).

    Gives every example the same importance regardless of its contrast.

    Parameters
    ----------
    y : tf.Tensor
        Target, float32 ``[B, H, W, C]``.
    sigma_min : float
        Floor of the std (authors: 0.1, in the training space).

    Returns
    -------
    tf.Tensor
        float32 ``[B, 1, 1, C]`` (std over H and W per image and channel).
    """
    if sigma_min is None or sigma_min <= 0:
        raise ValueError(f"sigma_min must be positive; received sigma_min={sigma_min}.")
    y = _check_images("y", y)
    _, std = _moments(y)
    return 1.0 / tf.maximum(std, sigma_min)


def _weighted(y, y_g, sigma_min):
    y = _check_images("y", y)
    y_g = tf.cast(_check_images("y_g", y_g), y.dtype)
    if sigma_min is None:
        return y, y_g
    w = example_weight(y, sigma_min)
    return w * y, w * y_g


def l1_loss(y, y_g, *, sigma_min: float | None = 0.1) -> tf.Tensor:
    """Weighted L1 loss ``E{w_y |y - y_g|}`` (Eq. 4-5).

    Parameters
    ----------
    y, y_g : tf.Tensor
        Target and restored image, float32 ``[B, H, W, C]`` (training space, see module docstring).
    sigma_min : float or None
        Floor of Eq. 5 (authors 0.1); ``None`` gives the plain L1 (the authors' logged metric).

    Returns
    -------
    tf.Tensor
        float32 ``[B]``, the mean over H, W, C of each example.
    """
    y, y_g = _weighted(y, y_g, sigma_min)
    return _per_example_mean(tf.abs(y - y_g))


def l2_loss(y, y_g, *, sigma_min: float | None = 0.1, squared_weight: bool = True) -> tf.Tensor:
    """Weighted L2 loss (Eq. 6).

    The released code multiplies target and prediction by ``w_y`` before squaring, i.e.
    ``E{(w_y |y - y_g|)^2}``, which makes the loss independent of the image contrast; Eq. 6 as printed
    reads ``E{w_y |y - y_g|^2}``. ``squared_weight=True`` (default) is the code, ``False`` the formula.

    Parameters
    ----------
    y, y_g : tf.Tensor
        float32 ``[B, H, W, C]``.
    sigma_min : float or None
        Floor of Eq. 5; ``None`` for an unweighted mean squared error.
    squared_weight : bool
        ``w_y^2`` (released code) or ``w_y`` (Eq. 6 as printed).

    Returns
    -------
    tf.Tensor
        float32 ``[B]``.
    """
    if squared_weight or sigma_min is None:
        y, y_g = _weighted(y, y_g, sigma_min)
        return _per_example_mean(tf.square(y - y_g))
    y = _check_images("y", y)
    y_g = tf.cast(_check_images("y_g", y_g), y.dtype)
    return _per_example_mean(example_weight(y, sigma_min) * tf.square(y - y_g))


def _local_moments(image, window: int):
    # Stride-1 SAME average pooling: the padded border is not counted in the mean (TF semantics), so
    # the statistics near the edges are over the window's part inside the image.
    mean = tf.nn.avg_pool2d(image, window, strides=1, padding="SAME")
    mean_sq = tf.nn.avg_pool2d(tf.square(image), window, strides=1, padding="SAME")
    # sqrt'(0) is infinite: add a tiny epsilon inside so that flat regions have finite gradients.
    std = tf.sqrt(tf.maximum(mean_sq - tf.square(mean), 0.0) + 1e-12)
    return mean, std


def whitening_transform(image, window: int, *, sigma_min: float = 0.1, reference=None) -> tf.Tensor:
    """Local whitening transform ``(y_ij - E_S{y}) / max(sigma_min, Std_S{y})`` (Eq. 7).

    Parameters
    ----------
    image : tf.Tensor
        float32 ``[B, H, W, C]``.
    window : int
        Side S of the square neighbourhood (stride-1 window, "SAME" borders), pixels.
    sigma_min : float
        Floor of the local std (authors 0.1, training space).
    reference : tf.Tensor, optional
        Image whose local statistics are used (default: ``image`` itself). The released MLWT loss
        whitens the restored image with the *target's* local statistics.

    Returns
    -------
    tf.Tensor
        float32 ``[B, H, W, C]``; zero for a constant image.
    """
    image = _check_images("image", image)
    if int(window) != window or window < 1:
        raise ValueError(f"window must be a positive integer number of pixels; received window={window}.")
    reference = image if reference is None else tf.cast(_check_images("reference", reference), image.dtype)
    mean, std = _local_moments(reference, int(window))
    return (image - mean) / tf.maximum(std, sigma_min)


def mlwt_loss(
    y,
    y_g,
    *,
    windows: Sequence[int] = MLWT_WINDOWS,
    window_weights: Sequence[float] | None = MLWT_WINDOW_WEIGHTS,
    sigma_min: float = 0.1,
) -> tf.Tensor:
    """Multi-local whitening transform loss (Eq. 7-8).

    As the released code: both images are first whitened globally with y's mean and std (floor
    ``sigma_min``); for each window S, both are whitened with **y's** local mean and std (Eq. 7),
    whitened globally again with the statistics of y's transform, and compared with L1; the per-window
    L1 values are averaged with ``window_weights`` (normalised to sum 1).

    Parameters
    ----------
    y, y_g : tf.Tensor
        float32 ``[B, H, W, C]``.
    windows : sequence of int
        Window sides in pixels (paper: 2, 4, 8, 16).
    window_weights : sequence of float or None
        Relative weights of the windows; released code 1 : 1.33 : 1.66 : 2; ``None`` gives the equal
        weights 1/4 of Eq. 8 as printed.
    sigma_min : float
        Floor of every std (authors 0.1).

    Returns
    -------
    tf.Tensor
        float32 ``[B]``.
    """
    if not windows:
        raise ValueError("windows must name at least one window size; received an empty sequence.")
    if window_weights is None:
        window_weights = [1.0] * len(windows)
    if len(window_weights) != len(windows):
        raise ValueError(
            f"window_weights must have one weight per window; received {len(window_weights)} weights for "
            f"windows={tuple(windows)}."
        )
    y = _check_images("y", y)
    y_g = tf.cast(_check_images("y_g", y_g), y.dtype)
    mean, std = _moments(y)
    scale = tf.maximum(std, sigma_min)
    y_w, y_gw = (y - mean) / scale, (y_g - mean) / scale
    total = float(sum(window_weights))
    loss = 0.0
    for window, weight in zip(windows, window_weights):
        y_s = whitening_transform(y_w, window, sigma_min=sigma_min)
        y_gs = whitening_transform(y_gw, window, sigma_min=sigma_min, reference=y_w)
        mean_s, std_s = _moments(y_s)
        scale_s = tf.maximum(std_s, sigma_min)
        difference = (y_s - y_gs) / scale_s
        loss += (weight / total) * _per_example_mean(tf.abs(difference))
    return loss


def fourier_loss(
    y, y_g, *, gamma: float = 0.125, sigma_min: float | None = 0.1, eps: float = 1e-9
) -> tf.Tensor:
    """Fourier-space loss ``E{|F(y - y_g)|^gamma}`` (Eq. 9, gamma = 0.125 as in the paper).

    ``F`` is the unnormalised 2-D real FFT over H and W of each image and channel (half spectrum, as
    the released code). To keep the gradient finite where the spectrum of the difference vanishes,
    ``|F|^gamma`` is evaluated as ``(|F|^2 + eps^2)^(gamma/2) - eps^gamma``, which is exactly 0 for
    identical images. The released code instead floors ``|F|`` at 1e-9; the two differ by the constant
    ``eps^gamma`` (0.075 for gamma 0.125) wherever ``|F| >> eps``, which does not change the gradient.

    Parameters
    ----------
    y, y_g : tf.Tensor
        float32 ``[B, H, W, C]``.
    gamma : float
        Power in (0, 1] (paper: 0.125).
    sigma_min : float or None
        Per-example weighting of Eq. 5 applied to both images first (released code), ``None`` for none.
    eps : float
        Magnitude floor of the smoothing.

    Returns
    -------
    tf.Tensor
        float32 ``[B]``, the mean over the half spectrum and channels.
    """
    if not 0.0 < gamma <= 1.0:
        raise ValueError(f"gamma must lie in (0, 1] (paper: 0.125); received gamma={gamma}.")
    y, y_g = _weighted(y, y_g, sigma_min)
    difference = tf.cast(tf.transpose(y - y_g, [0, 3, 1, 2]), tf.float32)  # FFT over the last two axes
    spectrum = tf.signal.rfft2d(difference)
    power = tf.square(tf.math.real(spectrum)) + tf.square(tf.math.imag(spectrum))
    magnitude_gamma = tf.pow(power + eps * eps, gamma / 2.0) - eps**gamma
    return _per_example_mean(magnitude_gamma)


def mean_loss(y, y_g, *, sigma_min: float | None = 0.1) -> tf.Tensor:
    """Mean constraint ``|E{y} - E{y_g}|`` per example (Eq. 10), averaged over channels.

    Parameters
    ----------
    y, y_g : tf.Tensor
        float32 ``[B, H, W, C]``.
    sigma_min : float or None
        Per-example weighting of Eq. 5 applied first (released code), ``None`` for none.

    Returns
    -------
    tf.Tensor
        float32 ``[B]``.
    """
    y, y_g = _weighted(y, y_g, sigma_min)
    return _per_example_mean(tf.abs(tf.reduce_mean(y, axis=[1, 2]) - tf.reduce_mean(y_g, axis=[1, 2])))


def std_loss(y, y_g, *, sigma_min: float | None = 0.1) -> tf.Tensor:
    """Standard-deviation constraint ``|Std{y} - Std{y_g}|`` per example (Eq. 11), averaged over channels.

    Parameters
    ----------
    y, y_g : tf.Tensor
        float32 ``[B, H, W, C]``.
    sigma_min : float or None
        Per-example weighting of Eq. 5 applied first (released code), ``None`` for none.

    Returns
    -------
    tf.Tensor
        float32 ``[B]``.
    """
    y, y_g = _weighted(y, y_g, sigma_min)
    _, std_y = _moments(y)
    # Differentiable std of the restored image even where it is flat (sqrt'(0) is infinite).
    mean_g = tf.reduce_mean(y_g, axis=[1, 2], keepdims=True)
    std_g = tf.sqrt(tf.reduce_mean(tf.square(y_g - mean_g), axis=[1, 2], keepdims=True) + 1e-12)
    return _per_example_mean(tf.abs(std_y - std_g))


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


@dataclasses.dataclass(frozen=True)
class LossWeights:
    """The lambda weights of Eq. 13-14 and the loss options.

    The paper gives no values. ``LossWeights.released()`` is the authors' released training default
    (loss vector [5e-4, 1, 10, 0, 0, 0, 0, 0], GAN off: L1 x 10 only); ``LossWeights.paper_gan()`` turns
    on every term of Eq. 14 and the adversarial loss with the values chosen for tfstem (see
    ``models/cgrdn_<modality>.json`` for the reasons).

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
    def released(cls) -> "LossWeights":
        """The authors' released default: L1 x 10 (Eq. 4-5) only; lambda_Adv 5e-4 kept for a GAN run."""
        return cls()

    @classmethod
    def paper_gan(cls) -> "LossWeights":
        """Every term of Eq. 14 on, for the paper's GAN setting (values: ``models/cgrdn_hrstem.json``)."""
        return cls(l1=10.0, l2=2.0, mlwt=1.0, fourier=0.5, mean=1.0, std=1.0, adversarial=5e-4)

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
