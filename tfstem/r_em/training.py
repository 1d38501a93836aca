"""Train CGRDN as the r_em paper does: generator + conditional relativistic patch critic, under tf.distribute.

:class:`R_EM` is the r_em method of the shared training layer (:mod:`tfstem.training`): ``tfstem.fit("r_em",
data, preset=...)`` and ``tfstem train r_em DATA -o DIR`` build it from :class:`~tfstem.r_em.config.R_EMConfig`
(``models/r_em.json``) and run it through the one loop (epochs, budget, checkpoints, resume, TensorBoard).

The step is a ``strategy.run`` (Keras 3 ``fit`` is reported broken under ``MultiWorkerMirroredStrategy``),
so the same code runs on one device, on several GPUs of one machine (``MirroredStrategy``) and on several
machines (``MultiWorkerMirroredStrategy`` configured by ``TF_CONFIG``). Both optimizers are built inside
``strategy.scope()``; every loss is per example and scaled by the **global** batch
(:func:`tf.nn.compute_average_loss`); the "average" of the relativistic losses (Eq. 2-3) is taken over the
global batch with a cross-replica all-reduce, so a distributed run computes the same numbers as a
single-device run with the same global batch and seed.

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
   floor 1e-4 of the initial rate; :class:`~tfstem.r_em.schedule.WarmupExponentialDecay`).

Every random draw is stateless and a function of ``(seed, step)`` and the data is a function of the step
(:mod:`tfstem.r_em.data`), so a resumed run computes the same losses as an uninterrupted one.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np  # noqa: F401  (the Examples use it)
import tensorflow as tf

from tfstem.r_em import losses
from tfstem.r_em.config import R_EMConfig
from tfstem.r_em.data import array_pairs_dataset, as_pairs, distribute_batches, read_pairs, synthetic_pairs
from tfstem.r_em.schedule import WarmupExponentialDecay
from tfstem.r_em.validation import preview_panel, restoration_scores
from tfstem.synth.configs import MODALITIES
from tfstem.training.method import Method
from tfstem.training.run_folder import data_fingerprint

__all__ = ["R_EM", "METHOD"]


class R_EM(Method):
    """Generator + conditional relativistic patch critic of r_em, trained with a ``strategy.run`` step.

    Parameters
    ----------
    config : R_EMConfig
        Hyper-parameters (``models/r_em.json``).
    data : tuple of array_like or None
        ``(distorted, clean)`` aligned pairs, float32 ``[N, H, W(, C)]`` raw intensities each, H and W at least
        ``patch_size`` (random crops, flips and transposes are drawn from them); None: synthetic pairs of
        ``config.modality`` made on the fly (:func:`tfstem.r_em.data.synthetic_pairs`). Never modified.
    strategy : tf.distribute.Strategy, optional
        Default: the current strategy (one device). ``MirroredStrategy`` for several local devices,
        ``MultiWorkerMirroredStrategy`` (created first in the process, ``TF_CONFIG`` set) for several machines.
    from_model : None
        Not supported (r_em trains from scratch); a value raises ValueError.
    validation_data : tuple of array_like or path-like, optional
        Held-out ``(distorted, clean)`` pairs, float32 ``[N, H, W(, C)]`` (or a file :meth:`read_data`
        reads): their mean PSNR and SSIM (dB, unitless; :func:`~tfstem.r_em.validation.restoration_scores`) join each epoch's history
        entry as ``val_psnr`` and ``val_ssim``.

    Notes
    -----
    Building calls ``keras.utils.set_random_seed(config.seed)`` so that two runs with the same config start
    from the same weights, whatever the strategy.

    Examples
    --------
    >>> import tfstem.r_em
    >>> rng = np.random.default_rng(0)
    >>> y = rng.random((4, 64, 64, 1), dtype=np.float32) * 100
    >>> x = y + rng.normal(0, 10, y.shape).astype(np.float32)
    >>> result = tfstem.r_em.fit((x, y), preset="quick", steps=2, verbose=False)
    >>> len(result.history["losses"]["generator_loss"])
    2
    """

    name = "r_em"
    config_class = R_EMConfig
    progress_keys = ("l1", "pixel_wise", "adversarial", "critic")
    constructor_options = ("validation_data",)

    def __init__(self, config: R_EMConfig, data=None, *, strategy: tf.distribute.Strategy | None = None,
                 from_model=None, validation_data=None):
        if not isinstance(config, R_EMConfig):
            raise ValueError(f"config must be an R_EMConfig; received {type(config).__name__}.")
        if from_model is not None:
            raise ValueError("r_em trains from scratch: from_model is not supported; drop it (or pass the model to "
                             "tfstem.restore to use it).")
        self.config = config
        self.strategy = strategy or tf.distribute.get_strategy()
        self.log_every, self.image_every = config.log_every, config.image_every
        self.checkpoint_every, self.keep_checkpoints = config.checkpoint_every, config.keep_checkpoints
        self._check_strategy()
        self.pairs = None if data is None else self._checked_pairs(data, what="data")
        self.validation_data = self._read_validation(validation_data)
        self._preview_batch = None

        keras.utils.set_random_seed(config.seed)
        self._build()
        if config.dtype_policy == "mixed_float16":
            _check_float16_safe(self.generator)
        # XLA compiles the per-replica computation (forward, losses, gradients, updates); reading the
        # distributed iterator stays outside, as XLA has no kernel for it.
        self._replica_fn = tf.function(self._replica_step, jit_compile=True) if config.jit_compile else self._replica_step
        self._train_step = tf.function(self._distributed_step)

    # ------------------------------------------------------------------ set-up
    def _check_strategy(self):
        replicas = self.strategy.num_replicas_in_sync
        if self.config.batch_size % replicas:
            raise ValueError(f"batch_size={self.config.batch_size} (global) must be divisible by the "
                             f"{replicas} replicas of the strategy; choose a multiple of {replicas}.")
        if self.config.jit_compile and replicas > 1:
            raise ValueError("jit_compile=True needs a single-replica strategy (the step's collectives are not "
                             f"XLA-compiled here); received a strategy with {replicas} replicas.")

    def _checked_pairs(self, pairs, *, what):
        if not isinstance(pairs, (tuple, list)) or len(pairs) != 2:
            shape = getattr(pairs, "shape", None)
            raise ValueError(f"{what} must be a (distorted, clean) pair of arrays [N, H, W(, C)]; received a "
                             f"{type(pairs).__name__}{f' of shape {shape}' if shape is not None else ''}.")
        distorted, clean = as_pairs(*pairs)
        if distorted.shape[-1] != self.config.channels:
            raise ValueError(f"{what} has {distorted.shape[-1]} channels (shape {distorted.shape}) but the "
                             f"config has channels={self.config.channels}; set channels={distorted.shape[-1]}.")
        return distorted, clean

    def _read_validation(self, validation_data):
        if validation_data is None:
            return None
        if isinstance(validation_data, (str, os.PathLike)):
            validation_data = read_pairs(validation_data)
            if validation_data is None:
                raise ValueError("validation_data must be held-out pairs (a .npz/.h5 file or (x, y)), not synthetic.")
        return self._checked_pairs(validation_data, what="validation_data")

    def _build(self):
        from tfstem.r_em.cgrdn import build_cgrdn
        from tfstem.r_em.patch_critic import build_patch_critic

        c = self.config
        previous_policy = keras.config.dtype_policy()
        keras.config.set_dtype_policy(c.dtype_policy)
        try:
            with self.strategy.scope():
                self.generator = build_cgrdn(**c.generator_kwargs(), name=f"cgrdn_{c.modality}")
                self.critic = build_patch_critic(features=c.critic_features) if c.gan else None
                self.generator_optimizer = self._optimizer(c.learning_rate, c.beta_1, "generator_adam")
                self.generator_optimizer.build(self.generator.trainable_variables)
                self.critic_optimizer = None
                if c.gan:
                    self.critic_optimizer = self._optimizer(c.critic_learning_rate, c.critic_beta_1, "critic_adam")
                    self.critic_optimizer.build(self.critic.trainable_variables)
                self._step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step",
                                         aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        finally:
            keras.config.set_dtype_policy(previous_policy)

    def _optimizer(self, learning_rate, beta_1, name):
        c = self.config
        schedule = WarmupExponentialDecay(learning_rate, c.warmup_steps, c.steps_per_epoch, c.decay_rate,
                                          c.min_learning_rate_fraction)
        optimizer = keras.optimizers.Adam(schedule, beta_1=beta_1, beta_2=c.beta_2, epsilon=c.epsilon, name=name)
        if c.dtype_policy == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer, name=f"{name}_loss_scale")
        return optimizer

    # ------------------------------------------------------------------ data
    @classmethod
    def read_data(cls, path, *, channels_axis=None):
        """Pairs from a ``.npz``/``.h5`` file (arrays ``x``, ``y``) or a ``tfstem simulate --format npy`` folder;
        None for ``"synthetic"`` (see :func:`tfstem.r_em.data.read_pairs`)."""
        return read_pairs(path, channels_axis=channels_axis)

    def data_record(self):
        return "synthetic" if self.pairs is None else data_fingerprint(*self.pairs)

    def dataset(self, start_step: int = 0) -> tf.data.Dataset:
        """The run's global batches from ``start_step`` on: ``(distorted, clean)``, float32
        ``[batch_size, patch_size, patch_size, C]`` raw intensities, endless."""
        c = self.config
        if self.pairs is None:
            return synthetic_pairs(c.modality, batch_size=c.batch_size, patch_size=c.patch_size, seed=c.seed,
                                   start_step=start_step)
        return array_pairs_dataset(*self.pairs, batch_size=c.batch_size, patch_size=c.patch_size, seed=c.seed,
                                   start_step=start_step)

    def steps_per_epoch(self) -> int:
        return self.config.steps_per_epoch

    def batches(self, start_step: int):
        return iter(distribute_batches(self.strategy, lambda: self.dataset(start_step), self.config.batch_size))

    # ------------------------------------------------------------------ the step
    @property
    def step(self) -> int:
        return int(self._step.numpy())

    def train_step(self, batches) -> dict:
        return {name: float(value) for name, value in self._train_step(batches).items()}

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
        weights = c.loss_weights
        step = self._step.read_value()
        global_batch = c.batch_size
        x_n, y_n = losses.to_training_space(x, y, std_floor=c.std_floor)
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            y_g = tf.cast(self.generator(x, training=True), tf.float32)
            _, y_gn = losses.to_training_space(x, y_g, std_floor=c.std_floor)
            terms = losses.pixel_wise_losses(y_n, y_gn, weights)
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
                                                    adversarial_weight=weights.adversarial)
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
        self._step.assign_add(1)
        return {name: self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                for name, value in per_replica.items()}

    # ------------------------------------------------------------------ what the loop keeps
    def trackables(self) -> dict:
        # The names are the checkpoint keys of the earlier CGRDNTrainer: its checkpoints still restore.
        out = dict(generator=self.generator, generator_optimizer=self.generator_optimizer, step=self._step)
        if self.config.gan:
            out.update(critic=self.critic, critic_optimizer=self.critic_optimizer)
        return out

    def deployable(self):
        return self.generator

    # ------------------------------------------------------------------ hooks
    def end_of_epoch(self, epoch: int, means: dict) -> dict:
        if self.validation_data is None:
            return {}
        scores = restoration_scores(self.generator, *self.validation_data)
        return {"val_psnr": scores["psnr"], "val_ssim": scores["ssim"]}

    def log_scalars(self) -> dict:
        return {"optimizer/generator_learning_rate": float(self.generator_optimizer.learning_rate)}

    def preview(self):
        """distorted | restored | clean of the run's first 3 training patches, each in the distorted image's
        standardised scale clipped to +-3 std, float ``[3, P, 3 P, 1]`` in [0, 1]."""
        if self._preview_batch is None:
            x, y = next(iter(self.dataset(0).take(1)))
            self._preview_batch = (x[:3], y[:3])
        return preview_panel(self.generator, *self._preview_batch, std_floor=self.config.std_floor)

    def finish(self, stopped: str) -> dict:
        """The final generator's scores on the validation pairs (``{"validation": {...}}``), if any."""
        if self.validation_data is None:
            return {}
        return {"validation": restoration_scores(self.generator, *self.validation_data)}

    @property
    def is_chief(self) -> bool:
        """True on the worker that writes logs, checkpoints and models (the only one without TF_CONFIG)."""
        resolver = getattr(self.strategy, "cluster_resolver", None)
        if resolver is None or not getattr(resolver, "task_type", None):
            return True
        return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0)

    def scratch_directory(self, run_folder: Path) -> Path | None:
        """Every worker must save (collective ops); the others write to ``<run>/.worker_<type>_<id>_checkpoints``.

        Every worker resumes from the chief's checkpoints, so with several machines the run folder must be
        on a shared file system.
        """
        if self.is_chief:
            return None
        resolver = self.strategy.cluster_resolver
        return Path(run_folder) / f".worker_{resolver.task_type}_{resolver.task_id}_checkpoints"

    # ------------------------------------------------------------------ command line
    @classmethod
    def add_arguments(cls, parser) -> None:
        """The r_em flags of ``tfstem train r_em`` (the common ones are the training layer's)."""
        parser.add_argument("--modality", choices=MODALITIES, default=None,
                            help="modality of the synthetic pairs (DATA 'synthetic') and of the model's name; "
                                 "default hrstem (same as --set modality=...)")
        parser.add_argument("--validation", default=None, metavar="PAIRS",
                            help=".npz/.h5 file of held-out pairs (arrays x, y): mean PSNR/SSIM at every epoch's "
                                 "end (history val_psnr, val_ssim)")

    @classmethod
    def cli_options(cls, args) -> dict:
        """Keyword arguments of :func:`tfstem.training.fit.fit` from the flags of :meth:`add_arguments`."""
        out = {}
        if getattr(args, "modality", None):
            out["modality"] = args.modality
        if getattr(args, "validation", None):
            out["validation_data"] = args.validation
        return out


def _check_float16_safe(generator):
    """Refuse float16 standardisation: the variance of raw 16-bit intensities (~1e9) overflows float16."""
    for layer in generator.layers:
        if type(layer).__name__ in ("StandardizePerImage", "Destandardize") and layer.compute_dtype == "float16":
            raise ValueError(
                "dtype_policy='mixed_float16' would compute the CGRDN's per-image standardisation "
                f"(layer {layer.name!r}) in float16, where the variance of raw detector counts overflows to inf; "
                "use 'mixed_bfloat16', or build the standardisation layers with dtype='float32'.")


METHOD = R_EM
