"""Every hyper-parameter of an r_em training run; the defaults are ``models/r_em.json``'s paper values."""

from __future__ import annotations


import numpy as np

from tfstem.config import ConfigMixin, method_config
from tfstem.r_em.losses import LossWeights
from tfstem.synth.configs import MODALITIES

__all__ = ["R_EMConfig", "DTYPE_POLICIES"]


#: Keras dtype policies the trainer accepts.
DTYPE_POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")

_POSITIVE = ("channels", "features", "growth", "layers_per_rdb", "rdbs_per_grdb", "grdbs", "critic_features",
             "batch_size", "patch_size", "epochs", "steps_per_epoch", "keep_checkpoints")
_NON_NEGATIVE = ("warmup_steps", "checkpoint_every", "log_every", "image_every", "seed")


@method_config("r_em")
class R_EMConfig(ConfigMixin):
    """The options of ``tfstem train r_em`` (each option's source is in ``models/r_em.json``).

    Attributes
    ----------
    modality : str
        One of :data:`tfstem.synth.MODALITIES`: the synthetic pairs made when no data is given.
    channels, features, growth, layers_per_rdb, rdbs_per_grdb, grdbs : int
        Generator (:func:`tfstem.r_em.cgrdn.build_cgrdn`; authors 1, 64, 32, 8, 4, 4).
    std_floor : float
        Absolute std floor of the per-image standardisation (authors 0.1).
    pad_mode : str
        How the generator pads an odd H or W (authors: the image mean).
    gan : bool
        Train against the conditional relativistic patch critic (paper) or with pixel-wise losses only.
    critic_features : int
        Filters of the critic's first convolution (pix2pix 64).
    l1_weight, l2_weight, mlwt_weight, fourier_weight, mean_weight, std_weight : float
        lambdas of Eq. 14 (0 switches a term off).
    adversarial_weight : float
        lambda_Adv of Eq. 13 (used only with ``gan``).
    sigma_min, fourier_gamma : float
        Floor of Eq. 5 and gamma of Eq. 9.
    squared_l2_weight : bool
        ``w_y^2`` in the L2 loss (authors' code) instead of Eq. 6's ``w_y``.
    mlwt_window_weights : tuple of float or None
        Weights of the MLWT windows 2, 4, 8, 16 (None: 1/4 each, Eq. 8).
    label_smoothing : float
        The critic's real label (authors 0.95).
    instance_noise_probability : float
        Probability per step of instance noise on the critic's inputs (authors 0.5).
    instance_noise_range : tuple of float
        Range of r in the noise std ``r * max(Std y, 0.01)`` (authors 0.001 to 0.1).
    batch_size : int
        Global batch, split over every replica (paper 4).
    patch_size : int
        Side of the square training patches in pixels (paper 256); a multiple of 8.
    learning_rate, critic_learning_rate : float
        Initial Adam learning rates of generator and critic.
    beta_1, critic_beta_1, beta_2, epsilon : float
        Adam parameters.
    warmup_steps : int
        Steps of linear learning-rate warm-up.
    decay_rate, min_learning_rate_fraction : float
        The learning rate decays by ``decay_rate`` per epoch, down to ``min_learning_rate_fraction`` of its start.
    epochs, steps_per_epoch : int
        Length of a run (authors: 1000 epochs; an epoch is 1000 steps here).
    seed : int
        Weights, crops, synthetic pairs and instance noise.
    dtype_policy : str
        One of :data:`DTYPE_POLICIES`.
    jit_compile : bool
        XLA-compile the per-replica step (single replica only).
    checkpoint_every, log_every, image_every, keep_checkpoints : int
        Steps between extra checkpoints, TensorBoard scalars and image panels (0: off); checkpoints kept.
    """

    modality: str
    channels: int
    features: int
    growth: int
    layers_per_rdb: int
    rdbs_per_grdb: int
    grdbs: int
    std_floor: float
    pad_mode: str
    gan: bool
    critic_features: int
    l1_weight: float
    l2_weight: float
    mlwt_weight: float
    fourier_weight: float
    mean_weight: float
    std_weight: float
    adversarial_weight: float
    sigma_min: float
    fourier_gamma: float
    squared_l2_weight: bool
    mlwt_window_weights: tuple | None
    label_smoothing: float
    instance_noise_probability: float
    instance_noise_range: tuple
    batch_size: int
    patch_size: int
    learning_rate: float
    critic_learning_rate: float
    beta_1: float
    critic_beta_1: float
    beta_2: float
    epsilon: float
    warmup_steps: int
    decay_rate: float
    min_learning_rate_fraction: float
    epochs: int
    steps_per_epoch: int
    seed: int
    dtype_policy: str
    jit_compile: bool
    checkpoint_every: int
    log_every: int
    image_every: int
    keep_checkpoints: int

    def __post_init__(self):
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}; received modality={self.modality!r}.")
        for name in _POSITIVE:
            _check_integer(name, getattr(self, name), 1, "a positive")
        for name in _NON_NEGATIVE:
            _check_integer(name, getattr(self, name), 0, "a non-negative")
        if self.patch_size % 8:
            raise ValueError(f"patch_size must be a multiple of 8 (critic stride 8, CGRDN stride 2); received "
                             f"patch_size={self.patch_size}.")
        for name in ("learning_rate", "critic_learning_rate", "epsilon", "std_floor"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive; received {name}={getattr(self, name)!r}.")
        if not 0.0 <= self.instance_noise_probability <= 1.0:
            raise ValueError(f"instance_noise_probability must lie in [0, 1]; received "
                             f"instance_noise_probability={self.instance_noise_probability!r}.")
        if len(self.instance_noise_range) != 2 or not 0.0 <= self.instance_noise_range[0] <= self.instance_noise_range[1]:
            raise ValueError(f"instance_noise_range must be [low, high] with 0 <= low <= high; received "
                             f"instance_noise_range={list(self.instance_noise_range)}.")
        if not 0.5 < self.label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must lie in (0.5, 1] (authors 0.95); received "
                             f"label_smoothing={self.label_smoothing!r}.")
        if self.dtype_policy not in DTYPE_POLICIES:
            raise ValueError(f"dtype_policy must be one of {DTYPE_POLICIES}; received dtype_policy={self.dtype_policy!r}.")
        object.__setattr__(self, "instance_noise_range", tuple(float(v) for v in self.instance_noise_range))
        if self.mlwt_window_weights is not None:
            object.__setattr__(self, "mlwt_window_weights", tuple(float(v) for v in self.mlwt_window_weights))
        self.loss_weights  # noqa: B018  (validates the lambdas now, with LossWeights' messages)

    @property
    def loss_weights(self) -> LossWeights:
        """The lambdas of Eq. 13-14 and the loss options, as :func:`tfstem.r_em.losses.pixel_wise_losses` takes them."""
        return LossWeights(l1=self.l1_weight, l2=self.l2_weight, mlwt=self.mlwt_weight, fourier=self.fourier_weight,
                           mean=self.mean_weight, std=self.std_weight, adversarial=self.adversarial_weight,
                           sigma_min=self.sigma_min, gamma=self.fourier_gamma, squared_l2_weight=self.squared_l2_weight,
                           mlwt_window_weights=self.mlwt_window_weights)

    def generator_kwargs(self) -> dict:
        """Arguments of :func:`tfstem.r_em.cgrdn.build_cgrdn`."""
        return dict(channels=self.channels, features=self.features, growth=self.growth,
                    layers_per_rdb=self.layers_per_rdb, rdbs_per_grdb=self.rdbs_per_grdb, grdbs=self.grdbs,
                    std_floor=self.std_floor, pad_mode=self.pad_mode)


def _check_integer(name, value, low, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be {what} integer; received {name}={value!r}.")
