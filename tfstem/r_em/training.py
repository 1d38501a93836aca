"""Train CGRDN as the r_em paper does: generator + conditional relativistic patch critic, under tf.distribute.

The trainer is a custom loop over ``strategy.run`` (Keras 3 ``fit`` is reported broken under
``MultiWorkerMirroredStrategy``), so the same code runs on one device, on several GPUs of one machine
(``MirroredStrategy``) and on several machines (``MultiWorkerMirroredStrategy`` configured by
``TF_CONFIG``). Both optimizers are built inside ``strategy.scope()``; every loss is per example and
scaled by the **global** batch (:func:`tf.nn.compute_average_loss`); the "average" of the relativistic
losses (Eq. 2-3) is taken over the global batch with a cross-replica all-reduce, so a distributed run
computes the same numbers as a single-device run with the same global batch and seed.

One step, as in the authors' training code (Lobato et al. 2023, "Loss function"; anchors section 2):

1. ``y_g = G(x)`` (raw intensities); x, y and y_g are mapped to the training space, i.e. standardised with
   x's per-image mean and std floored at 0.1 (:func:`tfstem.r_em.losses.to_training_space`), the space the
   authors' network and losses work in;
2. pixel-wise losses (Eq. 4-11, per-example weight 1/max(0.1, Std y), Eq. 5) weighted by the lambdas of
   Eq. 14;
3. with the GAN on: instance noise (probability 0.5 per step, std r * max(Std y, 0.01), r ~ U(0.001, 0.1))
   on y and y_g, critic on (x, y) and (x, y_g), relativistic adversarial loss (Eq. 12, weight lambda_Adv,
   Eq. 13) for G and relativistic critic loss with one-sided label smoothing 0.95 (Eq. 15) for D, both
   from the same forward pass, both updated in the same step;
4. Adam updates; learning rate with linear warm-up and exponential decay (authors: x0.9 per "epoch",
   floor 1e-4 of the initial rate).

Checkpoints (``tf.train.Checkpoint``: both networks, both optimizers with their slots and iteration
counters, the step) are written every ``checkpoint_every`` steps; every random draw is stateless and a
function of ``(seed, step)``, and the data is a function of the step, so a resumed run computes the same
losses as an uninterrupted one. TensorBoard gets every loss term and image panels
(distorted | restored | clean); a tqdm bar shows the losses.

Command line: ``tfstem train cgrdn --modality hrstem --steps N -o DIR [--resume | --force]``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Mapping

import keras
import numpy as np
import tensorflow as tf

from tfstem.r_em import losses
from tfstem.r_em.losses import LossWeights
from tfstem.outputs import atomic_file, check_directory_writable, write_json
from tfstem.paths import MODELS_DIR
from tfstem.training.run_folder import DATA_KEY, clear_previous_run, data_fingerprint, prepare_run_folder

__all__ = [
    "CGRDNTrainingConfig",
    "CGRDNTrainer",
    "WarmupExponentialDecay",
    "array_pairs_dataset",
    "load_training_config",
    "add_cli_arguments",
    "run_cli",
    "MODALITIES",
]

MODALITIES = ("hrsem", "lrsem", "hrstem", "lrstem", "hrtem", "lrtem")
PRESETS = ("released", "paper_gan")


@keras.saving.register_keras_serializable(package="tfstem")
class WarmupExponentialDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up, then exponential decay with a floor (the authors' schedule).

    ``lr(t) = lr0 * min(1, (t + 1) / warmup_steps) * max(decay_rate ** (t / decay_steps), min_fraction)``.

    Parameters
    ----------
    initial_learning_rate : float
        lr0.
    warmup_steps : int
        Steps of linear warm-up (authors: min(512, steps / 2)); 0 for none.
    decay_steps : int
        Steps per decay by ``decay_rate`` (authors: one "epoch").
    decay_rate : float
        Authors: 0.90 per epoch.
    min_fraction : float
        Floor as a fraction of lr0 (authors: 1e-4).
    """

    def __init__(self, initial_learning_rate, warmup_steps=512, decay_steps=1000, decay_rate=0.9,
                 min_fraction=1e-4):
        self.initial_learning_rate = float(initial_learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.decay_steps = int(decay_steps)
        self.decay_rate = float(decay_rate)
        self.min_fraction = float(min_fraction)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warmup = 1.0 if self.warmup_steps <= 0 else tf.minimum(1.0, (step + 1.0) / self.warmup_steps)
        decay = tf.maximum(tf.pow(self.decay_rate, step / max(self.decay_steps, 1)), self.min_fraction)
        return self.initial_learning_rate * warmup * decay

    def get_config(self):
        return dict(initial_learning_rate=self.initial_learning_rate, warmup_steps=self.warmup_steps,
                    decay_steps=self.decay_steps, decay_rate=self.decay_rate, min_fraction=self.min_fraction)


@dataclasses.dataclass(frozen=True)
class CGRDNTrainingConfig:
    """Every hyper-parameter of a CGRDN training run; paper/authors' values as defaults.

    Attributes
    ----------
    modality : str
        One of ``MODALITIES`` (the authors train one network per modality and resolution).
    features, growth, layers_per_rdb, rdbs_per_grdb, grdbs : int
        Generator size (:func:`tfstem.r_em.cgrdn.build_cgrdn`; authors 64, 32, 8, 4, 4).
    std_floor : float
        Absolute std floor of the per-image standardisation (authors 0.1).
    gan : bool
        Train with the conditional relativistic patch critic (paper) or without (released default).
    critic_features : int
        Filters of the critic's first convolution (pix2pix 64).
    loss_weights : LossWeights
        lambdas of Eq. 13-14 and loss options.
    label_smoothing : float
        One-sided label smoothing of the critic's real label (authors 0.95).
    instance_noise_probability : float
        Probability per step of instance noise on the critic's inputs (authors 0.5).
    instance_noise_range : tuple of float
        Range of r in the noise std r * max(Std y, 0.01) (authors 0.001 to 0.1).
    batch_size : int
        Global batch, split over all replicas (paper: 4).
    patch_size : int
        Side of the square training patches in pixels (paper: 256).
    learning_rate, critic_learning_rate : float
        Initial Adam learning rates of G and D.
    beta_1, critic_beta_1, beta_2, epsilon : float
        Adam parameters (authors: beta_2 0.999, epsilon 1e-5, critic beta_1 0.5).
    warmup_steps, decay_steps : int
        Schedule (:class:`WarmupExponentialDecay`); ``decay_steps`` plays the authors' "epoch".
    decay_rate, min_learning_rate_fraction : float
        Authors 0.9 per epoch and 1e-4.
    seed : int
        Seed of the weights' initialisation, the instance noise and array datasets.
    dtype_policy : str
        Keras dtype policy of the networks: "float32", "mixed_float16" or "mixed_bfloat16".
    jit_compile : bool
        XLA-compile the training step (single-replica strategies only).
    checkpoint_every, log_every, image_every, keep_checkpoints : int
        Intervals in steps (0 disables) and number of checkpoints kept.
    """

    modality: str = "hrstem"
    features: int = 64
    growth: int = 32
    layers_per_rdb: int = 8
    rdbs_per_grdb: int = 4
    grdbs: int = 4
    std_floor: float = 0.1
    gan: bool = False
    critic_features: int = 64
    loss_weights: LossWeights = dataclasses.field(default_factory=LossWeights.released)
    label_smoothing: float = 0.95
    instance_noise_probability: float = 0.5
    instance_noise_range: tuple = (0.001, 0.1)
    batch_size: int = 4
    patch_size: int = 256
    learning_rate: float = 1e-4
    critic_learning_rate: float = 1e-4
    beta_1: float = 0.9
    critic_beta_1: float = 0.5
    beta_2: float = 0.999
    epsilon: float = 1e-5
    warmup_steps: int = 512
    decay_steps: int = 1000
    decay_rate: float = 0.9
    min_learning_rate_fraction: float = 1e-4
    seed: int = 0
    dtype_policy: str = "float32"
    jit_compile: bool = False
    checkpoint_every: int = 500
    log_every: int = 10
    image_every: int = 500
    keep_checkpoints: int = 3

    def __post_init__(self):
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}; received modality={self.modality!r}.")
        for name in ("features", "growth", "layers_per_rdb", "rdbs_per_grdb", "grdbs", "critic_features",
                     "batch_size", "patch_size", "decay_steps", "keep_checkpoints"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer; received {name}={value!r}.")
        for name in ("warmup_steps", "checkpoint_every", "log_every", "image_every", "seed"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer; received {name}={value!r}.")
        if self.patch_size % 8:
            raise ValueError(
                f"patch_size must be a multiple of 8 (critic stride 8, CGRDN stride 2); received {self.patch_size}.")
        for name in ("learning_rate", "critic_learning_rate", "epsilon", "std_floor"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive; received {name}={getattr(self, name)}.")
        if not 0.0 <= self.instance_noise_probability <= 1.0:
            raise ValueError(f"instance_noise_probability must lie in [0, 1]; received {self.instance_noise_probability}.")
        low, high = self.instance_noise_range
        if not 0.0 <= low <= high:
            raise ValueError(f"instance_noise_range must be (low, high) with 0 <= low <= high; received {(low, high)}.")
        if not 0.5 < self.label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must lie in (0.5, 1]; received {self.label_smoothing}.")
        if self.dtype_policy not in ("float32", "mixed_float16", "mixed_bfloat16"):
            raise ValueError(
                f"dtype_policy must be 'float32', 'mixed_float16' or 'mixed_bfloat16'; received {self.dtype_policy!r}.")
        if isinstance(self.loss_weights, Mapping):
            object.__setattr__(self, "loss_weights", LossWeights.from_dict(self.loss_weights))
        object.__setattr__(self, "instance_noise_range", (float(low), float(high)))

    def generator_kwargs(self) -> dict:
        """Arguments of :func:`tfstem.r_em.cgrdn.build_cgrdn`."""
        return dict(features=self.features, growth=self.growth, layers_per_rdb=self.layers_per_rdb,
                    rdbs_per_grdb=self.rdbs_per_grdb, grdbs=self.grdbs, std_floor=self.std_floor)

    def to_dict(self) -> dict:
        """JSON-serialisable dict; :meth:`from_dict` inverts it."""
        out = dataclasses.asdict(self)
        out["loss_weights"] = self.loss_weights.to_dict()
        out["instance_noise_range"] = list(self.instance_noise_range)
        return out

    @classmethod
    def from_dict(cls, values: Mapping) -> "CGRDNTrainingConfig":
        """Build from a mapping; unknown keys raise a ValueError that lists the known ones.

        Keys starting with ``_`` (the data fingerprint of a saved ``training_config.json``) are not options.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in values.items() if not k.startswith("_")}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training option(s) {unknown}; known: {sorted(known)}.")
        values = dict(values)
        if "instance_noise_range" in values:
            values["instance_noise_range"] = tuple(values["instance_noise_range"])
        return cls(**values)

    def replace(self, **changes) -> "CGRDNTrainingConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def load_training_config(modality: str = "hrstem", preset: str | None = None, path=None,
                         **overrides) -> CGRDNTrainingConfig:
    """Read ``models/cgrdn_<modality>.json`` (or ``path``) and return the config of one preset.

    Parameters
    ----------
    modality : str
        One of ``MODALITIES``.
    preset : {"released", "paper_gan"}, optional
        ``"released"``: the authors' released default (L1 x 10, GAN off); ``"paper_gan"``: the paper's
        GAN with every loss term of Eq. 14. Default: the file's ``default_preset``.
    path : str or Path, optional
        A config file of the same layout.
    **overrides
        Fields of :class:`CGRDNTrainingConfig` to change.

    Returns
    -------
    CGRDNTrainingConfig
    """
    path = Path(path) if path is not None else MODELS_DIR / f"cgrdn_{modality}.json"
    if not path.exists():
        raise FileNotFoundError(f"training config {path} not found; pass --config PATH or one of {MODALITIES}.")
    document = json.loads(path.read_text())
    preset = preset or document.get("default_preset", "released")
    presets = document.get("presets", {})
    if preset not in presets:
        raise ValueError(f"preset must be one of {sorted(presets)}; received preset={preset!r}.")
    # Keys starting with "_" (e.g. "_reason") document a section and are not options.
    values = {k: v for k, v in document.get("training", {}).items() if not k.startswith("_")}
    values.update({k: v for k, v in document.get("generator", {}).items() if not k.startswith("_")})
    chosen = dict(presets[preset])
    chosen.pop("reasons", None)
    values.update(chosen)
    values["modality"] = document.get("modality", modality)
    values.update(overrides)
    return CGRDNTrainingConfig.from_dict(values)


def array_pairs_dataset(distorted, clean, *, batch_size: int, patch_size: int, seed: int = 0,
                        start_step: int = 0) -> tf.data.Dataset:
    """Endless dataset of random aligned crops (with flips/transposes) from in-memory pairs.

    Batch ``k`` is a pure function of ``(seed, start_step + k)`` (stateless draws), so a resumed run reads
    exactly the batches an uninterrupted one would.

    Parameters
    ----------
    distorted, clean : array_like
        float32 ``[N, H, W, C]`` raw intensities (also accepted: ``[N, H, W]``), H, W >= ``patch_size``.
    batch_size : int
        Global batch.
    patch_size : int
        Crop side in pixels.
    seed : int
        Seed of the crops.
    start_step : int
        Index of the first batch.

    Returns
    -------
    tf.data.Dataset
        Elements ``(distorted, clean)``, float32 ``[batch_size, patch_size, patch_size, C]``.
    """
    distorted = np.asarray(distorted, dtype=np.float32)
    clean = np.asarray(clean, dtype=np.float32)
    if distorted.ndim == 3:
        distorted, clean = distorted[..., None], clean[..., None]
    if distorted.shape != clean.shape or distorted.ndim != 4:
        raise ValueError(f"distorted and clean must both be [N, H, W, C] of one shape; received "
                         f"{distorted.shape} and {clean.shape}.")
    n, h, w, c = distorted.shape
    if h < patch_size or w < patch_size:
        raise ValueError(f"images of {h}x{w} pixels are smaller than patch_size={patch_size}; lower patch_size.")
    pairs = tf.constant(np.concatenate([distorted, clean], axis=-1))

    def sample(step):
        key = tf.random.experimental.stateless_fold_in(tf.constant([seed, 0x5EED], tf.int64), step)
        keys = tf.random.experimental.stateless_split(key, 4)
        index = tf.random.stateless_uniform([batch_size], keys[0], 0, n, dtype=tf.int32)
        top = tf.random.stateless_uniform([batch_size], keys[1], 0, h - patch_size + 1, dtype=tf.int32)
        left = tf.random.stateless_uniform([batch_size], keys[2], 0, w - patch_size + 1, dtype=tf.int32)
        flips = tf.random.stateless_uniform([batch_size, 3], keys[3], 0, 2, dtype=tf.int32)

        def crop(i):
            patch = pairs[index[i], top[i]:top[i] + patch_size, left[i]:left[i] + patch_size, :]
            patch = tf.cond(flips[i, 0] > 0, lambda: patch[::-1], lambda: patch)
            patch = tf.cond(flips[i, 1] > 0, lambda: patch[:, ::-1], lambda: patch)
            return tf.cond(flips[i, 2] > 0, lambda: tf.transpose(patch, [1, 0, 2]), lambda: patch)

        batch = tf.map_fn(crop, tf.range(batch_size), fn_output_signature=tf.float32)
        batch = tf.ensure_shape(batch, [batch_size, patch_size, patch_size, 2 * c])
        return batch[..., :c], batch[..., c:]

    return tf.data.Dataset.range(int(start_step), 2**62).map(sample, num_parallel_calls=tf.data.AUTOTUNE)


def _summary_metadata(plugin_name):
    from tensorflow.core.framework import summary_pb2

    return summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin_name))


def _write_scalar(tag, value, step):
    """A TensorBoard scalar written with the core summary op (the tensorboard package is not needed to write)."""
    tf.summary.write(tag, tf.constant(value, tf.float32), step=step, metadata=_summary_metadata("scalars"))


def _write_images(tag, images, step):
    """TensorBoard image summary (PNG) from float ``[N, H, W, 1]`` in [0, 1], core summary op only."""
    pixels = tf.cast(tf.round(tf.clip_by_value(images, 0.0, 1.0) * 255.0), tf.uint8)
    pngs = tf.map_fn(tf.image.encode_png, pixels, fn_output_signature=tf.string)
    shape = tf.shape(pixels)
    tensor = tf.concat([tf.strings.as_string([shape[2], shape[1]]), pngs], axis=0)  # [width, height, png...]
    tf.summary.write(tag, tensor, step=step, metadata=_summary_metadata("images"))


def _panel(x, y_g, y, std_floor):
    """Image panel distorted | restored | clean, each shown in x's standardised scale clipped to +-3 std."""
    x_n, y_gn, y_n = losses.to_training_space(x, y_g, y, std_floor=std_floor)
    row = tf.concat([x_n, y_gn, y_n], axis=2)[..., :1]
    return tf.clip_by_value((row + 3.0) / 6.0, 0.0, 1.0)


def _check_float16_safe(generator):
    """Refuse float16 standardisation: the variance of raw 16-bit intensities (~1e9) overflows float16."""
    for layer in generator.layers:
        if type(layer).__name__ in ("StandardizePerImage", "Destandardize") and layer.compute_dtype == "float16":
            raise ValueError(
                "dtype_policy='mixed_float16' would compute the CGRDN's per-image standardisation "
                f"(layer {layer.name!r}) in float16, where the variance of raw detector counts overflows to inf; "
                "use 'mixed_bfloat16', or build the standardisation layers with dtype='float32'.")


class CGRDNTrainer:
    """Generator + conditional relativistic patch critic, trained with a ``strategy.run`` loop.

    Parameters
    ----------
    config : CGRDNTrainingConfig
        Hyper-parameters.
    strategy : tf.distribute.Strategy, optional
        Default: the current strategy (one device). ``MirroredStrategy`` for several local devices,
        ``MultiWorkerMirroredStrategy`` (created first in the process, ``TF_CONFIG`` set) for several machines.
    out_dir : str or Path, optional
        Where checkpoints (``checkpoints/``), TensorBoard logs (``logs/``), the ``.keras`` generator and
        the config go. Without it nothing is written.
    verbose : bool
        Show a tqdm progress bar on the chief.

    Notes
    -----
    Building the trainer calls ``keras.utils.set_random_seed(config.seed)`` so that two trainers with the
    same config start from the same weights, whatever the strategy.

    Examples
    --------
    >>> config = CGRDNTrainingConfig(features=8, growth=8, layers_per_rdb=2, rdbs_per_grdb=1, grdbs=1,
    ...                              batch_size=2, patch_size=32, warmup_steps=0, log_every=0)
    >>> trainer = CGRDNTrainer(config, verbose=False)
    >>> rng = np.random.default_rng(0)
    >>> y = rng.random((4, 64, 64, 1), dtype=np.float32) * 100
    >>> x = y + rng.normal(0, 10, y.shape).astype(np.float32)
    >>> history = trainer.fit(array_pairs_dataset(x, y, batch_size=2, patch_size=32), steps=2)
    >>> len(history["generator_loss"])
    2
    """

    def __init__(self, config: CGRDNTrainingConfig, *, strategy: tf.distribute.Strategy | None = None,
                 out_dir=None, verbose: bool = True):
        from tfstem.r_em.cgrdn import build_cgrdn
        from tfstem.r_em.patch_critic import build_patch_critic

        if not isinstance(config, CGRDNTrainingConfig):
            raise ValueError(f"config must be a CGRDNTrainingConfig; received {type(config).__name__}.")
        self.config = config
        self.strategy = strategy or tf.distribute.get_strategy()
        self.verbose = verbose
        self.out_dir = Path(out_dir) if out_dir is not None else None
        replicas = self.strategy.num_replicas_in_sync
        if config.batch_size % replicas:
            raise ValueError(f"batch_size={config.batch_size} (global) must be divisible by the "
                             f"{replicas} replicas of the strategy; choose a multiple of {replicas}.")
        if config.jit_compile and replicas > 1:
            raise ValueError("jit_compile=True needs a single-replica strategy (the step's collectives are not "
                             f"XLA-compiled here); received a strategy with {replicas} replicas.")

        keras.utils.set_random_seed(config.seed)
        previous_policy = keras.config.dtype_policy()
        keras.config.set_dtype_policy(config.dtype_policy)
        try:
            with self.strategy.scope():
                self.generator = build_cgrdn(**config.generator_kwargs(), name=f"cgrdn_{config.modality}")
                self.critic = build_patch_critic(features=config.critic_features) if config.gan else None
                self.generator_optimizer = self._optimizer(config.learning_rate, config.beta_1, "generator_adam")
                self.generator_optimizer.build(self.generator.trainable_variables)
                self.critic_optimizer = None
                if config.gan:
                    self.critic_optimizer = self._optimizer(config.critic_learning_rate, config.critic_beta_1,
                                                            "critic_adam")
                    self.critic_optimizer.build(self.critic.trainable_variables)
                self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step",
                                        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        finally:
            keras.config.set_dtype_policy(previous_policy)

        if config.dtype_policy == "mixed_float16":
            _check_float16_safe(self.generator)

        trackables = dict(generator=self.generator, generator_optimizer=self.generator_optimizer, step=self.step)
        if config.gan:
            trackables.update(critic=self.critic, critic_optimizer=self.critic_optimizer)
        self.checkpoint = tf.train.Checkpoint(**trackables)
        self._manager = None
        # XLA compiles the per-replica computation (forward, losses, gradients, updates); reading the
        # distributed iterator stays outside, as XLA has no kernel for it.
        self._replica_fn = tf.function(self._replica_step, jit_compile=True) if config.jit_compile else self._replica_step
        self._train_step = tf.function(self._distributed_step)
        self._summary_writer = None

    # ------------------------------------------------------------------ set-up helpers
    def _optimizer(self, learning_rate, beta_1, name):
        c = self.config
        warmup = c.warmup_steps
        schedule = WarmupExponentialDecay(learning_rate, warmup, c.decay_steps, c.decay_rate,
                                          c.min_learning_rate_fraction)
        optimizer = keras.optimizers.Adam(schedule, beta_1=beta_1, beta_2=c.beta_2, epsilon=c.epsilon, name=name)
        if c.dtype_policy == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer, name=f"{name}_loss_scale")
        return optimizer

    @property
    def is_chief(self) -> bool:
        """True on the worker that writes logs, checkpoints and models (the only one without TF_CONFIG)."""
        resolver = getattr(self.strategy, "cluster_resolver", None)
        if resolver is None or not getattr(resolver, "task_type", None):
            return True
        return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0)

    def _checkpoint_manager(self):
        if self._manager is None and self.out_dir is not None:
            directory = self.out_dir / "checkpoints"
            if not self.is_chief:  # every worker must save (collective ops); others write to a scratch dir
                resolver = self.strategy.cluster_resolver
                directory = self.out_dir / f".worker_{resolver.task_type}_{resolver.task_id}_checkpoints"
            self._manager = tf.train.CheckpointManager(self.checkpoint, str(directory),
                                                       max_to_keep=self.config.keep_checkpoints)
        return self._manager

    def restore(self, checkpoint_path=None) -> int:
        """Restore the latest checkpoint in ``out_dir/checkpoints`` (or ``checkpoint_path``).

        Every worker reads the chief's checkpoint, so with several machines ``out_dir`` must be on a
        shared file system (as the chief's logs and model are).

        Returns
        -------
        int
            The step training resumes at (0 when there is no checkpoint).
        """
        path = checkpoint_path
        if path is None and self.out_dir is not None:
            path = tf.train.latest_checkpoint(str(self.out_dir / "checkpoints"))
        if path is None:
            return 0
        self.checkpoint.restore(str(path)).assert_existing_objects_matched()
        return int(self.step.numpy())

    @property
    def model_name(self) -> str:
        """File name of the saved generator in ``out_dir``."""
        return f"cgrdn_{self.config.modality}.keras"

    @property
    def run_outputs(self) -> tuple:
        """What a run writes in ``out_dir``; any of them marks an earlier run (``logs/`` alone does not)."""
        return ("training_config.json", "checkpoints", self.model_name)

    def _prepare_run_folder(self, *, resume: bool, force: bool, data_record) -> bool:
        """Apply the run-folder rule (:mod:`tfstem.training.run_folder`) to ``out_dir``; True to resume."""
        if self.out_dir is None:
            return bool(resume)
        self._record = {**self.config.to_dict(), DATA_KEY: data_record}
        earlier = any((self.out_dir / name).exists() for name in self.run_outputs)
        resuming = prepare_run_folder(self.out_dir, self._record, resume=resume, force=force,
                                      outputs=self.run_outputs, record_file="training_config.json", what="out_dir")
        self._fresh = not resuming
        if earlier and not resuming and self.is_chief:  # --force: the old logs would mix with the new ones
            shutil.rmtree(self.out_dir / "logs", ignore_errors=True)
            self._summary_writer = None
        return resuming

    def _start_run_files(self) -> None:
        """Before the first file of a run: remove an earlier run's outputs (fresh runs) and write the record."""
        if getattr(self, "_record_written", False) or self.out_dir is None or not self.is_chief:
            return
        if getattr(self, "_fresh", False):
            clear_previous_run(self.out_dir, self.run_outputs)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        write_json(self.out_dir / "training_config.json",
                   getattr(self, "_record", {**self.config.to_dict(), DATA_KEY: None}), force=True)
        self._record_written = True

    def save_checkpoint(self) -> str | None:
        """Write a checkpoint now (all workers must call this together); returns the chief's path."""
        self._start_run_files()
        manager = self._checkpoint_manager()
        if manager is None:
            return None
        return manager.save(checkpoint_number=int(self.step.numpy()))

    # ------------------------------------------------------------------ data
    def distribute(self, data, start_step: int = 0):
        """Split global batches over workers and replicas.

        ``data`` is a ``tf.data.Dataset`` of ``(distorted, clean)`` global batches
        ``float32 [batch_size, H, W, C]`` (batch k of the run is element k; on resume ``start_step``
        elements are skipped) or a callable ``data(start_step) -> Dataset`` that starts there directly.
        Replica ``r`` (global index over all workers) receives rows ``[r * b, (r + 1) * b)`` of each global
        batch, ``b = batch_size / replicas``, so the split does not change the numbers.
        """
        global_batch = self.config.batch_size
        replicas = self.strategy.num_replicas_in_sync

        def dataset_fn(context: tf.distribute.InputContext):
            dataset = data(start_step) if callable(data) else data.skip(start_step)
            if not isinstance(dataset, tf.data.Dataset):
                raise ValueError(f"data must be a tf.data.Dataset or a callable returning one; got "
                                 f"{type(dataset).__name__}.")
            pipelines = context.num_input_pipelines
            local_replicas = replicas // pipelines
            per_pipeline = global_batch // pipelines
            per_replica = global_batch // replicas
            first = context.input_pipeline_id * per_pipeline

            def split(x, y):
                tf.debugging.assert_equal(
                    tf.shape(x)[0], global_batch,
                    message=f"every dataset element must hold the global batch of {global_batch} examples")
                x = tf.cast(x[first:first + per_pipeline], tf.float32)
                y = tf.cast(y[first:first + per_pipeline], tf.float32)
                shape = tf.concat([[local_replicas, per_replica], tf.shape(x)[1:]], axis=0)
                return tf.data.Dataset.from_tensor_slices((tf.reshape(x, shape), tf.reshape(y, shape)))

            options = tf.data.Options()
            options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
            return dataset.flat_map(split).with_options(options).prefetch(tf.data.AUTOTUNE)

        return self.strategy.distribute_datasets_from_function(dataset_fn)

    # ------------------------------------------------------------------ the step
    def _cross_replica_mean(self, tensor):
        """Mean of ``tensor`` over the global batch (all replicas), differentiable."""
        context = tf.distribute.get_replica_context()
        total = tf.reduce_sum(tf.cast(tensor, tf.float32))
        count = tf.cast(tf.size(tensor), tf.float32)
        if context is not None and self.strategy.num_replicas_in_sync > 1:
            total, count = context.all_reduce(tf.distribute.ReduceOp.SUM, [total, count])
        return total / count

    def _instance_noise(self, y_n, y_gn, step):
        """Authors' instance noise: with probability p per step, N(0, r * max(Std y, 0.01)) on y and y_g.

        Drawn for the whole global batch from ``(seed, step)`` and sliced to this replica's rows, so the
        noise of an example does not depend on how the batch is split.
        """
        c = self.config
        context = tf.distribute.get_replica_context()
        replica = tf.cast(context.replica_id_in_sync_group if context is not None else 0, tf.int32)
        local = tf.shape(y_n)[0]
        offset = replica * local
        key = tf.random.experimental.stateless_fold_in(tf.constant([c.seed, 0x1A5E], tf.int64), step)
        keys = tf.random.experimental.stateless_split(key, 4)
        apply = tf.random.stateless_uniform([], keys[0]) < c.instance_noise_probability
        low, high = c.instance_noise_range
        global_shape = tf.concat([[c.batch_size], tf.shape(y_n)[1:]], axis=0)
        r = tf.random.stateless_uniform([c.batch_size, 1, 1, 1], keys[1], low, high)[offset:offset + local]
        noise_real = tf.random.stateless_normal(global_shape, keys[2])[offset:offset + local]
        noise_fake = tf.random.stateless_normal(global_shape, keys[3])[offset:offset + local]
        _, variance_y = tf.nn.moments(y_n, axes=[1, 2], keepdims=True)
        sigma = r * tf.maximum(tf.sqrt(variance_y), 0.01)
        gate = tf.cast(apply, y_n.dtype)
        return y_n + gate * sigma * noise_real, y_gn + gate * sigma * tf.cast(noise_fake, y_gn.dtype)

    def _replica_step(self, x, y):
        c = self.config
        step = self.step.read_value() if hasattr(self.step, "read_value") else self.step
        global_batch = c.batch_size
        x_n, y_n = losses.to_training_space(x, y, std_floor=c.std_floor)
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            y_g = tf.cast(self.generator(x, training=True), tf.float32)
            _, y_gn = losses.to_training_space(x, y_g, std_floor=c.std_floor)
            terms = losses.pixel_wise_losses(y_n, y_gn, c.loss_weights)
            per_example = terms["pixel_wise"]
            if c.gan:
                y_real_in, y_fake_in = self._instance_noise(y_n, y_gn, step)
                c_real = tf.cast(self.critic([x_n, y_real_in], training=True), tf.float32)
                c_fake = tf.cast(self.critic([x_n, y_fake_in], training=True), tf.float32)
                real_mean = self._cross_replica_mean(c_real)
                fake_mean = self._cross_replica_mean(c_fake)
                terms["adversarial"] = losses.relativistic_adversarial_loss(
                    c_real, c_fake, real_mean=real_mean, fake_mean=fake_mean)
                terms["critic"] = losses.relativistic_discriminator_loss(
                    c_real, c_fake, real_mean=real_mean, fake_mean=fake_mean, label_smoothing=c.label_smoothing)
                per_example = losses.generator_loss(per_example, terms["adversarial"],
                                                    adversarial_weight=c.loss_weights.adversarial)
                d_loss = tf.nn.compute_average_loss(terms["critic"], global_batch_size=global_batch)
            g_loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            g_scaled = self.generator_optimizer.scale_loss(g_loss)
            if c.gan:
                d_scaled = self.critic_optimizer.scale_loss(d_loss)
        g_vars = self.generator.trainable_variables
        self.generator_optimizer.apply_gradients(zip(g_tape.gradient(g_scaled, g_vars), g_vars))
        if c.gan:
            d_vars = self.critic.trainable_variables
            self.critic_optimizer.apply_gradients(zip(d_tape.gradient(d_scaled, d_vars), d_vars))
        # Global means of every term: local sums over the global batch, summed over replicas by the caller.
        metrics = {name: tf.reduce_sum(value) / global_batch for name, value in terms.items() if name != "pixel_wise"}
        metrics["pixel_wise"] = tf.reduce_sum(terms["pixel_wise"]) / global_batch
        metrics["generator_loss"] = g_loss
        metrics["l1_unweighted"] = tf.reduce_sum(losses.l1_loss(y_n, y_gn, sigma_min=None)) / global_batch
        return metrics

    def _distributed_step(self, iterator):
        x, y = next(iterator)
        per_replica = self.strategy.run(self._replica_fn, args=(x, y))
        self.step.assign_add(1)
        return {name: self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                for name, value in per_replica.items()}

    # ------------------------------------------------------------------ public loop
    def fit(self, data, steps: int, *, resume: bool = False, force: bool = False, data_record=None,
            validation_data=None, validation_every: int = 0, callbacks=(), max_minutes: float | None = None) -> dict:
        """Train until the global step reaches ``steps``.

        Parameters
        ----------
        data : tf.data.Dataset or callable
            ``(distorted, clean)`` global batches, float32 ``[batch_size, H, W, C]`` raw intensities, endless
            (``.repeat()``); or ``data(start_step) -> Dataset`` (see :meth:`distribute`).
        steps : int
            Total number of steps of the run (a resumed run continues up to it).
        resume : bool
            Continue the run in ``out_dir``: its ``training_config.json`` must match (same config and
            ``data_record``), otherwise a ValueError says what differs.
        force : bool
            Start afresh in an ``out_dir`` that holds an earlier run: its checkpoints are not resumed, its
            ``logs/`` are removed now and its other outputs with the first checkpoint. Without ``resume`` or
            ``force`` such a folder raises FileExistsError before any step.
        data_record : JSON-serialisable, optional
            What the data is (e.g. :func:`~tfstem.training.run_folder.data_fingerprint` of the pairs), saved in
            ``training_config.json`` under ``_data`` and compared on resume.
        validation_data : tuple of np.ndarray, optional
            ``(distorted, clean)`` held-out pairs, float32 ``[N, H, W, C]``; PSNR/SSIM are logged every
            ``validation_every`` steps and at the end.
        validation_every : int
            Interval in steps (0: only at the end).
        callbacks : sequence of callables
            Called as ``callback(step, metrics_dict)`` after every step (e.g. to stop a run for a test).
        max_minutes : float, optional
            Wall-clock budget of this call in minutes: after the first step that ends past it, training stops
            cleanly (checkpoint, validation and the saved generator as at the end of a full run). Ctrl-C
            (KeyboardInterrupt) stops the same way. ``--resume`` continues such a run.

        Returns
        -------
        dict
            ``{"step": [...], "<term>": [...], "val_psnr": [(step, dB), ...], ...}``: one value per step run
            in this call, means over the global batch; ``"stopped"`` is ``"max_minutes"`` or ``"interrupted"``
            when the run ended before ``steps``.
        """
        from tqdm.auto import tqdm

        if int(steps) != steps or steps < 1:
            raise ValueError(f"steps must be a positive integer; received steps={steps!r}.")
        if max_minutes is not None and not max_minutes >= 0:
            raise ValueError(f"max_minutes must be >= 0 (or None); received max_minutes={max_minutes!r}.")
        deadline = None if max_minutes is None else time.monotonic() + 60.0 * max_minutes
        c = self.config
        resuming = self._prepare_run_folder(resume=resume, force=force, data_record=data_record)
        start = self.restore() if resuming else int(self.step.numpy())
        history: dict = {"step": [], "val_psnr": [], "val_ssim": [], "step_time_s": []}
        if self.out_dir is not None and self.is_chief:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._summary_writer = self._summary_writer or tf.summary.create_file_writer(str(self.out_dir / "logs"))
        if start >= steps:
            return history
        iterator = iter(self.distribute(data, start_step=start))
        preview = None
        bar = tqdm(total=steps, initial=start, desc=f"cgrdn {c.modality}", disable=not (self.verbose and self.is_chief),
                   dynamic_ncols=True)
        try:
            for step in range(start, steps):
                t0 = time.perf_counter()
                try:
                    metrics = self._train_step(iterator)
                except (StopIteration, tf.errors.OutOfRangeError):
                    raise ValueError(f"the dataset ended after {step - start} steps; make it endless with "
                                     ".repeat() or pass fewer steps.") from None
                values = {name: float(value) for name, value in metrics.items()}
                history["step_time_s"].append(time.perf_counter() - t0)
                history["step"].append(step + 1)
                for name, value in values.items():
                    history.setdefault(name, []).append(value)
                if not all(math.isfinite(v) for v in values.values()):
                    raise FloatingPointError(f"non-finite loss at step {step + 1}: {values}")
                bar.update(1)
                bar.set_postfix({k: f"{v:.4g}" for k, v in values.items() if k in ("l1", "pixel_wise", "adversarial",
                                                                                 "critic")})
                done = step + 1
                if self._summary_writer is not None and c.log_every and done % c.log_every == 0:
                    self._log_scalars(done, values)
                if self._summary_writer is not None and c.image_every and (done % c.image_every == 0 or done == steps):
                    if preview is None:
                        preview = self._preview_batch(data, start)
                    self._log_images(done, preview)
                if validation_data is not None and validation_every and done % validation_every == 0:
                    self._validate(done, validation_data, history)
                if c.checkpoint_every and done % c.checkpoint_every == 0:
                    self.save_checkpoint()
                for callback in callbacks:
                    callback(done, values)
                if deadline is not None and done < steps and time.monotonic() > deadline:
                    history["stopped"] = "max_minutes"
                    break
        except KeyboardInterrupt:
            history["stopped"] = "interrupted"
        finally:
            bar.close()
        if "stopped" in history:
            print(f"cgrdn: stopped ({history['stopped']}) at step {int(self.step.numpy())} of {steps}; "
                  "the checkpoint and generator are saved, --resume continues.", file=sys.stderr)
        if validation_data is not None and (not history["val_psnr"]
                                            or history["val_psnr"][-1][0] != int(self.step.numpy())):
            self._validate(int(self.step.numpy()), validation_data, history)
        if c.checkpoint_every:
            self.save_checkpoint()
        if self.out_dir is not None and self.is_chief:
            self._start_run_files()
            with atomic_file(self.out_dir / self.model_name, force=True) as partial:  # this run's own model
                self.generator.save(partial)
        if self._summary_writer is not None:
            self._summary_writer.flush()
        return history

    def evaluate(self, distorted, clean, *, batch_size: int = 4) -> dict:
        """Mean PSNR and SSIM (dB, unitless) of ``G(distorted)`` against ``clean``, per image (r_em Eq. 1).

        Parameters
        ----------
        distorted, clean : np.ndarray
            float32 ``[N, H, W, C]`` raw intensities; each image's data range is that of its clean image.

        Returns
        -------
        dict
            ``{"psnr": float, "ssim": float, "psnr_input": float, "ssim_input": float}``.
        """
        from tfstem import metrics

        distorted = np.asarray(distorted, np.float32)
        clean = np.asarray(clean, np.float32)
        restored = np.concatenate([self.generator(distorted[i:i + batch_size], training=False).numpy()
                                   for i in range(0, len(distorted), batch_size)])
        out = {"psnr": [], "ssim": [], "psnr_input": [], "ssim_input": []}
        for x, y_g, y in zip(distorted, restored, clean):
            out["psnr"].append(metrics.psnr(y[..., 0], y_g[..., 0]))
            out["ssim"].append(metrics.ssim(y[..., 0], y_g[..., 0]))
            out["psnr_input"].append(metrics.psnr(y[..., 0], x[..., 0]))
            out["ssim_input"].append(metrics.ssim(y[..., 0], x[..., 0]))
        return {k: float(np.mean(v)) for k, v in out.items()}

    # ------------------------------------------------------------------ logging
    def _validate(self, step, validation_data, history):
        scores = self.evaluate(*validation_data)
        history["val_psnr"].append((step, scores["psnr"]))
        history["val_ssim"].append((step, scores["ssim"]))
        if self._summary_writer is not None:
            with self._summary_writer.as_default(step=step):
                for name, value in scores.items():
                    _write_scalar(f"validation/{name}", value, step)

    def _log_scalars(self, step, values):
        with self._summary_writer.as_default(step=step):
            for name, value in values.items():
                _write_scalar(f"loss/{name}", value, step)
            _write_scalar("optimizer/generator_learning_rate", float(self.generator_optimizer.learning_rate), step)

    def _preview_batch(self, data, start):
        dataset = data(start) if callable(data) else data
        x, y = next(iter(dataset.take(1)))
        return x[:3], y[:3]

    def _log_images(self, step, preview):
        x, y = preview
        y_g = tf.cast(self.generator(x, training=False), tf.float32)
        with self._summary_writer.as_default(step=step):
            _write_images("distorted | restored | clean", _panel(x, y_g, y, self.config.std_floor), step)

    def export(self, directory, *, name: str | None = None, version: int = 1, overwrite: bool = False):
        """Write the generator as ``.keras`` and, through :mod:`tfstem.export`, as a TF Serving SavedModel.

        Returns
        -------
        Path
            The SavedModel version directory ``directory/<name>/<version>``.
        """
        from tfstem.export import export_model

        name = name or f"cgrdn_{self.config.modality}"
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        return export_model(self.generator, directory, name=name, version=version, overwrite=overwrite)


# ---------------------------------------------------------------------- command line
def add_cli_arguments(parser) -> None:
    """Options of ``tfstem train cgrdn``."""
    parser.add_argument("--modality", default="hrstem", choices=MODALITIES, help="modality (default hrstem)")
    parser.add_argument("--steps", type=int, required=True, help="total training steps")
    parser.add_argument("-o", "--output", "--out", dest="output", required=True,
                        help="output directory (checkpoints, logs, model); --out is the former spelling")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in the output directory (same data, seed and options)")
    parser.add_argument("--force", action="store_true", help="start afresh in a directory that holds an earlier run")
    parser.add_argument("--preset", choices=PRESETS, default=None,
                        help="released: authors' L1x10, GAN off (default); paper_gan: critic + all losses")
    parser.add_argument("--config", default=None, help="a JSON config of the models/cgrdn_<modality>.json layout")
    parser.add_argument("--data", default=None,
                        help=".npz or .h5 file with arrays 'x' (distorted) and 'y' (clean), [N, H, W(, C)], "
                             "or a `tfstem simulate --format npy` output directory; "
                             "default: synthetic pairs from tfstem.synth, made on the fly")
    parser.add_argument("--batch-size", type=int, default=None, help="global batch (default from config: 4)")
    parser.add_argument("--patch-size", type=int, default=None, help="training patch side (default 256)")
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--size", choices=("full", "small"), default="full",
                        help="full: the authors' 7.0 M-parameter CGRDN; small: 32 features, 16 growth, 4x2x2 (CPU)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--checkpoint-every", type=int, default=None)
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="wall-clock budget: stop cleanly (checkpoint + saved model) after it; --resume goes on")
    parser.add_argument("--strategy", choices=("default", "mirrored", "multiworker"), default="default",
                        help="tf.distribute strategy (multiworker reads TF_CONFIG)")
    parser.add_argument("--mixed-precision", choices=("float32", "mixed_float16", "mixed_bfloat16"), default=None)
    parser.add_argument("--xla", action="store_true", help="XLA-compile the step (single replica)")
    parser.add_argument("--export", action="store_true", help="also write a TF Serving SavedModel under OUT/serving")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


