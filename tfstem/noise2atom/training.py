"""Noise2Atom training: the paper's per-batch schedule of critic, adversarial and cycle updates.

Wang et al., Appl. Microsc. 50:23 (2020), section "Training Details". In a single batch:

1. train the critic D 5 times, noisy (as Ms2c(s)) -> "False" (+1), clean -> "True" (-1), with the
   WGAN-GP penalty (Eq. 1-5);
2. train Ms2c∘D once, noisy -> "True" with D fixed (adversarial term of Eq. 1, weight alpha = 5);
3. train Ms2c∘Mc2s∘Ms2b once, noisy -> its low-frequency features with Ms2b fixed (Eq. 7);
4. train Mc2s∘Ms2c once, clean -> itself (Eq. 6, weight beta = 1).

RMSprop (learning rate 5e-5, "momentum" 0.9 read as rho, as in the released code), batch 6, 128x128 patches,
120 frames sampled from the series, 100 epochs; the paper's convergence description (L_cycle < 0.05 and
L_lfc < 0.1) is logged as an event, not a stop (``early_stop`` option). Every departure of the released code is a
:class:`~tfstem.noise2atom.config.Noise2AtomConfig` option; ``models/noise2atom.json`` lists them with both
readings and the presets ``paper``, ``released``, ``cpu`` and ``quick``.

:class:`Noise2Atom` plugs the schedule into the shared loop (:mod:`tfstem.training`): three small
``tf.function`` s (critic update, adversarial update, cycle update(s)), no NumPy inside them, so the step runs
unchanged on a GPU. Command line: ``tfstem train noise2atom SERIES -o DIR``; Python: ``tfstem.fit``.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from tfstem.noise2atom import losses as n2a_losses
from tfstem.noise2atom.checks import check_after_training
from tfstem.noise2atom.clean_domain import clean_domain_dataset
from tfstem.noise2atom.config import Noise2AtomConfig
from tfstem.noise2atom.data import check_patch_fits, noisy_dataset, prepare_frames
from tfstem.noise2atom.lowpass import build_lowpass
from tfstem.noise2atom.wgan_critic import build_wgan_critic
from tfstem.noise2atom.xception_unet import build_denoiser, build_xception_unet
from tfstem.training.method import Method
from tfstem.training.run_folder import data_fingerprint

__all__ = ["Noise2Atom", "METHOD", "LOSS_NAMES"]

#: The named losses of one iteration (``critic``: the last of the critic updates; ``anchor``: the sign hinge,
#: unweighted).
LOSS_NAMES = ("critic", "gp", "gan", "cycle", "lfc", "anchor")


class Noise2Atom(Method):
    """Ms2c, Mc2s, D, Ms2b, the RMSprop optimizers and the per-batch schedule, on one noisy series.

    Parameters
    ----------
    config : Noise2AtomConfig
    data : array_like ``[T, H, W]`` or ``[T, H, W, 1]``, any real dtype
        The noisy series, raw counts; H and W >= ``config.patch_size``. Not modified.

    Attributes
    ----------
    ms2c, mc2s : keras.Model
        Generators on [-1, 1] images (:func:`~tfstem.noise2atom.xception_unet.build_xception_unet`).
    critic : keras.Model
        D (:func:`~tfstem.noise2atom.wgan_critic.build_wgan_critic`).
    lowpass : keras.Model
        Ms2b, fixed (:func:`~tfstem.noise2atom.lowpass.build_lowpass`).
    minimum, maximum : float
        The raw stack's range, stored in the deployable model.
    """

    name = "noise2atom"
    config_class = Noise2AtomConfig
    progress_keys = ("gan", "cycle", "lfc")
    log_every = 1

    def __init__(self, config: Noise2AtomConfig, data, *, strategy=None):
        if strategy is not None:
            raise ValueError("noise2atom trains on one device; strategy is for r_em (pass strategy=None).")
        if not isinstance(config, Noise2AtomConfig):
            raise ValueError(f"config must be a Noise2AtomConfig; received {type(config).__name__}.")
        self.config = c = config
        self.frames = data
        # The series is checked before the networks are built: a bad file fails in a second, not a minute.
        self.scaled, self.minimum, self.maximum = prepare_frames(data, training_frames=c.training_frames,
                                                                 seed=c.seed)
        check_patch_fits(self.scaled, c.patch_size)
        keras.utils.set_random_seed(c.seed)
        generator = dict(features=c.features, num_residual_blocks=c.num_residual_blocks,
                         full_resolution_kernels=c.full_resolution_kernels,
                         low_resolution_kernels=c.low_resolution_kernels, normalization=c.normalization)
        self.ms2c = build_xception_unet(name="ms2c", **generator)
        self.mc2s = build_xception_unet(name="mc2s", **generator)
        self.critic = build_wgan_critic(patch_size=c.patch_size, filters=c.critic_filters, dropout=c.critic_dropout,
                                        normalization=c.normalization, grid=c.critic_grid)
        self.lowpass = build_lowpass(size=c.lowpass_size, sigma=c.lowpass_sigma, kernel=c.lowpass_kernel,
                                     padding=c.lowpass_padding)
        self._build_optimizers()
        self.iteration = tf.Variable(0, dtype=tf.int64, trainable=False, name="iteration")
        self._converged_logged = False  # the 'converged' event is logged once per process
        self._denoise_fn = tf.function(self._denoise, reduce_retracing=True)
        self._critic_fn = tf.function(self._critic_update, reduce_retracing=True)
        self._adversarial_fn = tf.function(self._adversarial_update, reduce_retracing=True)
        self._cycle_fn = tf.function(self._cycle_updates, reduce_retracing=True)

    def _build_optimizers(self):
        c = self.config
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

    def _optimizer(self, learning_rate=None):
        c = self.config
        return keras.optimizers.RMSprop(learning_rate=learning_rate or c.learning_rate, rho=c.rmsprop_rho,
                                        momentum=c.rmsprop_momentum)

    @classmethod
    def read_data(cls, path, *, channels_axis=None):
        """The noisy series in ``path`` as stored, ``[T, H, W]`` (:func:`tfstem.io.read_series`)."""
        from tfstem.io import read_series

        return read_series(path, channels_axis=channels_axis)

    # ------------------------------------------------------------------ the contract
    @property
    def step(self) -> int:
        return int(self.iteration.numpy())

    def steps_per_epoch(self) -> int:
        """``config.steps_per_epoch``, or enough batches to cover every patch-sized tile of the frames once."""
        return self.epoch_steps(self.config, self.scaled.shape)

    @classmethod
    def epoch_steps(cls, config, data_shape) -> int:
        """``config.steps_per_epoch``, or enough batches to cover every patch-sized tile of the (at most
        ``training_frames``) frames of a series of shape ``data_shape`` (``[T, H, W(, 1)]``) once."""
        if config.steps_per_epoch:
            return int(config.steps_per_epoch)
        if not data_shape or len(data_shape) < 3:
            raise ValueError(f"the epoch length of noise2atom needs the series' shape [T, H, W]; "
                             f"received {data_shape!r}.")
        t, h, w = min(int(data_shape[0]), config.training_frames), int(data_shape[1]), int(data_shape[2])
        tiles = math.ceil(h / config.patch_size) * math.ceil(w / config.patch_size)
        return int(math.ceil(t * tiles / config.batch_size))

    def batches(self, start_step: int):
        """``(noisy, clean)`` batches from position ``start_step`` of the two stateless streams (batch i is a
        function of ``(seed, i)``: nothing before ``start_step`` is computed)."""
        c = self.config
        noisy = noisy_dataset(self.scaled, batch_size=c.batch_size, patch_size=c.patch_size,
                              sampling=c.patch_sampling, seed=c.seed, start=start_step)
        clean = clean_domain_dataset(batch_size=c.batch_size, seed=c.seed, site_pitch=c.site_pitch,
                                     integer_variance=c.integer_variance, patch_size=c.patch_size, start=start_step)
        return zip(noisy, clean)

    def train_step(self, batches) -> dict:
        """One iteration of the schedule on the next ``(noisy, clean)`` batch, float32 ``[B, p, p, 1]`` in [-1, 1].

        Returns :data:`LOSS_NAMES`: ``critic`` (last of the critic losses), ``gp``, ``gan`` (W(-1, D(Ms2c(s)))),
        ``cycle``, ``lfc``, ``anchor``; None for the terms a warm-up iteration skips.
        """
        noisy, clean = next(batches)
        c = self.config
        warming_up = self.step < c.adversarial_warmup
        critic_total = gp_value = gan = None
        if not warming_up or c.warmup_critic:
            # 1. critic x5 on the same batch; Ms2c is not updated in between, so its output is computed once.
            denoised = tf.stop_gradient(self._denoise_fn(noisy))
            for k in range(c.critic_steps):
                critic_total, gp_value = self._critic_fn(denoised, clean, tf.constant(k, tf.int32))
        if not warming_up:
            gan = self._adversarial_fn(noisy)  # 2. Ms2c∘D: noisy -> "True", D fixed.
        cycle, lfc, anchor = self._cycle_fn(noisy, clean)  # 3./4. the cycle updates.
        out = {"critic": critic_total, "gp": gp_value, "gan": gan, "cycle": cycle, "lfc": lfc, "anchor": anchor}
        return {k: None if v is None else float(v) for k, v in out.items()}

    def trackables(self) -> dict:
        extra = {}
        if self.config.generator_optimizers == "per_update":
            extra = {"lfc_optimizer": self.update_optimizers["lfc"], "cycle_optimizer": self.update_optimizers["cycle"]}
        return dict(ms2c=self.ms2c, mc2s=self.mc2s, critic=self.critic, generator_optimizer=self.generator_optimizer,
                    critic_optimizer=self.critic_optimizer, iteration=self.iteration, **extra)

    def deployable(self) -> keras.Model:
        """The trained Ms2c wrapped for raw input of any size (MODEL CONTRACT)."""
        return build_denoiser(self.ms2c, minimum=self.minimum, maximum=self.maximum)

    def data_record(self):
        return data_fingerprint(np.asarray(self.frames))

    def end_of_epoch(self, epoch: int, means: dict) -> dict:
        """The paper's description of convergence (epoch means L_cycle < 0.05 and L_lfc < 0.1): a ``converged``
        event the first time it holds; a stop only with ``early_stop=True`` (off in the paper preset)."""
        c = self.config
        if c.early_stop_cycle is None or c.early_stop_lfc is None:
            return {}
        if means.get("cycle") is None or means.get("lfc") is None \
                or not (means["cycle"] < c.early_stop_cycle and means["lfc"] < c.early_stop_lfc):
            return {}
        out = {"stop": "early_stop"} if c.early_stop else {}
        if not self._converged_logged:
            self._converged_logged = True
            out["event"] = (f"converged: epoch {epoch} means L_cycle {means['cycle']:.4g} < {c.early_stop_cycle} and "
                            f"L_lfc {means['lfc']:.4g} < {c.early_stop_lfc} (the paper's convergence description"
                            f"{'; early_stop stops here' if c.early_stop else '; training goes on'})")
        return out

    def finish(self, stopped: str) -> dict:
        """Warn when the learned mapping is reverted (paper, failure case 1) or collapsed (a flat output)."""
        return check_after_training(self.deployable(), self.frames, minimum=self.minimum, maximum=self.maximum)

    # ------------------------------------------------------------------ one iteration (8 passes)
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

    def _clean_cycle(self, clean):
        return n2a_losses.cycle_loss(clean, self.ms2c(self.mc2s(clean, training=True), training=True))

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
                cycle = self._clean_cycle(clean)
                weighted = c.beta * cycle
            grads = tape.gradient(weighted, gen_vars)
            self.update_optimizers["cycle"].apply_gradients(zip(grads, gen_vars))
        else:  # released code: one update of the two-output cycle model, MAE 1:1
            with tf.GradientTape() as tape:
                lfc, anchor = self._noisy_cycle_terms(noisy)
                cycle = self._clean_cycle(clean)
                total = lfc + c.beta * cycle + c.sign_anchor_weight * anchor
            grads = tape.gradient(total, gen_vars)
            self.update_optimizers["cycle"].apply_gradients(zip(grads, gen_vars))
        self.iteration.assign_add(1)
        return cycle, lfc, anchor

    # ------------------------------------------------------------------ command line
    @classmethod
    def add_arguments(cls, parser) -> None:
        """No flags beyond the common ones: every option is ``--set KEY=VALUE`` (``models/noise2atom.json``)."""

    @classmethod
    def cli_options(cls, args) -> dict:
        return {}


METHOD = Noise2Atom
