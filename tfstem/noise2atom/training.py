"""Noise2Atom trainer: the paper's per-batch schedule of critic, adversarial and cycle updates.

Wang et al., Appl. Microsc. 50:23 (2020), section "Training Details". In a single batch:

1. train the critic D 5 times, noisy (as Ms2c(s)) -> "False" (+1), clean -> "True" (-1), with the
   WGAN-GP penalty (Eq. 1-5);
2. train Ms2c∘D once, noisy -> "True" with D fixed (adversarial term of Eq. 1, weight alpha = 5);
3. train Ms2c∘Mc2s∘Ms2b once, noisy -> its low-frequency features with Ms2b fixed (Eq. 7);
4. train Mc2s∘Ms2c once, clean -> itself (Eq. 6, weight beta = 1).

RMSprop (learning rate 5e-5, momentum 0.9), batch 6, 128x128 crops, 120 frames sampled from the series,
100 epochs, early stop when L_cycle < 0.05 and L_lfc < 0.1. Every departure of the released code
(``cycle_updates="joint"``, ``rmsprop_momentum=0``, batch 3, per-pixel penalty weights, normalisation over
H, W, C, ``same``-padded low-pass) is a :class:`Noise2AtomConfig` option; ``models/noise2atom.json``
lists them with both readings and the presets ``paper``, ``released`` and ``cpu_budget``.

The trainer is a plain Python object holding functional Keras sub-models and one ``tf.function`` step
(no NumPy inside it), so it runs unchanged on a GPU. Command line: ``tfstem train noise2atom SERIES -o DIR``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import time
import warnings
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tfstem.noise2atom import losses as n2a_losses
from tfstem.noise2atom.lowpass import LOWPASS_KERNELS, build_lowpass
from tfstem.noise2atom.wgan_critic import CRITIC_GRIDS, build_wgan_critic
from tfstem.noise2atom.xception_unet import NORMALIZATIONS, build_denoiser, build_xception_unet
from tfstem.outputs import atomic_file, check_directory_writable, write_json
from tfstem.paths import MODELS_DIR
from tfstem.noise2atom.clean_domain import clean_domain_dataset
from tfstem.training.run_folder import DATA_KEY, clear_previous_run, data_fingerprint, prepare_run_folder

__all__ = ["Noise2AtomConfig", "Noise2AtomTrainer", "load_config", "prepare_frames", "check_frames",
           "mapping_correlation",
           "check_reverted_mapping", "add_cli_arguments", "run_cli"]

CONFIG_PATH = MODELS_DIR / "noise2atom.json"


@dataclasses.dataclass(frozen=True)
class Noise2AtomConfig:
    """Every hyperparameter of Noise2Atom; defaults are the paper's (section in ``models/noise2atom.json``).

    Attributes
    ----------
    base_filters, num_residual_blocks, full_resolution_kernels, low_resolution_kernels, normalization
        Generator (section "Network Architectures"; widths from the released code): 64, 16, (1, 3, 5, 7),
        (3, 5), "instance" (paper) or "released".
    critic_filters, critic_dropout, critic_grid
        Critic: (64, 64, 128, 128), 0.25, "alternating" (stride-2 grids even/odd/even/odd, symmetric) or
        "even" (released: every module on the even grid, blind to the bottom/right border; see
        :func:`~tfstem.noise2atom.wgan_critic.build_wgan_critic`).
    lowpass_size, lowpass_sigma, lowpass_kernel, lowpass_padding
        Ms2b: 33, 15, "paper" | "code_intent", "valid" (paper) | "same" (released).
    gp_weight, alpha, beta, gp_interpolation
        lambda = 10 (Eq. 1), alpha = 5, beta = 1 (Eq. 8), "per_sample" | "per_pixel" (released).
    critic_steps, cycle_updates
        5 critic updates per batch; "separate" (paper: steps 3 and 4 apart) | "joint" (released: one
        update on L_lfc + L_cycle).
    generator_optimizers
        "shared" (released code: one RMSprop, i.e. one set of RMS and momentum accumulators, for the
        adversarial, low-frequency and cycle updates of the generators) | "per_update" (one RMSprop per
        sub-model update of the schedule, as separately compiled Keras sub-models would have; the paper is
        silent). Shared, the adversarial gradients set the RMS scale, and the L_lfc gradients, 65x-285x smaller
        on Ms2c (cpu_budget networks, 128 px crops, iterations 0 and 29), take that much smaller steps.
    adversarial_warmup
        Iterations at the start that run only the cycle updates (steps 3 and 4: no critic, no adversarial
        update), so that L_lfc ties Ms2c's output to the input's atoms before the critic shapes it. 0 (paper:
        the whole schedule from the first batch). Their critic, gp and gan losses are recorded as NaN.
    warmup_critic
        False: the warm-up skips the critic too. True: the critic's 5 updates (step 1) run during the
        warm-up, only Ms2c's adversarial update (step 2) is skipped, so that when it starts the critic
        already tells Ms2c's tied output from the clean domain instead of giving an untrained critic's
        gradients (their gan loss is recorded as NaN).
    sign_anchor_weight, sign_anchor_margin
        0 (paper: no such term) and 0.2. With a positive weight, step 3 (Ms2c∘Mc2s∘Ms2b) also minimises
        ``weight * max(0, margin - corr(G_2 * s, Ms2c(s)))``
        (:func:`~tfstem.noise2atom.losses.sign_anchor_loss`), the reverted-mapping check made
        differentiable: it fixes the contrast sign that Eq. 1-8 leave free (failure case 1) and is zero once
        the output correlates with the smoothed input by more than ``margin``. Recorded as ``anchor``
        whatever the weight.
    learning_rate, rmsprop_rho, rmsprop_momentum
        5e-5, 0.9, 0.9 (paper's "momentum 0.9"; the released code's Keras-2 RMSprop has rho 0.9 and no momentum).
    adversarial_learning_rate
        None: ``learning_rate``. With ``generator_optimizers="per_update"`` each update's RMSprop divides its
        gradient by its own RMS, so alpha (Eq. 8) no longer weighs the adversarial update against the cycle
        ones; its own learning rate is then the weight that remains. Needs "per_update".
    batch_size, crop_size, training_frames, epochs, steps_per_epoch
        6 (released: 3), 128, 120, 100; ``steps_per_epoch=None`` = enough batches to cover every
        128x128 tile of the sampled frames once.
    crop_sampling
        "random" (independent frame and window per crop) | "consecutive" (released: one window cut from
        ``batch_size`` consecutive frames).
    early_stop_cycle, early_stop_lfc
        0.05, 0.1 (epoch means); ``None`` disables early stopping.
    site_pitch, integer_variance
        Clean-domain simulator readings, see :mod:`tfstem.noise2atom.clean_domain`.
    seed
        Seeds weights, crops, clean images and penalty interpolation.
    """

    base_filters: int = 64
    num_residual_blocks: int = 16
    full_resolution_kernels: tuple = (1, 3, 5, 7)
    low_resolution_kernels: tuple = (3, 5)
    normalization: str = "instance"
    critic_filters: tuple = (64, 64, 128, 128)
    critic_dropout: float = 0.25
    critic_grid: str = "alternating"
    lowpass_size: int = 33
    lowpass_sigma: float = 15.0
    lowpass_kernel: str = "paper"
    lowpass_padding: str = "valid"
    gp_weight: float = n2a_losses.GRADIENT_PENALTY_WEIGHT
    alpha: float = n2a_losses.ALPHA
    beta: float = n2a_losses.BETA
    gp_interpolation: str = "per_sample"
    critic_steps: int = 5
    cycle_updates: str = "separate"
    generator_optimizers: str = "shared"
    adversarial_warmup: int = 0
    warmup_critic: bool = False
    sign_anchor_weight: float = 0.0
    sign_anchor_margin: float = 0.2
    learning_rate: float = 5e-5
    adversarial_learning_rate: float | None = None
    rmsprop_rho: float = 0.9
    rmsprop_momentum: float = 0.9
    batch_size: int = 6
    crop_size: int = 128
    training_frames: int = 120
    epochs: int = 100
    steps_per_epoch: int | None = None
    crop_sampling: str = "random"
    early_stop_cycle: float | None = 0.05
    early_stop_lfc: float | None = 0.1
    site_pitch: int = 1
    integer_variance: bool = False
    seed: int = 0

    def __post_init__(self):
        for name in ("full_resolution_kernels", "low_resolution_kernels", "critic_filters"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        choices = {
            "normalization": NORMALIZATIONS, "lowpass_kernel": LOWPASS_KERNELS, "lowpass_padding": ("valid", "same"),
            "gp_interpolation": ("per_sample", "per_pixel"), "cycle_updates": ("separate", "joint"),
            "crop_sampling": ("random", "consecutive"), "critic_grid": CRITIC_GRIDS,
            "generator_optimizers": ("shared", "per_update"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}; received {name}={getattr(self, name)!r}.")
        positive = ("base_filters", "critic_steps", "batch_size", "crop_size", "training_frames", "epochs")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer; received {name}={getattr(self, name)}.")
        for name in ("warmup_critic", "integer_variance"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be true or false; received {name}={getattr(self, name)!r}.")
        if int(self.adversarial_warmup) < 0:
            raise ValueError(f"adversarial_warmup must be >= 0 iterations; received {self.adversarial_warmup}.")
        if not self.sign_anchor_weight >= 0:
            raise ValueError(f"sign_anchor_weight must be >= 0 (0: off, as in the paper); "
                             f"received {self.sign_anchor_weight}.")
        if not -1.0 < self.sign_anchor_margin <= 1.0:
            raise ValueError(f"sign_anchor_margin is a correlation and must lie in (-1, 1]; "
                             f"received {self.sign_anchor_margin}.")
        if self.num_residual_blocks < 0:
            raise ValueError(f"num_residual_blocks must be >= 0; received {self.num_residual_blocks}.")
        if self.crop_size % 16:
            raise ValueError(f"crop_size must be a multiple of 16 (critic: 4 halvings); received {self.crop_size}.")
        if self.lowpass_padding == "valid" and self.crop_size <= self.lowpass_size:
            raise ValueError(f"crop_size must exceed lowpass_size={self.lowpass_size} with valid padding; "
                             f"received crop_size={self.crop_size}.")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive; received {self.learning_rate}.")
        if self.adversarial_learning_rate is not None:
            if not self.adversarial_learning_rate > 0:
                raise ValueError("adversarial_learning_rate must be positive or None; "
                                 f"received {self.adversarial_learning_rate}.")
            if self.generator_optimizers != "per_update":
                raise ValueError("adversarial_learning_rate needs generator_optimizers='per_update' (with one shared "
                                 "optimizer the adversarial and cycle updates cannot have different rates).")
        if self.steps_per_epoch is not None and int(self.steps_per_epoch) < 1:
            raise ValueError(f"steps_per_epoch must be positive or None; received {self.steps_per_epoch}.")

    def replace(self, **changes) -> "Noise2AtomConfig":
        """A copy with ``changes`` applied (validated)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"unknown Noise2Atom option(s) {sorted(unknown)}; see models/noise2atom.json.")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def load_config(preset: str = "paper", path: str | os.PathLike | None = None, **overrides) -> Noise2AtomConfig:
    """Read a preset of ``models/noise2atom.json`` (``paper``, ``released`` or ``cpu_budget``) or a saved config.

    Parameters
    ----------
    preset : str
        Name of a preset in the model file; ignored when ``path`` is a flat saved config (``config.json``
        written by the trainer).
    path : path-like, optional
        Default: the package's ``models/noise2atom.json``.
    **overrides
        Options that replace the preset's values.

    Returns
    -------
    Noise2AtomConfig
    """
    path = Path(path) if path is not None else CONFIG_PATH
    if not path.exists():
        raise FileNotFoundError(f"Noise2Atom config {path} not found.")
    data = json.loads(path.read_text())
    if "parameters" in data:
        values = {name: spec["value"] for name, spec in data["parameters"].items()}
        presets = data.get("presets", {})
        if preset not in presets and preset != "paper":
            raise ValueError(f"unknown preset {preset!r}; choose one of {['paper', *presets]}.")
        values.update(presets.get(preset, {}).get("values", {}))
    else:  # a saved run's config.json: keys starting with "_" (the data fingerprint) are not options
        values = {k: v for k, v in data.items() if not k.startswith("_")}
    values.update(overrides)
    return Noise2AtomConfig().replace(**values)