#: The reduced configuration used for CPU-trained models (``--size small``).
SMALL_GENERATOR = dict(features=32, growth=16, layers_per_rdb=4, rdbs_per_grdb=2, grdbs=2)


#: tfstem.synth returns clean images scaled to max 1. The authors trained on raw 16-bit counts, where the
#: CGRDN's absolute std floor of 0.1 never acts; scaling the pairs by 1000 keeps it inactive in the same way
#: (the network is otherwise invariant to the intensity scale).
SYNTH_INTENSITY_SCALE = 1000.0


def _read_simulated_pairs(directory: Path):
    """Pairs written by ``tfstem simulate --format npy``, scaled like on-the-fly synthetic data.

    Returns
    -------
    x, y : np.ndarray
        float32 ``[N, H, W]`` distorted and clean images times :data:`SYNTH_INTENSITY_SCALE`.
    """
    clean_files = sorted(directory.glob("*_clean.npy"))
    if len(clean_files) != 1:
        raise ValueError(f"--data {directory} must hold exactly one '<prefix>_clean.npy' written by "
                         f"`tfstem simulate --format npy`; found {[p.name for p in clean_files]}.")
    distorted_file = clean_files[0].with_name(clean_files[0].name.replace("_clean.npy", "_distorted.npy"))
    if not distorted_file.exists():
        raise FileNotFoundError(f"--data {directory}: {distorted_file.name} is missing beside {clean_files[0].name}.")
    x, y = np.load(distorted_file), np.load(clean_files[0])
    return x * np.float32(SYNTH_INTENSITY_SCALE), y * np.float32(SYNTH_INTENSITY_SCALE)


