"""Dual-channel Noise2Void training for STEM videos (Thornley et al., npj Comput. Mater. 2025).

Pieces, each usable alone:

* :class:`N2VConfig` — every hyperparameter, the paper's numbers as defaults (section cited);
* masking as TensorFlow functions of a batch and a seed: :func:`jittered_grid_points`,
  :func:`points_to_mask`, :func:`local_mean_excluding_centre` (N2V2-style replacement),
  :func:`random_neighbour` (original N2V replacement), :func:`mask_batch`;
* :func:`normalise_frames` (per frame and channel, mean / 5·std), :func:`training_dataset`,
  :func:`validation_batch`;
* :func:`train` — Adam, masked MSE, validation loss, checkpoints, TensorBoard, tqdm, wall-clock
  budget, transfer training from a trained model;
* ``tfstem train n2v SERIES -o DIR`` (:func:`add_cli_arguments`, :func:`run_cli`).

The user-facing one-liner is :func:`tfstem.n2v.fit`.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math
import os
import time
import warnings
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfstem.n2v.losses import packed_masked_mse
from tfstem.n2v.unet import N2V_STD_FLOOR, N2V_STD_MULTIPLIER, build_n2v_unet, build_n2v_unet_core
from tfstem.outputs import atomic_file, check_directory_writable, write_json
from tfstem.training.run_folder import DATA_KEY, clear_previous_run, data_fingerprint, prepare_run_folder

__all__ = [
    "N2VConfig",
    "jittered_grid_points",
    "points_to_mask",
    "local_mean_excluding_centre",
    "random_neighbour",
    "mask_batch",
    "normalise_frames",
    "as_frames",
    "check_frames",
    "training_dataset",
    "validation_batch",
    "train",
    "core_of",
    "add_cli_arguments",
    "run_cli",
]

REPLACEMENTS = ("local_mean", "neighbour")


@dataclasses.dataclass(frozen=True)
class N2VConfig:
    """Hyperparameters of dual-channel Noise2Void; defaults are the paper's (Thornley et al. 2025).

    Parameters
    ----------
    depth : int
        U-Net poolings (Methods: "the UNet has a depth of four").
    features : int
        Features at the first level (Methods: 64).
    first_kernel_size, kernel_size : int
        5x5 in the first layer, 3x3 elsewhere ("Modification to network architecture").
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
        Side of the square training patches cropped from full frames, a multiple of ``2**depth``
        (paper silent; successor code's first config: 256).
    frame_step : int
        Train on every ``frame_step``-th frame (Methods: "sampling every other frame": 2).
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
        Seed of the patch sampling and masking streams.
    """

    depth: int = 4
    features: int = 64
    first_kernel_size: int = 5
    kernel_size: int = 3
    group_norm_groups: int | None = None
    learning_rate: float = 1e-5
    batch_size: int = 12
    epochs: int = 32
    steps_per_epoch: int | None = None
    patch_size: int = 256
    frame_step: int = 2
    mask_spacing: int = 24
    mask_jitter: int = 2
    replacement: str = "local_mean"
    replacement_radius: int = 12
    validation_patches: int = 24
    std_multiplier: float = N2V_STD_MULTIPLIER
    seed: int = 0

    def __post_init__(self):
        positive = ("depth", "features", "batch_size", "epochs", "patch_size", "frame_step", "mask_spacing",
                    "replacement_radius", "validation_patches")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer; received {name}={value!r}.")
        if self.steps_per_epoch is not None and int(self.steps_per_epoch) < 1:
            raise ValueError(f"steps_per_epoch must be None or >= 1; received steps_per_epoch={self.steps_per_epoch}.")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0; received learning_rate={self.learning_rate}.")
        if self.mask_jitter < 0 or 2 * self.mask_jitter >= self.mask_spacing:
            raise ValueError(
                "mask_jitter must be >= 0 and less than half of mask_spacing so that jittered points stay "
                f"distinct; received mask_jitter={self.mask_jitter}, mask_spacing={self.mask_spacing}."
            )
        if self.patch_size % 2**self.depth:
            raise ValueError(
                f"patch_size must be a multiple of 2**depth = {2 ** self.depth}; received patch_size={self.patch_size}."
            )
        if self.replacement not in REPLACEMENTS:
            raise ValueError(f"replacement must be one of {REPLACEMENTS}; received replacement={self.replacement!r}.")
        if not self.std_multiplier > 0:
            raise ValueError(f"std_multiplier must be > 0; received std_multiplier={self.std_multiplier}.")

    def to_dict(self) -> dict:
        """Plain dict (JSON-serialisable)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "N2VConfig":
        """Build from a dict, ignoring keys that start with ``_`` (comments in the JSON files)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(k for k in values if k not in names and not k.startswith("_"))
        if unknown:
            raise ValueError(f"unknown N2V config keys {unknown}; valid keys are {sorted(names)}.")
        return cls(**{k: v for k, v in values.items() if k in names})

    @classmethod
    def from_json(cls, path) -> "N2VConfig":
        """Read a config written by :meth:`to_dict` (or ``models/n2v_stem.json``: its ``config`` entry)."""
        values = json.loads(Path(path).read_text())
        return cls.from_dict(values.get("config", values))


# --------------------------------------------------------------------------------------------------
# Masking: pure TensorFlow functions of a batch and a seed
# --------------------------------------------------------------------------------------------------


def _seed(seed):
    """A stateless seed, int32 ``[2]``, from an int or a pair (Python, NumPy or tensor)."""
    if isinstance(seed, (int, np.integer)):
        return tf.constant([int(seed), 0], tf.int32)
    return tf.cast(tf.convert_to_tensor(seed), tf.int32)


def jittered_grid_points(batch, height, width, seed, *, spacing=24, jitter=2):
    """Jittered grid of masked pixel positions, one grid per patch (paper, Methods and Fig. 2d).

    The grid ``origin + (i·spacing, j·spacing)`` with a random origin in ``[0, spacing)^2`` per patch
    covers the patch; each point then moves by independent integers in ``[-jitter, jitter]`` in y and
    x. Points that fall outside the patch are dropped by :func:`points_to_mask`.

    Parameters
    ----------
    batch, height, width : int or scalar int tensor
        Patches and their size in px.
    seed : int or int tensor of shape [2]
        Stateless seed: the same seed gives the same points.
    spacing : int
        Grid pitch in px (paper: 24).
    jitter : int
        Maximum displacement in px (paper: 2).

    Returns
    -------
    points : tf.Tensor, int32 ``[batch, ny, nx, 2]``
        (y, x) of each jittered point; ``ny = ceil(height / spacing)``, ``nx`` likewise.
    origin : tf.Tensor, int32 ``[batch, 2]``
        The un-jittered grid's origin (y, x) in px.
    """
    seed = _seed(seed)
    ny = (height + spacing - 1) // spacing
    nx = (width + spacing - 1) // spacing
    seed_origin = tf.random.experimental.stateless_fold_in(seed, 0)
    seed_jitter = tf.random.experimental.stateless_fold_in(seed, 1)
    origin = tf.random.stateless_uniform([batch, 2], seed_origin, minval=0, maxval=spacing, dtype=tf.int32)
    offsets = tf.random.stateless_uniform(
        [batch, ny, nx, 2], seed_jitter, minval=-jitter, maxval=jitter + 1, dtype=tf.int32
    )
    iy = tf.range(ny, dtype=tf.int32)[:, None] * spacing
    ix = tf.range(nx, dtype=tf.int32)[None, :] * spacing
    base = tf.stack([tf.broadcast_to(iy, [ny, nx]), tf.broadcast_to(ix, [ny, nx])], axis=-1)
    points = origin[:, None, None, :] + base[None] + offsets
    return points, origin


def points_to_mask(points, height, width):
    """Binary mask ``float32 [N, height, width, 1]`` with ones at ``points`` (int32 ``[N, ny, nx, 2]``).

    Points outside the patch are ignored. Built from one-hot rows and columns (static shapes, no
    scatter), so it runs in ``tf.data``, under XLA and on a GPU.
    """
    rows = tf.one_hot(points[..., 0], height, dtype=tf.float32)  # [N, ny, nx, H]; out of range -> 0
    cols = tf.one_hot(points[..., 1], width, dtype=tf.float32)  # [N, ny, nx, W]
    mask = tf.einsum("bijy,bijx->byx", rows, cols)
    return tf.minimum(mask, 1.0)[..., None]


def _box_sum(x, radius):
    """Sum over the ``(2·radius+1)^2`` window of each pixel and channel, zero outside the image."""
    size = 2 * radius + 1
    channels = tf.shape(x)[-1]
    column = tf.ones([size, 1, channels, 1], x.dtype)
    row = tf.ones([1, size, channels, 1], x.dtype)
    x = tf.nn.depthwise_conv2d(x, column, strides=[1, 1, 1, 1], padding="SAME")
    return tf.nn.depthwise_conv2d(x, row, strides=[1, 1, 1, 1], padding="SAME")


def local_mean_excluding_centre(x, radius=12):
    """Mean of each pixel's ``(2r+1)^2`` neighbourhood without the pixel itself (N2V2 replacement).

    Windows are clipped at the image border and the divisor counts only the pixels inside the
    image, minus the centre — not ``w^2 - B·C`` as in the successor code (anchors 3b).

    Parameters
    ----------
    x : tf.Tensor, float32 ``[N, H, W, C]``
    radius : int
        Window half-side r in px (window side 2r + 1).

    Returns
    -------
    tf.Tensor, float32 ``[N, H, W, C]``
    """
    x = tf.convert_to_tensor(x, tf.float32)
    total = _box_sum(x, radius)
    count = _box_sum(tf.ones_like(x[..., :1]), radius)
    return (total - x) / (count - 1.0)


def _flip_inside(position, offset, size):
    """``position + offset``, or ``position - offset`` where that leaves the image: never the centre itself
    (a mirror about the border could map ``y - 2`` at ``y = 1`` back onto ``y``)."""
    moved = position + offset
    return tf.where((moved < 0) | (moved >= size), position - offset, moved)


def random_neighbour(x, seed, radius=2):
    """Original N2V replacement: each pixel's value taken from a random other pixel of its window.

    One offset per pixel, the same for every channel (both channels see the same neighbour); the
    offset is uniform over the ``(2r+1)^2 - 1`` non-centre positions; at the border an offset that
    leaves the image is reversed.

    Parameters
    ----------
    x : tf.Tensor, float32 ``[N, H, W, C]``
    seed : int or int tensor of shape [2]
    radius : int
        Window half-side r in px (N2V default: 2, a 5x5 window).

    Returns
    -------
    tf.Tensor, float32 ``[N, H, W, C]``
    """
    x = tf.convert_to_tensor(x, tf.float32)
    shape = tf.shape(x)
    n, h, w = shape[0], shape[1], shape[2]
    size = 2 * radius + 1
    centre = radius * size + radius
    draw = tf.random.stateless_uniform([n, h, w], _seed(seed), minval=0, maxval=size * size - 1, dtype=tf.int32)
    draw = draw + tf.cast(draw >= centre, tf.int32)
    dy, dx = draw // size - radius, draw % size - radius
    yy, xx = _flip_inside(tf.range(h)[None, :, None], dy, h), _flip_inside(tf.range(w)[None, None, :], dx, w)
    bb = tf.broadcast_to(tf.range(n)[:, None, None], [n, h, w])
    return tf.gather_nd(x, tf.stack([bb, yy, xx], axis=-1))


def mask_batch(patches, seed, *, spacing=24, jitter=2, replacement="local_mean", radius=12):
    """Mask a batch of normalised patches for Noise2Void training.

    The same pixels are masked in every channel of a patch (one mask shared by ADF and BF, so that
    one channel cannot leak the other's value at a masked pixel).

    Parameters
    ----------
    patches : tf.Tensor, float32 ``[N, H, W, C]``
    seed : int or int tensor of shape [2]
    spacing, jitter : int
        See :func:`jittered_grid_points`.
    replacement : {"local_mean", "neighbour"}
        See :class:`N2VConfig`.
    radius : int
        Replacement window half-side, px.

    Returns
    -------
    masked : tf.Tensor, float32 ``[N, H, W, C]``
        Input of the network: ``patches`` with masked pixels replaced.
    mask : tf.Tensor, float32 ``[N, H, W, 1]``
        1 at masked pixels.
    """
    if replacement not in REPLACEMENTS:
        raise ValueError(f"replacement must be one of {REPLACEMENTS}; received replacement={replacement!r}.")
    patches = tf.convert_to_tensor(patches, tf.float32)
    seed = _seed(seed)
    shape = tf.shape(patches)
    height = patches.shape[1] if patches.shape[1] is not None else shape[1]
    width = patches.shape[2] if patches.shape[2] is not None else shape[2]
    points, _ = jittered_grid_points(shape[0], height, width, tf.random.experimental.stateless_fold_in(seed, 0),
                                     spacing=spacing, jitter=jitter)
    mask = points_to_mask(points, height, width)
    if replacement == "local_mean":
        values = local_mean_excluding_centre(patches, radius)
    else:
        values = random_neighbour(patches, tf.random.experimental.stateless_fold_in(seed, 1), radius)
    return patches * (1.0 - mask) + values * mask, mask


# --------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------


def as_frames(frames, channels=None) -> np.ndarray:
    """Validate and copy a video to ``float32 [N, H, W, C]``.

    ``[N, H, W]`` becomes ``[N, H, W, 1]``. A 4-D array whose *first* axis is small (<= 4) and last
    axis large looks like ``[C, N, H, W]``: rejected with a message rather than silently misread.
    """
    array = np.asarray(frames)
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4:
        raise ValueError(f"frames must be [N, H, W] or [N, H, W, C]; received shape {array.shape}.")
    if array.shape[-1] > 8:
        raise ValueError(
            f"frames has {array.shape[-1]} channels on its last axis (shape {array.shape}); pass [N, H, W, C] "
            "with channels last (e.g. np.moveaxis(frames, 1, -1))."
        )
    if array.size == 0:
        raise ValueError(f"frames must hold at least one frame of at least 1x1 px; received shape {array.shape}.")
    if np.iscomplexobj(array):
        raise ValueError("frames are complex; pass real intensities (e.g. np.abs(frames)).")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise ValueError(f"frames must be real numbers; received dtype {array.dtype}.")
    finite = np.isfinite(array)
    if not finite.all():
        raise ValueError(f"frames contain {int(array.size - finite.sum())} NaN or inf values; replace them before "
                         "training.")
    with np.errstate(over="ignore"):
        array = array.astype(np.float32, copy=True)
    if not np.isfinite(array).all():
        largest = float(np.abs(np.asarray(frames)).max())
        raise ValueError(f"frames hold values beyond float32 (largest magnitude {largest:.3g}); rescale them "
                         "before training.")
    if channels is not None and array.shape[-1] != channels:
        raise ValueError(f"the model expects {channels} channels; received frames with {array.shape[-1]}.")
    return array


def normalise_frames(frames, std_multiplier=N2V_STD_MULTIPLIER, std_floor=N2V_STD_FLOOR) -> np.ndarray:
    """Per frame and channel ``(x - mean) / max(std_multiplier · std, std_floor)`` (successor code).

    The same statistics the deployable model's ``StandardizePerImage`` layer computes on each frame.
    ``frames``: float32 ``[N, H, W, C]``; returns a new float32 array of the same shape.
    """
    frames = np.asarray(frames, dtype=np.float32)
    out = np.empty_like(frames)
    for i in range(frames.shape[0]):  # frame by frame: no float64 copy of the whole video
        frame = frames[i].astype(np.float64)
        mean = frame.mean(axis=(0, 1))
        scale = np.maximum(std_multiplier * frame.std(axis=(0, 1)), std_floor)
        out[i] = ((frame - mean) / scale).astype(np.float32)
    return out


def check_frames(frames, config: N2VConfig) -> None:
    """Raise a one-line ValueError unless ``frames`` can train ``config``.

    ``frames``: ``[N, H, W]`` or ``[N, H, W, C]`` (C <= 8, channels last), real numbers, finite, N >= 1,
    H and W >= ``config.patch_size``.
    """
    _check_patch_fits(as_frames(frames), config.patch_size)


def _check_patch_fits(frames, patch_size):
    if frames.shape[1] < patch_size or frames.shape[2] < patch_size:
        raise ValueError(
            f"patch_size={patch_size} is larger than the frames ({frames.shape[1]}x{frames.shape[2]}); "
            "pass a smaller patch_size (a multiple of 2**depth)."
        )


def training_dataset(frames_n, config: N2VConfig, *, seed=None):
    """Infinite ``tf.data`` stream of masked training batches from normalised frames.

    Patches are random ``patch_size`` crops of random frames (host-side NumPy indexing, seeded);
    masking is the TensorFlow :func:`mask_batch` with the stateless seed ``(seed, batch index)``.

    Parameters
    ----------
    frames_n : numpy.ndarray, float32 ``[N, H, W, C]``
        Normalised training frames (already every ``frame_step``-th frame).
    config : N2VConfig
    seed : int, optional
        Defaults to ``config.seed``.

    Returns
    -------
    tf.data.Dataset
        Elements ``(masked [B, p, p, C], packed [B, p, p, C + 1])`` where ``packed`` is the target
        with the mask as last channel (see :func:`tfstem.n2v.losses.packed_masked_mse`).
    """
    seed = config.seed if seed is None else int(seed)
    p, channels = config.patch_size, frames_n.shape[-1]
    _check_patch_fits(frames_n, p)

    def patches():
        rng = np.random.default_rng([seed, 1])
        n, h, w = frames_n.shape[:3]
        while True:
            i, y, x = rng.integers(n), rng.integers(h - p + 1), rng.integers(w - p + 1)
            yield frames_n[i, y : y + p, x : x + p]

    def masked(index, batch):
        masked_batch, mask = mask_batch(
            batch, tf.stack([tf.constant(seed, tf.int64), index]), spacing=config.mask_spacing,
            jitter=config.mask_jitter, replacement=config.replacement, radius=config.replacement_radius,
        )
        return masked_batch, tf.concat([batch, mask], axis=-1)

    dataset = tf.data.Dataset.from_generator(
        patches, output_signature=tf.TensorSpec([p, p, channels], tf.float32)
    )
    return dataset.batch(config.batch_size, drop_remainder=True).enumerate().map(masked).prefetch(2)


def validation_batch(frames_n, config: N2VConfig):
    """Fixed validation patches and masks (seeded), so that the validation loss compares across epochs.

    Returns ``(masked [V, p, p, C], packed [V, p, p, C + 1])`` as NumPy arrays.
    """
    p = config.patch_size
    _check_patch_fits(frames_n, p)
    rng = np.random.default_rng([config.seed, 2])
    n, h, w = frames_n.shape[:3]
    crops = np.stack([
        frames_n[rng.integers(n), y : y + p, x : x + p]
        for y, x in zip(rng.integers(h - p + 1, size=config.validation_patches),
                        rng.integers(w - p + 1, size=config.validation_patches))
    ])
    masked_batch, mask = mask_batch(crops, [config.seed, -1], spacing=config.mask_spacing, jitter=config.mask_jitter,
                                    replacement=config.replacement, radius=config.replacement_radius)
    return masked_batch.numpy(), np.concatenate([crops, mask.numpy()], axis=-1)


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------


def core_of(model) -> keras.Model:
    """The U-Net core inside a deployable N2V model (or the model itself if it is a core)."""
    if model.inputs and model.inputs[0].name.split(":")[0] in ("normalised",) or model.name.endswith("_core"):
        return model
    for layer in model.layers:
        if isinstance(layer, keras.Model) and layer.name.endswith("_core"):
            return layer
    raise ValueError(
        f"model {model.name!r} is not a tfstem N2V model (no '*_core' U-Net inside); pass a model returned by "
        "tfstem.n2v.fit or tfstem.n2v.unet.build_n2v_unet."
    )


def _uncompiled_copy(core):
    """A new core with the same architecture and weights, without optimizer or compile state."""
    copy = keras.Model.from_config(core.get_config())
    copy.set_weights(core.get_weights())
    return copy


class _TimeBudget(keras.callbacks.Callback):
    """Stop cleanly (end of the current step) once ``max_minutes`` of wall clock have passed."""

    def __init__(self, max_minutes):
        super().__init__()
        self.max_seconds = None if max_minutes is None else 60.0 * float(max_minutes)
        self.start = time.monotonic()
        self.stopped = False

    def on_train_begin(self, logs=None):
        self.start = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        if self.max_seconds is not None and time.monotonic() - self.start >= self.max_seconds:
            self.model.stop_training = True
            self.stopped = True


class _BestWeights(keras.callbacks.Callback):
    """Keep the weights of the lowest validation loss in memory; with a :class:`_RunWriter`, save them."""

    def __init__(self, wrap, run=None):
        super().__init__()
        self.wrap = wrap
        self.run = run
        self.best = math.inf
        self.best_weights = None
        self.best_epoch = None
        self.history = []

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        loss = float(logs.get("val_loss", logs.get("loss", math.inf)))
        self.history.append({"epoch": epoch + 1, "loss": float(logs.get("loss", math.nan)), "val_loss": loss})
        improved = loss < self.best
        if improved:
            self.best, self.best_epoch = loss, epoch + 1
            self.best_weights = self.model.get_weights()
        if self.run is not None:
            self.run.save_model(self.wrap(), "checkpoints/last.keras")
            if improved:
                self.run.save_model(self.wrap(), "checkpoints/best.keras")


#: What a run writes in its folder; any of them marks an earlier run (``tensorboard/`` alone does not).
RUN_OUTPUTS = ("config.json", "checkpoints", "history.json", "model.keras")


class _RunWriter:
    """Writes a run's folder only when there is something to keep, every file aside and renamed into place.

    The first saved model (the first checkpoint) first removes an earlier run's :data:`RUN_OUTPUTS` (possible
    only with ``force``) and writes ``config.json``; a run that fails before it leaves no record behind, so
    its retry needs no ``--force``.
    """

    def __init__(self, directory, record: dict):
        self.directory, self.record, self.started = Path(directory), record, False

    def _start(self):
        if not self.started:
            clear_previous_run(self.directory, RUN_OUTPUTS)
            self.directory.mkdir(parents=True, exist_ok=True)
            write_json(self.directory / "config.json", self.record, force=True)
            self.started = True

    def save_model(self, model, name: str) -> None:
        self._start()
        path = self.directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path, force=True) as partial:
            model.save(partial)

    def save_json(self, name: str, value) -> None:
        self._start()
        write_json(self.directory / name, value, force=True)


def run_record(config: N2VConfig, frames) -> dict:
    """The saved ``config.json`` of a run: the config plus the fingerprint of its frames (key ``_data``)."""
    return {**config.to_dict(), DATA_KEY: data_fingerprint(np.asarray(frames))}


class _Tqdm(keras.callbacks.Callback):
    """A tqdm bar over all training steps with the running loss."""

    def __init__(self, total, enabled):
        super().__init__()
        self.total, self.enabled, self.bar = total, enabled, None

    def on_train_begin(self, logs=None):
        if self.enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.total, desc="N2V training", unit="step")

    def on_train_batch_end(self, batch, logs=None):
        if self.bar is not None:
            self.bar.update(1)
            if logs and "loss" in logs:
                self.bar.set_postfix(loss=f"{float(logs['loss']):.4g}")

    def on_epoch_end(self, epoch, logs=None):
        if self.bar is not None and logs and "val_loss" in logs:
            self.bar.set_postfix(loss=f"{float(logs.get('loss', math.nan)):.4g}", val=f"{float(logs['val_loss']):.4g}")

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()


def _split(frames_n, frame_step):
    """Training frames: every ``frame_step``-th (paper: every other); validation: the others."""
    train_frames = frames_n[::frame_step]
    others = np.ones(frames_n.shape[0], bool)
    others[::frame_step] = False
    validation_frames = frames_n[others] if others.any() else frames_n
    return train_frames, validation_frames


def train(frames, config: N2VConfig | None = None, *, model=None, max_minutes=None, output_dir=None,
          force=False, verbose=True, callbacks=None):
    """Train (or transfer-train) a Noise2Void U-Net on a video and return the deployable model.

    Parameters
    ----------
    frames : array_like, ``[N, H, W]`` or ``[N, H, W, C]``
        Raw frames (any real dtype; not modified). C = 2 for simultaneous ADF + BF.
    config : N2VConfig, optional
        Hyperparameters (default: the paper's).
    model : keras.Model or str or path, optional
        A trained N2V model (deployable or core, or a ``.keras`` path) to continue from: transfer
        training (paper, Fig. 10c). Its architecture overrides the config's; it is copied, not
        modified.
    max_minutes : float, optional
        Wall-clock budget; training stops at the end of the step that exceeds it, runs validation
        and returns the best model so far.
    output_dir : str or path, optional
        Writes ``checkpoints/best.keras``, ``checkpoints/last.keras`` (every epoch), ``config.json`` (the
        config and a fingerprint of ``frames``, with the first checkpoint), ``tensorboard/``, and at the end
        ``history.json`` and ``model.keras``; each file is written aside and renamed into place.
    force : bool
        Replace the earlier run in ``output_dir`` (removed when the first checkpoint is saved); without it
        a folder holding one is refused before any work. N2V runs cannot be resumed.
    verbose : bool
        tqdm progress bar.
    callbacks : list of keras.callbacks.Callback, optional
        Called with Keras' usual hooks (per-step ``loss``, per-epoch ``loss`` and ``val_loss``) after
        tfstem's own; one that sets ``self.model.stop_training = True`` ends training like the budget does
        (the napari Train widget's live loss readout and Stop button).

    Returns
    -------
    model : keras.Model
        Deployable model (MODEL CONTRACT): input ``image`` float32 ``[N, H, W, C]`` raw intensities,
        any H and W; output the denoised frames of the same shape.
    info : dict
        ``steps``, ``seconds``, ``best_epoch``, ``best_val_loss``, ``history``, ``stopped_by_budget``,
        ``images_per_second``.

    Raises
    ------
    ValueError
        Frames that are empty, not 3-D or 4-D, complex, not numbers, hold NaN or inf, or are smaller than
        ``patch_size``; channels that do not match ``model``.
    FileExistsError
        ``output_dir`` holds an earlier run and ``force`` is False.
    """
    config = config or N2VConfig()
    if max_minutes is not None and not float(max_minutes) > 0:
        raise ValueError(f"max_minutes must be > 0 or None; received max_minutes={max_minutes}.")
    run = None
    if output_dir is not None:  # before the model is loaded or built
        check_directory_writable(output_dir, what="output_dir")
        check_frames(frames, config)
        record = run_record(config, frames)
        prepare_run_folder(output_dir, record, resume=False, force=force, outputs=RUN_OUTPUTS,
                           record_file="config.json", what="output_dir", resumable=False)
        run = _RunWriter(output_dir, record)
    if model is not None:
        if isinstance(model, (str, os.PathLike)):
            import tfstem.n2v.unet  # noqa: F401  (registers the custom layers)

            model = keras.models.load_model(model)
        core = _uncompiled_copy(core_of(model))
        channels = int(core.input_shape[-1])
        depth = sum(1 for layer in core.layers if isinstance(layer, keras.layers.AveragePooling2D))
        config = dataclasses.replace(config, depth=depth)
        if run is not None:  # record the depth actually trained
            run.record = {**run.record, **config.to_dict()}
    else:
        core = None
        channels = None
    frames = as_frames(frames, channels)
    _check_patch_fits(frames, config.patch_size)
    channels = frames.shape[-1]
    if core is None:
        core = build_n2v_unet_core(
            channels=channels, depth=config.depth, features=config.features,
            first_kernel_size=config.first_kernel_size, kernel_size=config.kernel_size,
            group_norm_groups=config.group_norm_groups,
        )
    frames_n = normalise_frames(frames, config.std_multiplier)
    train_frames, validation_frames = _split(frames_n, config.frame_step)
    steps = config.steps_per_epoch or max(1, math.ceil(train_frames.shape[0] / config.batch_size))

    def wrap():
        # An uncompiled copy: a .keras file of the compiled core would need tfstem.losses imported to load.
        return build_n2v_unet(core=_uncompiled_copy(core), std_multiplier=config.std_multiplier, name="n2v_unet")

    core.compile(optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate), loss=packed_masked_mse)
    budget = _TimeBudget(max_minutes)
    best = _BestWeights(wrap, run)
    user_callbacks = list(callbacks or ())
    callbacks = [budget, best, _Tqdm(steps * config.epochs, verbose)]
    if output_dir is not None:
        output_dir = Path(output_dir)
        if importlib.util.find_spec("tensorboard") is not None:
            callbacks.append(keras.callbacks.TensorBoard(log_dir=str(output_dir / "tensorboard"), update_freq="epoch"))
        elif verbose:
            warnings.warn("TensorBoard is not installed (pip install tensorboard); no TensorBoard logs written.",
                          stacklevel=2)
    callbacks += user_callbacks
    start = time.monotonic()
    history = core.fit(
        training_dataset(train_frames, config),
        validation_data=validation_batch(validation_frames, config),
        validation_batch_size=config.batch_size,
        epochs=config.epochs,
        steps_per_epoch=steps,
        callbacks=callbacks,
        verbose=0,
        shuffle=False,
    )
    seconds = time.monotonic() - start
    if best.best_weights is not None:
        core.set_weights(best.best_weights)
    step_count = int(core.optimizer.iterations.numpy())
    info = {
        "steps": step_count,
        "seconds": seconds,
        "images_per_second": step_count * config.batch_size / seconds if seconds > 0 else math.nan,
        "best_epoch": best.best_epoch,
        "best_val_loss": best.best,
        "history": best.history,
        "stopped_by_budget": budget.stopped,
        "keras_history": {k: [float(v) for v in vals] for k, vals in history.history.items()},
    }
    deployable = wrap()
    if run is not None:
        run.save_json("history.json", info)
        run.save_model(deployable, "model.keras")
    return deployable, info


# --------------------------------------------------------------------------------------------------
# Command line: tfstem train n2v SERIES -o DIR
# --------------------------------------------------------------------------------------------------


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``tfstem train n2v``."""
    defaults = N2VConfig()
    parser.description = "Train dual-channel Noise2Void (Thornley et al. 2025) on a video of noisy frames."
    parser.add_argument("series", help="video [N, H, W] or [N, H, W, C] (.tif/.tiff stack, .npy, .npz, or any "
                        "format tfstem.io reads)")
    parser.add_argument("-o", "--output", required=True, help="output directory (model.keras, checkpoints, "
                        "tensorboard, config.json, history.json)")
    parser.add_argument("--config", default=None, help="JSON config (e.g. models/n2v_stem.json); flags override it")
    parser.add_argument("--from-model", default=None, help="transfer training: .keras model to continue from")
    parser.add_argument("--channels-axis", type=int, default=None,
                        help="axis of the channels in SERIES if it is not the last (e.g. 1 for [N, C, H, W])")
    parser.add_argument("--max-minutes", type=float, default=None, help="wall-clock budget in minutes")
    for name, kind in (("epochs", int), ("batch_size", int), ("learning_rate", float), ("patch_size", int),
                       ("features", int), ("depth", int), ("steps_per_epoch", int), ("mask_spacing", int),
                       ("mask_jitter", int), ("replacement_radius", int), ("frame_step", int), ("seed", int)):
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=None,
                            help=f"default {getattr(defaults, name)}")
    parser.add_argument("--replacement", choices=REPLACEMENTS, default=None, help="default local_mean (N2V2)")
    parser.add_argument("--force", action="store_true",
                        help="replace an earlier run in the output directory (N2V runs cannot be resumed)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _read_series(path, channels_axis=None) -> np.ndarray:
    """The series in ``path`` as stored (``[N, H, W]`` or ``[N, H, W, C]``), read by :func:`tfstem.io.read_image`.

    ``channels_axis`` counts axes as stored in the file; ImageJ hyperstacks (TCYX) have their channels moved
    last without it. ``.npz`` archives give their ``noisy`` array (the shipped example video).
    """
    from tfstem.io import read_image

    return np.asarray(read_image(path, channels_axis=channels_axis).data)


def run_cli(args) -> int:
    """Run ``tfstem train n2v``; returns the exit status (0).

    An output directory holding an earlier run is refused unless ``--force``; the directory, the series
    and the options are all checked before the model is built.
    """
    output = Path(args.output)
    check_directory_writable(output, what="-o/--output")
    frames = _read_series(args.series, args.channels_axis)
    config = N2VConfig.from_json(args.config) if args.config else N2VConfig()
    overrides = {name: getattr(args, name) for name in ("epochs", "batch_size", "learning_rate", "patch_size",
                 "features", "depth", "steps_per_epoch", "mask_spacing", "mask_jitter", "replacement_radius",
                 "frame_step", "seed", "replacement") if getattr(args, name) is not None}
    config = dataclasses.replace(config, **overrides)
    model, info = train(frames, config, model=args.from_model, max_minutes=args.max_minutes, output_dir=output,
                        force=args.force, verbose=not args.quiet)
    print(f"trained {info['steps']} steps in {info['seconds']:.0f} s (best epoch {info['best_epoch']}, "
          f"validation loss {info['best_val_loss']:.4g}); model -> {output / 'model.keras'}")
    return 0
