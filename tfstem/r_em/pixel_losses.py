"""The pixel-wise r_em losses (Lobato, Friedrich & Van Aert 2023, "Loss function", Eq. 4-11), as pure functions.

Every function takes ``float32 [B, H, W, C]`` tensors and returns a **per-example** loss ``float32 [B]``
(the mean over H, W, C), so that a distributed trainer can scale by the *global* batch with
:func:`tf.nn.compute_average_loss`. Take ``tf.reduce_mean`` for a batch value.

Which intensity space
---------------------
The authors train in a standardised space: both the distorted input ``x`` and the target ``y`` are
standardised with **x's** per-image mean and std (std floored at an absolute 0.1), which is exactly what
the CGRDN graph does inside (``StandardizePerImage`` / ``Destandardize``). tfstem's generator returns
raw intensities, so the trainer maps ``y`` and ``G(x)`` back to that space with :func:`to_training_space`
before calling these functions; the losses are then the authors' losses to float precision and do not
depend on the detector's intensity units. On top of that, the released code multiplies target and
prediction per image by ``w_y = 1 / max(sigma_min, Std(y))`` (Eq. 5, ``LOSS_NORM = True``) before every
pixel-wise term; each function here does the same when ``sigma_min`` is not ``None``.

References
----------
I. Lobato, T. Friedrich, S. Van Aert, "Deep convolutional neural networks to restore single-shot
electron microscopy images", npj Comput. Mater. (2023), arXiv:2303.17025, Eq. 4-11.
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf

__all__ = [
    "to_training_space",
    "example_weight",
    "l1_loss",
    "l2_loss",
    "whitening_transform",
    "mlwt_loss",
    "fourier_loss",
    "mean_loss",
    "std_loss",
    "PIXEL_TERMS",
    "MLWT_WINDOWS",
    "MLWT_WINDOW_WEIGHTS",
]

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