def prepare_frames(frames, *, training_frames: int = 120, seed: int = 0):
    """Stack min-max normalisation to [-1, 1] and random sampling of ``training_frames`` frames.

    Parameters
    ----------
    frames : array_like, ``[T, H, W]`` or ``[T, H, W, 1]``, any real dtype
        The noisy series (raw counts or intensities). Not modified.
    training_frames : int
        Frames sampled (without replacement, kept in time order) when T is larger (paper: 120).

    Returns
    -------
    scaled : numpy.ndarray, float32 ``[T', H, W, 1]`` in [-1, 1]
    minimum, maximum : float
        Raw stack minimum and maximum (stored in the denoiser).
    """
    array = np.asarray(frames)
    if array.ndim == 2:
        array = array[None]
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        raise ValueError(f"frames must be [T, H, W] or [T, H, W, 1]; received shape {np.shape(frames)}. "
                         "Multi-channel series: train one model per channel.")
    if array.size == 0:
        raise ValueError(f"frames must hold at least one frame of at least 1x1 px; received shape {np.shape(frames)}.")
    if np.iscomplexobj(array) or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise ValueError(f"frames must be real numbers; received dtype {array.dtype} (complex data: pass np.abs).")
    finite = np.isfinite(array)
    if not finite.all():
        raise ValueError(f"frames contain {int(array.size - finite.sum())} NaN or inf values; replace them before "
                         "training.")
    if array.shape[0] > training_frames:
        rng = np.random.default_rng(seed)
        array = array[np.sort(rng.choice(array.shape[0], training_frames, replace=False))]
    array = array.astype(np.float64)  # float64: finite values up to 1.8e308 neither overflow nor lose the range
    minimum, maximum = float(array.min()), float(array.max())
    if maximum <= minimum:
        raise ValueError(f"frames are constant ({minimum}); nothing to learn.")
    scaled = (2.0 * ((array - minimum) / (maximum - minimum)) - 1.0).astype(np.float32)
    return scaled[..., None], minimum, maximum


