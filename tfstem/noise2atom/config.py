"""The Noise2Atom config: one frozen dataclass whose defaults are the paper's numbers in ``models/noise2atom.json``."""

from __future__ import annotations


import numpy as np

from tfstem.config import ConfigMixin, method_config
from tfstem.noise2atom.lowpass import LOWPASS_KERNELS
from tfstem.noise2atom.wgan_critic import CRITIC_GRIDS
from tfstem.noise2atom.xception_unet import NORMALIZATIONS

__all__ = ["Noise2AtomConfig"]



@method_config("noise2atom")
class Noise2AtomConfig(ConfigMixin):
    """Every hyperparameter of Noise2Atom; the defaults are the paper's, read from ``models/noise2atom.json``
    (``options``: each value with its source), so ``Noise2AtomConfig()`` is the ``paper`` preset.

    Attributes
    ----------
    features, num_residual_blocks, full_resolution_kernels, low_resolution_kernels, normalization
        Generator (section "Network Architectures"; widths from the released code): 64, 16, (1, 3, 5, 7),
        (3, 5), "instance" (paper) or "released".
    critic_filters, critic_dropout, critic_grid
        Critic: (64, 64, 128, 128), 0.25, "even" (released code, the paper is silent: every module on the even
        grid, nearly blind to the bottom/right border) or "alternating" (tfstem option, not in the paper: stride-2
        grids even/odd/even/odd, symmetric; the ``cpu`` preset's; see
        :func:`~tfstem.noise2atom.wgan_critic.build_wgan_critic`).
    lowpass_size, lowpass_sigma, lowpass_kernel, lowpass_padding
        Ms2b: 33, 15, "paper" | "code_intent", "valid" (paper) | "same" (released).
    gp_weight, alpha, beta, gp_interpolation
        lambda = 10 (Eq. 1), alpha = 5, beta = 1 (Eq. 8), "per_pixel" (Eq. 4: u is a tensor multiplied
        elementwise, as the released code draws it) | "per_sample" (standard WGAN-GP; the ``cpu`` preset's).
    critic_steps, cycle_updates
        5 critic updates per batch; "separate" (paper: steps 3 and 4 apart) | "joint" (released: one
        update on L_lfc + L_cycle).
    generator_optimizers
        "shared" (released code: one RMSprop, i.e. one set of RMS and momentum accumulators, for the
        adversarial, low-frequency and cycle updates of the generators) | "per_update" (one RMSprop per
        sub-model update of the schedule, as separately compiled Keras sub-models would have; the paper is
        silent). Shared, the adversarial gradients set the RMS scale, and the L_lfc gradients, 65x-197x smaller
        on Ms2c (cpu networks, 128 px crops, iterations 0 and 29 of the paper's schedule on the example series;
        ``benchmarks/noise2atom_gradient_scale.py``), take that much smaller steps.
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
        5e-5, 0.9, 0.0: the paper's "momentum of 0.9" read as RMSprop's rho, as in the released code's
        RMSprop(lr=5e-5) (rho 0.9, no momentum); ``rmsprop_momentum=0.9`` is the literal reading (heavy ball on
        top of rho), kept by the ``cpu`` preset.
    adversarial_learning_rate
        None: ``learning_rate``. With ``generator_optimizers="per_update"`` each update's RMSprop divides its
        gradient by its own RMS, so alpha (Eq. 8) no longer weighs the adversarial update against the cycle
        ones; its own learning rate is then the weight that remains. Needs "per_update".
    batch_size, patch_size, training_frames, epochs, steps_per_epoch
        6 (released: 3), 128, 120, 100; ``steps_per_epoch=None`` = enough batches to cover every
        128x128 tile of the sampled frames once.
    patch_sampling
        "random" (independent frame and window per crop) | "consecutive" (released: one window cut from
        ``batch_size`` consecutive frames).
    early_stop, early_stop_cycle, early_stop_lfc
        False, 0.05, 0.1. The paper's "usually takes 100 epochs ... when L_cycle < 0.05 and L_lfc < 0.1"
        describes convergence; the first epoch whose means meet both thresholds is logged as a ``converged``
        event (``history["events"]``) and training goes on. ``early_stop=True`` (tfstem option) stops there.
        A threshold of ``None``: no event (and no stop).
    site_pitch, integer_variance
        Clean-domain simulator readings, see :mod:`tfstem.noise2atom.clean_domain`.
    seed
        Seeds weights, crops, clean images and penalty interpolation.
    """

    features: int
    num_residual_blocks: int
    full_resolution_kernels: tuple
    low_resolution_kernels: tuple
    normalization: str
    critic_filters: tuple
    critic_dropout: float
    critic_grid: str
    lowpass_size: int
    lowpass_sigma: float
    lowpass_kernel: str
    lowpass_padding: str
    gp_weight: float
    alpha: float
    beta: float
    gp_interpolation: str
    critic_steps: int
    cycle_updates: str
    generator_optimizers: str
    adversarial_warmup: int
    warmup_critic: bool
    sign_anchor_weight: float
    sign_anchor_margin: float
    learning_rate: float
    adversarial_learning_rate: float | None
    rmsprop_rho: float
    rmsprop_momentum: float
    batch_size: int
    patch_size: int
    training_frames: int
    epochs: int
    steps_per_epoch: int | None
    patch_sampling: str
    early_stop: bool
    early_stop_cycle: float | None
    early_stop_lfc: float | None
    site_pitch: int
    integer_variance: bool
    seed: int

    def __post_init__(self):
        for name in ("full_resolution_kernels", "low_resolution_kernels", "critic_filters"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        choices = {
            "normalization": NORMALIZATIONS, "lowpass_kernel": LOWPASS_KERNELS, "lowpass_padding": ("valid", "same"),
            "gp_interpolation": ("per_sample", "per_pixel"), "cycle_updates": ("separate", "joint"),
            "patch_sampling": ("random", "consecutive"), "critic_grid": CRITIC_GRIDS,
            "generator_optimizers": ("shared", "per_update"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}; received {name}={getattr(self, name)!r}.")
        positive = ("features", "critic_steps", "batch_size", "patch_size", "training_frames", "epochs")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer; received {name}={getattr(self, name)}.")
        for name in ("warmup_critic", "integer_variance", "early_stop"):
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
        if self.patch_size % 16:
            raise ValueError(f"patch_size must be a multiple of 16 (critic: 4 halvings); received {self.patch_size}.")
        if self.lowpass_padding == "valid" and self.patch_size <= self.lowpass_size:
            raise ValueError(f"patch_size must exceed lowpass_size={self.lowpass_size} with valid padding; "
                             f"received patch_size={self.patch_size}.")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive; received {self.learning_rate}.")
        if self.adversarial_learning_rate is not None:
            if not self.adversarial_learning_rate > 0:
                raise ValueError("adversarial_learning_rate must be positive or None; "
                                 f"received {self.adversarial_learning_rate}.")
            if self.generator_optimizers != "per_update":
                raise ValueError("adversarial_learning_rate needs generator_optimizers='per_update' (with one shared "
                                 "optimizer the adversarial and cycle updates cannot have different rates).")
        if self.early_stop and (self.early_stop_cycle is None or self.early_stop_lfc is None):
            raise ValueError("early_stop=true needs both thresholds (early_stop_cycle, early_stop_lfc); received "
                             f"early_stop_cycle={self.early_stop_cycle}, early_stop_lfc={self.early_stop_lfc}.")
        if self.steps_per_epoch is not None and int(self.steps_per_epoch) < 1:
            raise ValueError(f"steps_per_epoch must be positive or None; received {self.steps_per_epoch}.")