def _read_pairs(path):
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"--data {path} does not exist.")
    if path.is_dir():
        return _read_simulated_pairs(path)
    if path.suffix == ".npz":
        with np.load(path) as archive:
            if "x" not in archive or "y" not in archive:
                raise ValueError(f"--data {path} must hold arrays 'x' and 'y'; found {sorted(archive.files)}.")
            return archive["x"], archive["y"]
    if path.suffix in (".h5", ".hdf5"):
        import h5py

        with h5py.File(path, "r") as f:
            if "x" not in f or "y" not in f:
                raise ValueError(f"--data {path} must hold datasets 'x' and 'y'; found {sorted(f)}.")
            return f["x"][()], f["y"][()]
    raise ValueError(f"--data must be a .npz or .h5 file; received {path.name}.")


def _synthetic_data(config):
    try:
        from tfstem.synth import pairs
    except ImportError as error:
        raise ImportError("synthetic pairs need tfstem.synth.pairs, which this installation lacks; "
                          "pass --data FILE.npz with arrays x and y instead.") from error

    def scale(x, y):
        return x * SYNTH_INTENSITY_SCALE, y * SYNTH_INTENSITY_SCALE

    def data(start_step):
        dataset = pairs(config.modality, size=config.patch_size, batch_size=config.batch_size,
                        seed=config.seed)
        return dataset.repeat().skip(start_step).map(scale)

    return data