def _check_crop_fits(frames, crop_size):
    """Raise ValueError unless ``frames`` (``[T, H, W, 1]``) are at least ``crop_size`` px high and wide."""
    height, width = frames.shape[1:3]
    if height < crop_size or width < crop_size:
        raise ValueError(f"frames of {height}x{width} px are smaller than crop_size={crop_size}; "
                         "use a smaller crop_size (multiple of 16) or larger frames.")


def check_frames(frames, config: Noise2AtomConfig) -> None:
    """Raise a one-line ValueError unless ``frames`` can train ``config`` (see :func:`prepare_frames`).

    ``frames``: ``[T, H, W]`` or ``[T, H, W, 1]``, real numbers, finite, not constant, T >= 1 and
    H, W >= ``config.crop_size``.
    """
    scaled, _, _ = prepare_frames(frames, training_frames=config.training_frames, seed=config.seed)
    _check_crop_fits(scaled, config.crop_size)


def _noisy_dataset(frames, *, batch_size, crop_size, sampling, seed):
    """Endless stateless stream of ``[batch_size, crop, crop, 1]`` crops from ``frames`` [T, H, W, 1]."""
    t_count, height, width = frames.shape[:3]
    _check_crop_fits(frames, crop_size)
    if sampling == "consecutive" and t_count < batch_size:
        raise ValueError(f"consecutive crop sampling needs >= batch_size={batch_size} frames; received {t_count}.")
    stack = tf.constant(frames)
    base = tf.constant([1, int(seed)], tf.int32)

    def crops(i):
        s = tf.random.experimental.stateless_split(tf.random.experimental.stateless_fold_in(base, i), 3)
        if sampling == "consecutive":
            t0 = tf.random.stateless_uniform([], s[0], 0, t_count - batch_size + 1, dtype=tf.int32)
            t = t0 + tf.range(batch_size)
            r = tf.fill([batch_size], tf.random.stateless_uniform([], s[1], 0, height - crop_size + 1, dtype=tf.int32))
            c = tf.fill([batch_size], tf.random.stateless_uniform([], s[2], 0, width - crop_size + 1, dtype=tf.int32))
        else:
            t = tf.random.stateless_uniform([batch_size], s[0], 0, t_count, dtype=tf.int32)
            r = tf.random.stateless_uniform([batch_size], s[1], 0, height - crop_size + 1, dtype=tf.int32)
            c = tf.random.stateless_uniform([batch_size], s[2], 0, width - crop_size + 1, dtype=tf.int32)
        return tf.map_fn(lambda trc: tf.slice(stack, [trc[0], trc[1], trc[2], 0], [1, crop_size, crop_size, 1])[0],
                         tf.stack([t, r, c], axis=1), fn_output_signature=tf.float32)

    return tf.data.Dataset.counter().map(crops, num_parallel_calls=2, deterministic=True).prefetch(2)


