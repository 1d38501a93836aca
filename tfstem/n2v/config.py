"""The hyperparameters of dual-channel Noise2Void: one frozen dataclass, the paper's numbers as defaults.

The defaults are read from ``models/n2v.json`` (``options``, each with its source in the paper or the first
author's successor code); its ``presets`` (``paper``, ``cpu``, ``quick``) are applied by
:func:`tfstem.config.load_config`. Importing this module needs neither TensorFlow nor Keras.
"""

from __future__ import annotations

import math
import numbers

from tfstem.config import ConfigMixin, method_config

__all__ = ["N2VConfig", "REPLACEMENTS"]

#: Values of ``replacement``: N2V2's local mean (the paper) or original N2V's random neighbour.
REPLACEMENTS = ("local_mean", "neighbour")
PRECISIONS = ("float32", "bfloat16", "auto")



def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@method_config("n2v")
class N2VConfig(ConfigMixin):
    """Hyperparameters of dual-channel Noise2Void; defaults are the paper's (Thornley et al. 2025).

    Parameters
    ----------
    depth : int
        U-Net poolings (Methods: "the UNet has a depth of four").
    features : int
        Features at the first level (Methods: 64).
    first_kernel_size, kernel_size : int
        5x5 in the first layer, 3x3 elsewhere ("Modification to network architecture").
    negative_slope : float
        Leaky-ReLU slope for negative inputs (paper silent; successor code: PyTorch's 0.01).
    group_norm_groups : int or None
        None: no normalisation layers (the paper's network; successor code later added GroupNorm(8)).
    learning_rate : float
        Constant Adam learning rate (Methods: 1e-5).
    batch_size : int
        Patches per step (Methods: 12).
    epochs : int
        Training epochs (Methods: 32).
    steps_per_epoch : int or None
        Steps per epoch; None: one patch per training frame per epoch, ``ceil(n_train / batch_size)``.
    patch_size : int
        Side of the square training patches cropped from full frames, px, a multiple of ``2**depth``
        (paper silent; successor code's first config: 256).
    frame_step : int
        Train on every ``frame_step``-th frame, validate on the others (Methods: "sampling every other frame").
    mask_spacing : int
        Pitch of the grid of masked pixels, px (Methods: 24).
    mask_jitter : int
        Each grid point moves by an integer in ``[-mask_jitter, mask_jitter]`` px in y and x
        independently (Methods: "up to two pixels in each direction": 2). The successor code draws
        ``[-J, J - 1]``; we use the symmetric range the paper describes.
    replacement : {"local_mean", "neighbour"}
        ``"local_mean"`` (N2V2, the paper): the mean of the ``(2r+1)^2`` window around the pixel,
        excluding the pixel itself, with the correct divisor (the successor code divides by
        ``w^2 - B·C``, a bug not copied). ``"neighbour"``: original N2V, a random pixel of the window.
    replacement_radius : int
        Window half-side r in px. Paper silent; the successor code's window side equals the grid
        spacing, hence 12 (a 25x25 window) for spacing 24.
    validation_patches : int
        Patches (fixed crops and fixed masks, so the loss is comparable across epochs) taken from
        frames not used for training.
    std_multiplier : float
        Per frame and channel normalisation ``(x - mean) / (std_multiplier · std)`` (successor code: 5).
    seed : int
        Seed of the weights' initialisation, the patch sampling and the masks.
    precision : {"float32", "bfloat16", "auto"}
        Arithmetic of the U-Net's training step (variables and the optimizer stay float32). Paper and every
        preset: float32. ``"bfloat16"``: 1.9-2.7x faster steps on two AMX cores, but 0.28 dB lower BF PSNR on
        the shipped video after the same 267 steps (``models/n2v.json``); ``"auto"``: bfloat16 where the
        hardware multiplies it natively (:func:`tfstem.precision.has_fast_bfloat16`), else float32. The saved
        model always computes in float32; ``tfstem.restore`` chooses its own precision.

    Raises
    ------
    ValueError
        A value out of range; the message echoes it and says what is allowed.
    """

    depth: int
    features: int
    first_kernel_size: int
    kernel_size: int
    negative_slope: float
    group_norm_groups: int | None
    learning_rate: float
    batch_size: int
    epochs: int
    steps_per_epoch: int | None
    patch_size: int
    frame_step: int
    mask_spacing: int
    mask_jitter: int
    replacement: str
    replacement_radius: int
    validation_patches: int
    std_multiplier: float
    seed: int
    precision: str

    def __post_init__(self):
        positive = ("depth", "features", "first_kernel_size", "kernel_size", "batch_size", "epochs", "patch_size",
                    "frame_step", "mask_spacing", "replacement_radius", "validation_patches")
        for name in positive:
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ValueError(f"{name} must be a positive integer; received {name}={value!r}.")
        for name in ("steps_per_epoch", "group_norm_groups"):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value < 1):
                raise ValueError(f"{name} must be None or a positive integer; received {name}={value!r}.")
        if not _is_int(self.seed) or not _is_int(self.mask_jitter):
            raise ValueError(f"seed and mask_jitter must be integers; received seed={self.seed!r}, "
                             f"mask_jitter={self.mask_jitter!r}.")
        for name in ("learning_rate", "std_multiplier"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number; received {name}={value!r}.")
        if not isinstance(self.negative_slope, numbers.Real) or not 0 <= self.negative_slope < 1:
            raise ValueError(f"negative_slope must be in [0, 1) (the paper's code: 0.01); "
                             f"received negative_slope={self.negative_slope!r}.")
        if self.mask_jitter < 0 or 2 * self.mask_jitter >= self.mask_spacing:
            raise ValueError(
                "mask_jitter must be >= 0 and less than half of mask_spacing so that jittered points stay "
                f"distinct; received mask_jitter={self.mask_jitter}, mask_spacing={self.mask_spacing}."
            )
        if self.patch_size % 2**self.depth:
            raise ValueError(f"patch_size must be a multiple of 2**depth = {2 ** self.depth}; "
                             f"received patch_size={self.patch_size}.")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}; received precision={self.precision!r}.")
        if self.replacement not in REPLACEMENTS:
            raise ValueError(f"replacement must be one of {REPLACEMENTS}; received replacement={self.replacement!r}.")