def _make_strategy(name):
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy multiworker needs the TF_CONFIG environment variable (cluster and task).")
        return tf.distribute.MultiWorkerMirroredStrategy()
    return None


def run_cli(args) -> int:
    """``tfstem train cgrdn``: train, checkpoint, resume, save ``OUT/cgrdn_<modality>.keras``."""
    strategy = _make_strategy(args.strategy)  # first: MultiWorkerMirroredStrategy must precede other TF ops
    overrides = {}
    for option, field in (("batch_size", "batch_size"), ("patch_size", "patch_size"), ("seed", "seed"),
                          ("learning_rate", "learning_rate"), ("checkpoint_every", "checkpoint_every"),
                          ("mixed_precision", "dtype_policy")):
        value = getattr(args, option)
        if value is not None:
            overrides[field] = value
    if args.xla:
        overrides["jit_compile"] = True
    if args.size == "small":
        overrides.update(SMALL_GENERATOR)
    out = Path(args.output)
    check_directory_writable(out, what="-o/--output")
    config = load_training_config(args.modality, args.preset, path=args.config, **overrides)
    if args.data:
        x, y = _read_pairs(args.data)
        data_record = data_fingerprint(x, y)
        data = lambda start: array_pairs_dataset(x, y, batch_size=config.batch_size,  # noqa: E731
                                                 patch_size=config.patch_size, seed=config.seed, start_step=start)
    else:
        data_record = "synthetic"  # tfstem.synth pairs: a function of the config (modality, seed, patch size)
        data = _synthetic_data(config)
    # The rule again here, before the networks are built (fit applies it too).
    prepare_run_folder(out, {**config.to_dict(), DATA_KEY: data_record}, resume=args.resume, force=args.force,
                       outputs=("training_config.json", "checkpoints", f"cgrdn_{config.modality}.keras"),
                       record_file="training_config.json")
    trainer = CGRDNTrainer(config, strategy=strategy, out_dir=out, verbose=not args.quiet)
    history = trainer.fit(data, args.steps, resume=args.resume, force=args.force, data_record=data_record,
                          max_minutes=args.max_minutes)
    if history["step"]:
        last = {k: v[-1] for k, v in history.items() if v and isinstance(v[-1], float) and k != "step_time_s"}
        print(f"step {history['step'][-1]}: " + ", ".join(f"{k} {v:.4g}" for k, v in sorted(last.items())))
    if args.export and trainer.is_chief:
        print(f"exported {trainer.export(out / 'serving')}")
    print(f"model: {out / f'cgrdn_{config.modality}.keras'}")
    return 0