#: What a run writes in its folder (``logs/`` included: written with the checkpoints, see :class:`_RunWriter`).
RUN_OUTPUTS = ("config.json", "checkpoints", "history.json", "logs", "noise2atom.keras")


def run_record(config: Noise2AtomConfig, frames) -> dict:
    """The saved ``config.json`` of a run: the config plus the fingerprint of its frames (key ``_data``)."""
    return {**config.to_dict(), DATA_KEY: data_fingerprint(np.asarray(frames))}


class _RunWriter:
    """Writes a run's folder from its first checkpoint on, so that a run that fails earlier leaves nothing.

    At the first :meth:`save` a fresh run (``fresh=True``, i.e. not resumed) first removes an earlier run's
    outputs (only possible with ``force``, see :func:`~tfstem.training.run_folder.prepare_run_folder`); then
    checkpoint, ``config.json`` (the record), TensorBoard scalars of the iterations since the last save and
    ``history.json`` (written aside and renamed into place).
    """

    def __init__(self, directory, record: dict, *, fresh: bool, trainer):
        self.directory, self.record, self.fresh, self.trainer = Path(directory), record, fresh, trainer
        self.manager = self.writer = None
        self.pending = []  # (iteration, losses) not yet in the TensorBoard log

    def save(self, history: dict) -> None:
        if self.manager is None:
            if self.fresh:
                clear_previous_run(self.directory, RUN_OUTPUTS)
            self.directory.mkdir(parents=True, exist_ok=True)
            self.manager = tf.train.CheckpointManager(self.trainer.checkpoint(), str(self.directory / "checkpoints"),
                                                      max_to_keep=3)
            self.writer = tf.summary.create_file_writer(str(self.directory / "logs"))
        self.manager.save(checkpoint_number=int(self.trainer.iteration.numpy()))
        write_json(self.directory / "config.json", self.record, force=True)
        for iteration, losses in self.pending:
            with self.writer.as_default(step=iteration):
                for k, v in losses.items():
                    _summary_scalar(k, v)
        self.writer.flush()
        self.pending.clear()
        write_json(self.directory / "history.json", history, force=True)


def _summary_scalar(name, value):
    """``tf.summary.scalar`` without the TensorBoard package: the same event record (plugin "scalars")."""
    from tensorflow.core.framework import summary_pb2

    metadata = summary_pb2.SummaryMetadata()
    metadata.plugin_data.plugin_name = "scalars"
    tf.summary.write(name, tf.constant(value, tf.float32), metadata=metadata)


class Noise2AtomTrainer:
    """Holds Ms2c, Mc2s, D, Ms2b, the two RMSprop optimizers and the per-batch schedule.

    Parameters
    ----------
    config : Noise2AtomConfig, optional
        Default: the paper's settings.

    Attributes
    ----------
    ms2c, mc2s : keras.Model
        Generators on [-1, 1] images (:func:`~tfstem.noise2atom.xception_unet.build_xception_unet`).
    critic : keras.Model
        D (:func:`~tfstem.noise2atom.wgan_critic.build_wgan_critic`).
    lowpass : keras.Model
        Ms2b, fixed (:func:`~tfstem.noise2atom.lowpass.build_lowpass`).
    history : dict of list of float
        Per-iteration losses ``critic``, ``gp``, ``gan``, ``cycle``, ``lfc``, ``anchor`` and wall time
        ``seconds``.
    """

    LOSS_NAMES = ("critic", "gp", "gan", "cycle", "lfc", "anchor")

    def __init__(self, config: Noise2AtomConfig | None = None):
        self.config = config or Noise2AtomConfig()
        c = self.config
        keras.utils.set_random_seed(c.seed)
        gen = dict(base_filters=c.base_filters, num_residual_blocks=c.num_residual_blocks,
                   full_resolution_kernels=c.full_resolution_kernels, low_resolution_kernels=c.low_resolution_kernels,
                   normalization=c.normalization)
        self.ms2c = build_xception_unet(name="ms2c", **gen)
        self.mc2s = build_xception_unet(name="mc2s", **gen)
        self.critic = build_wgan_critic(crop_size=c.crop_size, filters=c.critic_filters, dropout=c.critic_dropout,
                                        normalization=c.normalization, grid=c.critic_grid)
        self.lowpass = build_lowpass(size=c.lowpass_size, sigma=c.lowpass_sigma, kernel=c.lowpass_kernel,
                                     padding=c.lowpass_padding)
        self.generator_variables = self.ms2c.trainable_variables + self.mc2s.trainable_variables
        # One optimizer per player: the released code shares one RMSprop across its three compiled models,
        # i.e. Ms2c keeps one set of RMS accumulators for its adversarial and cycle updates (as here by default).
        self.generator_optimizer = self._optimizer(c.adversarial_learning_rate)
        self.critic_optimizer = self._optimizer()
        self.generator_optimizer.build(self.generator_variables)
        # Which optimizer each generator update of the schedule uses (the same object when "shared").
        self.update_optimizers = dict.fromkeys(("adversarial", "lfc", "cycle"), self.generator_optimizer)
        if c.generator_optimizers == "per_update":
            for update in ("lfc", "cycle"):
                self.update_optimizers[update] = self._optimizer()
                self.update_optimizers[update].build(self.generator_variables)
        self.critic_optimizer.build(self.critic.trainable_variables)
        self.iteration = tf.Variable(0, dtype=tf.int64, trainable=False, name="iteration")
        self.history = {name: [] for name in (*self.LOSS_NAMES, "seconds")}
        self._denoise_fn = tf.function(self._denoise, reduce_retracing=True)
        self._critic_fn = tf.function(self._critic_update, reduce_retracing=True)
        self._adversarial_fn = tf.function(self._adversarial_update, reduce_retracing=True)
        self._cycle_fn = tf.function(self._cycle_updates, reduce_retracing=True)

    def _optimizer(self, learning_rate=None):
        c = self.config
        return keras.optimizers.RMSprop(learning_rate=learning_rate or c.learning_rate, rho=c.rmsprop_rho,
                                        momentum=c.rmsprop_momentum)

    # ------------------------------------------------------------------ one iteration (8 passes)
    # Three small tf.functions (critic update, adversarial update, cycle update(s)) instead of one: the
    # critic update is traced once and called 5 times, which keeps the graph and its tracing time small.
    def _seed(self, salt):
        seed = tf.stack([tf.constant(salt, tf.int64), self.iteration])
        return tf.cast(tf.math.floormod(seed, 2**31 - 1), tf.int32)

    def _critic_update(self, denoised, clean, k):
        c = self.config
        with tf.GradientTape() as tape:
            interpolates = n2a_losses.random_interpolate(
                clean, denoised, seed=tf.random.experimental.stateless_fold_in(self._seed(7), k),
                mode=c.gp_interpolation)
            gp_value = n2a_losses.gradient_penalty(self.critic, interpolates)
            total = n2a_losses.critic_loss(self.critic(clean, training=True), self.critic(denoised, training=True),
                                           gp_value, gp_weight=c.gp_weight)
        grads = tape.gradient(total, self.critic.trainable_variables)
        self.critic_optimizer.apply_gradients(zip(grads, self.critic.trainable_variables))
        return total, gp_value

    def _denoise(self, noisy):
        return self.ms2c(noisy, training=True)

    def _adversarial_update(self, noisy):
        ms2c_vars = self.ms2c.trainable_variables
        with tf.GradientTape() as tape:
            gan = n2a_losses.generator_adversarial_loss(self.critic(self.ms2c(noisy, training=True), training=True))
            weighted = self.config.alpha * gan
        grads = tape.gradient(weighted, ms2c_vars)
        self.update_optimizers["adversarial"].apply_gradients(zip(grads, ms2c_vars))
        return gan

    def _noisy_cycle_terms(self, noisy):
        """L_lfc (Eq. 7) of Ms2c∘Mc2s∘Ms2b on ``noisy`` and the sign hinge on Ms2c(noisy), from one Ms2c pass."""
        denoised = self.ms2c(noisy, training=True)
        lfc = n2a_losses.low_frequency_cycle_loss(self.lowpass, noisy, self.mc2s(denoised, training=True))
        return lfc, n2a_losses.sign_anchor_loss(noisy, denoised, margin=self.config.sign_anchor_margin)

    def _cycle_updates(self, noisy, clean):
        c = self.config
        gen_vars = self.generator_variables
        if c.cycle_updates == "separate":
            # 3. Ms2c∘Mc2s∘Ms2b: noisy -> its low-frequency features, Ms2b fixed.
            with tf.GradientTape() as tape:
                lfc, anchor = self._noisy_cycle_terms(noisy)
                total = lfc + c.sign_anchor_weight * anchor
            grads = tape.gradient(total, gen_vars)
            self.update_optimizers["lfc"].apply_gradients(zip(grads, gen_vars))
            # 4. Mc2s∘Ms2c: clean -> itself.
            with tf.GradientTape() as tape:
                cycle = n2a_losses.cycle_loss(clean, self.ms2c(self.mc2s(clean, training=True), training=True))
                weighted = c.beta * cycle
            grads = tape.gradient(weighted, gen_vars)
            self.update_optimizers["cycle"].apply_gradients(zip(grads, gen_vars))
        else:  # released code: one update of the two-output cycle model, MAE 1:1
            with tf.GradientTape() as tape:
                lfc, anchor = self._noisy_cycle_terms(noisy)
                cycle = n2a_losses.cycle_loss(clean, self.ms2c(self.mc2s(clean, training=True), training=True))
                total = lfc + c.beta * cycle + c.sign_anchor_weight * anchor
            grads = tape.gradient(total, gen_vars)
            self.update_optimizers["cycle"].apply_gradients(zip(grads, gen_vars))
        self.iteration.assign_add(1)
        return cycle, lfc, anchor

    def train_step(self, noisy, clean) -> dict:
        """One iteration of the schedule on a batch.

        Parameters
        ----------
        noisy : float32 ``[B, crop, crop, 1]`` in [-1, 1]
        clean : float32 ``[B, crop, crop, 1]`` in [-1, 1]

        Returns
        -------
        dict of float
            ``critic`` (last of the 5 critic losses), ``gp``, ``gan`` (W(-1, D(Ms2c(s)))), ``cycle``, ``lfc``,
            ``anchor`` (the sign hinge, unweighted).
        """
        noisy = tf.convert_to_tensor(noisy, tf.float32)
        clean = tf.convert_to_tensor(clean, tf.float32)
        warming_up = int(self.iteration.numpy()) < self.config.adversarial_warmup
        critic_total = gp_value = gan = math.nan
        if not warming_up or self.config.warmup_critic:
            # 1. critic x5 on the same batch; Ms2c is not updated in between, so its output is computed once.
            denoised = tf.stop_gradient(self._denoise_fn(noisy))
            for k in range(self.config.critic_steps):
                critic_total, gp_value = self._critic_fn(denoised, clean, tf.constant(k, tf.int32))
        if not warming_up:
            # 2. Ms2c∘D: noisy -> "True", D fixed.
            gan = self._adversarial_fn(noisy)
        # 3./4. the cycle updates.
        cycle, lfc, anchor = self._cycle_fn(noisy, clean)
        out = {"critic": critic_total, "gp": gp_value, "gan": gan, "cycle": cycle, "lfc": lfc, "anchor": anchor}
        return {k: float(v) for k, v in out.items()}

    # ------------------------------------------------------------------ checkpoints
    def checkpoint(self) -> tf.train.Checkpoint:
        extra = {}
        if self.config.generator_optimizers == "per_update":
            extra = {"lfc_optimizer": self.update_optimizers["lfc"], "cycle_optimizer": self.update_optimizers["cycle"]}
        return tf.train.Checkpoint(ms2c=self.ms2c, mc2s=self.mc2s, critic=self.critic,
                                   generator_optimizer=self.generator_optimizer,
                                   critic_optimizer=self.critic_optimizer, iteration=self.iteration, **extra)

    # ------------------------------------------------------------------ the loop
    def fit(self, frames, *, epochs: int | None = None, max_minutes: float | None = None,
            output_dir: str | os.PathLike | None = None, resume: bool = True, force: bool = False,
            verbose: bool = True, callback=None) -> dict:
        """Train on a noisy series.

        Parameters
        ----------
        frames : array_like ``[T, H, W]`` or ``[T, H, W, 1]``
            The noisy series, raw intensities, H and W >= ``crop_size``. Not modified.
        epochs : int, optional
            Default ``config.epochs`` (paper: 100).
        max_minutes : float, optional
            Wall-clock budget; training stops cleanly after the iteration that crosses it.
        output_dir : path-like, optional
            Checkpoints (``checkpoints/``, every epoch and at the end), TensorBoard logs (``logs/``),
            ``history.json`` and ``config.json`` (the config plus a fingerprint of ``frames``), all written
            from the end of the first epoch on (a run that fails earlier leaves nothing behind).
        resume : bool
            Continue the earlier run in ``output_dir`` if its ``config.json`` matches (same frames, seed and
            options); a folder holding another run is refused (ValueError).
        force : bool
            Start afresh in an ``output_dir`` that holds an earlier run; its checkpoints are not resumed and
            its outputs are removed when the new run saves its first checkpoint.
        verbose : bool
            tqdm bar per epoch with the three losses.
        callback : callable, optional
            ``callback(iteration, losses)`` after every iteration: the iteration count so far (int, from 1)
            and that iteration's losses (dict of float, :attr:`LOSS_NAMES`). A callback that returns True
            stops training after that iteration, like the budget (the napari Train widget's live loss
            readout and Stop button).

        Returns
        -------
        dict
            ``history`` (per-iteration losses), ``epochs`` (mean losses per epoch), ``stopped``
            (``"epochs"``, ``"early_stop"``, ``"max_minutes"`` or ``"callback"``), ``minimum``, ``maximum``,
            ``seconds``.

        Raises
        ------
        ValueError
            Bad frames (see :func:`prepare_frames`), a bad option, or an ``output_dir`` holding a run with
            other settings.
        FileExistsError
            ``output_dir`` holds an earlier run and neither ``resume`` nor ``force`` is set.
        """
        from tqdm.auto import tqdm

        c = self.config
        epochs = int(c.epochs if epochs is None else epochs)
        if epochs < 1:
            raise ValueError(f"epochs must be positive; received epochs={epochs}.")
        if max_minutes is not None and not max_minutes > 0:
            raise ValueError(f"max_minutes must be positive or None; received max_minutes={max_minutes}.")
        scaled, self.minimum, self.maximum = prepare_frames(frames, training_frames=c.training_frames, seed=c.seed)
        _check_crop_fits(scaled, c.crop_size)
        resuming, record = False, None
        if output_dir is not None:
            output_dir, record = Path(output_dir), run_record(c, frames)
            resuming = prepare_run_folder(output_dir, record, resume=resume, force=force, outputs=RUN_OUTPUTS,
                                          record_file="config.json")
        steps = c.steps_per_epoch or math.ceil(
            scaled.shape[0] * math.ceil(scaled.shape[1] / c.crop_size) * math.ceil(scaled.shape[2] / c.crop_size)
            / c.batch_size)
        noisy_stream = iter(_noisy_dataset(scaled, batch_size=c.batch_size, crop_size=c.crop_size,
                                           sampling=c.crop_sampling, seed=c.seed))
        clean_stream = iter(clean_domain_dataset(batch_size=c.batch_size, seed=c.seed, site_pitch=c.site_pitch,
                                                 integer_variance=c.integer_variance, crop_size=c.crop_size))
        start_epoch = 0
        if resuming:
            latest = tf.train.latest_checkpoint(str(output_dir / "checkpoints"))
            if latest:
                self.checkpoint().restore(latest)
                start_epoch = int(self.iteration.numpy()) // steps
                if verbose:
                    print(f"resumed from {latest} (iteration {int(self.iteration.numpy())})")
        run = _RunWriter(output_dir, record, fresh=not resuming, trainer=self) if output_dir is not None else None
        # Skip the stream positions already consumed so that a resumed run sees the same batches.
        for _ in range(int(self.iteration.numpy())):
            next(noisy_stream), next(clean_stream)
        t0 = time.monotonic()
        per_epoch, stopped = [], "epochs"
        for epoch in range(start_epoch, epochs):
            sums = dict.fromkeys(self.LOSS_NAMES, 0.0)
            bar = tqdm(range(steps), desc=f"epoch {epoch + 1}/{epochs}", disable=not verbose, leave=False)
            done = 0
            for _ in bar:
                losses = self.train_step(next(noisy_stream), next(clean_stream))
                done += 1
                for k, v in losses.items():
                    sums[k] += v
                    self.history[k].append(v)
                self.history["seconds"].append(time.monotonic() - t0)
                if run is not None:
                    run.pending.append((int(self.iteration.numpy()), losses))
                bar.set_postfix(gan=f"{losses['gan']:.3f}", cycle=f"{losses['cycle']:.3f}", lfc=f"{losses['lfc']:.3f}")
                if callback is not None and callback(int(self.iteration.numpy()), dict(losses)) is True:
                    stopped = "callback"
                    break
                if max_minutes is not None and time.monotonic() - t0 > 60.0 * max_minutes:
                    stopped = "max_minutes"
                    break
            bar.close()
            means = {k: v / max(done, 1) for k, v in sums.items()}
            per_epoch.append(means)
            if verbose:
                print(f"epoch {epoch + 1}/{epochs}: " + ", ".join(f"{k} {v:.4f}" for k, v in means.items())
                      + f" ({time.monotonic() - t0:.0f} s)")
            if run is not None:
                run.save({"iterations": self.history, "epochs": per_epoch})
            if stopped in ("max_minutes", "callback"):
                break
            if (c.early_stop_cycle is not None and c.early_stop_lfc is not None
                    and means["cycle"] < c.early_stop_cycle and means["lfc"] < c.early_stop_lfc):
                stopped = "early_stop"
                break
        return {"history": self.history, "epochs": per_epoch, "stopped": stopped, "minimum": self.minimum,
                "maximum": self.maximum, "seconds": time.monotonic() - t0}

    def denoiser(self) -> keras.Model:
        """The trained Ms2c wrapped for raw input of any size (MODEL CONTRACT); call after :meth:`fit`."""
        if not hasattr(self, "minimum"):
            raise ValueError("the trainer has not seen any frames; call fit(frames) first.")
        return build_denoiser(self.ms2c, minimum=self.minimum, maximum=self.maximum)


def mapping_correlation(model: keras.Model, frames, *, sigma: float = n2a_losses.SIGN_ANCHOR_SIGMA,
                        max_frames: int = 8) -> float:
    """Pearson correlation between Gaussian-smoothed input frames and the denoised frames.

    Parameters
    ----------
    model : keras.Model
        A denoiser obeying the MODEL CONTRACT.
    frames : array_like ``[T, H, W]`` or ``[T, H, W, 1]``
    sigma : float
        Smoothing of the input in pixels (noise would otherwise dominate).

    Returns
    -------
    float in [-1, 1]. Negative: bright input regions became background (the paper's failure case 1).
    """
    from scipy import ndimage

    array = np.asarray(frames, dtype=np.float32)
    if array.ndim == 4:
        array = array[..., 0]
    if array.ndim == 2:
        array = array[None]
    array = array[:max_frames]
    out = model.predict(array[..., None], verbose=0)[..., 0]
    smooth = np.stack([ndimage.gaussian_filter(f, sigma) for f in array])
    return float(n2a_losses.pooled_correlation(smooth, out))


def check_reverted_mapping(model: keras.Model, frames, *, threshold: float = 0.0) -> float:
    """Warn when the denoiser inverts contrast (Wang et al. 2020, "Failure cases", case 1).

    Returns the correlation of :func:`mapping_correlation`; issues a ``UserWarning`` with advice when it is
    below ``threshold``.
    """
    corr = mapping_correlation(model, frames)
    if corr < threshold:
        warnings.warn(
            f"Noise2Atom mapping looks reverted: correlation between smoothed input and output is {corr:.2f} "
            "(bright regions mapped to background). This happens about once in ten runs (Wang et al. 2020, "
            "failure case 1). Retrain with another seed or with sign_anchor_weight=1 (a hinge on the contrast "
            "sign, not in the paper; on in the cpu_budget preset), check that the background is homogeneous (no "
            "thickness gradient), and that atoms are brighter than the support (HAADF contrast).",
            UserWarning, stacklevel=2)
    return corr


# ---------------------------------------------------------------------- command line
def add_cli_arguments(parser) -> None:
    """Arguments of ``tfstem train noise2atom SERIES -o DIR``."""
    parser.add_argument("series", help="noisy series: .tif stack, .npy, .h5, .mrc, .dm4, .emd, ...")
    parser.add_argument("-o", "--output", required=True, help="output directory (model, checkpoints, logs)")
    parser.add_argument("--preset", default="paper", help="preset of models/noise2atom.json: paper, released, cpu_budget")
    parser.add_argument("--config", default=None, help="JSON config file (models/noise2atom.json layout or a saved config.json)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default: the config's, paper 100)")
    parser.add_argument("--max-minutes", type=float, default=None, help="wall-clock budget; stops cleanly")
    parser.add_argument("--seed", type=int, default=None, help="random seed")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in DIR (its config.json must match: same series, seed and options)")
    parser.add_argument("--force", action="store_true", help="start afresh in a DIR that holds an earlier run")
    # Deprecated: resuming was the default; now it takes --resume, so --no-resume is the default and a no-op.
    parser.add_argument("--no-resume", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _read_series(path):
    """The noisy series in ``path``, ``[N, H, W]`` as stored, read by :func:`tfstem.io.read_image`."""
    from tfstem import io as tio

    return np.asarray(tio.read_image(path).data)


def run_cli(args) -> int:
    """Run ``tfstem train noise2atom``; writes ``DIR/noise2atom.keras``, ``config.json``, ``history.json``.

    A DIR that holds an earlier run is used only with ``--resume`` (same series, seed and options) or
    ``--force`` (start afresh); every check runs before the networks are built.
    """
    output = Path(args.output)
    check_directory_writable(output, what="-o/--output")
    overrides = {} if args.seed is None else {"seed": args.seed}
    config = load_config(args.preset, args.config, **overrides)
    frames = _read_series(args.series)
    check_frames(frames, config)  # a bad series fails now, not after the networks are built
    resume = prepare_run_folder(output, run_record(config, frames), resume=args.resume, force=args.force,
                                outputs=RUN_OUTPUTS, record_file="config.json")
    model_path = output / "noise2atom.keras"
    trainer = Noise2AtomTrainer(config)
    result = trainer.fit(frames, epochs=args.epochs, max_minutes=args.max_minutes, output_dir=output,
                         resume=resume, force=args.force, verbose=not args.quiet)
    model = trainer.denoiser()
    output.mkdir(parents=True, exist_ok=True)
    with atomic_file(model_path, force=True) as partial:  # the run's own model: replaced by its newer state
        model.save(partial)
    corr = check_reverted_mapping(model, frames)
    print(f"saved {model_path} ({result['stopped']}, {len(result['history']['gan'])} iterations, "
          f"{result['seconds']:.0f} s; input/output correlation {corr:.2f})")
    return 0
