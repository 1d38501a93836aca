"""Conditional 70x70 patch critic of r_em (Lobato et al. 2023, "Discriminator architecture", Fig. 10).

The PatchGAN of Isola et al. (pix2pix, 2017) as the r_em paper modifies it: the zero-padding layers
are removed (every convolution uses "same" padding, so a 256x256 input gives a 32x32 map), batch
normalisation is replaced by instance normalisation, and the output is the raw (non-sigmoid) critic
value ``C`` that the relativistic average losses (Eq. 2-3, 12, 15) consume. The critic is conditional,
``D_cRap(x, y, y_g)`` of Eq. 15: it sees the distorted image ``x`` concatenated with the clean or
restored image along channels, as the authors' training code does.

Layers (C_k = conv 4x4, k filters; IN = instance normalisation; LReLU slope 0.2)::

    concat(x, y) -> C64 s2 -> LReLU -> C128 s2 -> IN -> LReLU -> C256 s2 -> IN -> LReLU
                 -> C512 s1 -> IN -> LReLU -> C1 s1 (linear)

Receptive field 70x70 pixels; output stride 8. Kernels N(0, 0.02) as pix2pix (the authors' "init
type 7, scale 0.02").

References
----------
P. Isola, J.-Y. Zhu, T. Zhou, A. A. Efros, "Image-to-image translation with conditional adversarial
networks", CVPR 2017. I. Lobato, T. Friedrich, S. Van Aert, npj Comput. Mater. (2023), arXiv:2303.17025.
"""

from __future__ import annotations

import keras
from keras import layers

__all__ = ["build_patch_critic", "PATCH_CRITIC_STRIDE"]

#: Ratio of input to output size (three stride-2 convolutions).
PATCH_CRITIC_STRIDE = 8


def build_patch_critic(
    *,
    channels: int = 1,
    features: int = 64,
    instance_norm_epsilon: float = 1e-3,
    leaky_slope: float = 0.2,
    name: str = "patch_critic",
) -> keras.Model:
    """Build the conditional patch critic.

    Parameters
    ----------
    channels : int
        Channels of each image (1 for the published models); the critic sees ``2 * channels``.
    features : int
        Filters of the first convolution (pix2pix: 64); later ones are 2x, 4x and 8x this.
    instance_norm_epsilon : float
        Epsilon of the instance normalisation (authors' normalisation layers: 1e-3).
    leaky_slope : float
        Negative slope of the LeakyReLU activations (pix2pix: 0.2).
    name : str
        Model name.

    Returns
    -------
    keras.Model
        Inputs ``distorted`` and ``image``: float32 ``[N, H, W, channels]`` in the training space
        (standardised with the distorted image's statistics, see :mod:`tfstem.r_em.losses`), H and W
        multiples of 8 for an exact ``H/8 x W/8`` map. Output: float32 ``[N, ceil(H/8), ceil(W/8), 1]``,
        raw critic values ``C`` (no sigmoid); 32x32 for 256x256 inputs.

    Examples
    --------
    >>> critic = build_patch_critic()
    >>> critic.output.shape
    (None, None, None, 1)
    """
    for label, value in dict(channels=channels, features=features).items():
        if int(value) != value or value < 1:
            raise ValueError(f"{label} must be a positive integer; received {label}={value!r}.")
    if instance_norm_epsilon <= 0:
        raise ValueError(f"instance_norm_epsilon must be positive; received {instance_norm_epsilon}.")

    def conv(filters, strides, label):
        return layers.Conv2D(
            filters, 4, strides=strides, padding="same",
            kernel_initializer=keras.initializers.RandomNormal(0.0, 0.02), name=label,
        )

    def instance_norm(label):
        # GroupNormalization with one group per channel is instance normalisation (per image and
        # channel over H, W) with a learned per-channel scale and offset.
        return layers.GroupNormalization(groups=-1, epsilon=instance_norm_epsilon, name=label)

    distorted = keras.Input(shape=(None, None, channels), name="distorted")
    image = keras.Input(shape=(None, None, channels), name="image")
    h = layers.Concatenate(axis=-1, name="condition_concat")([distorted, image])
    h = conv(features, 2, "conv_1")(h)
    h = layers.LeakyReLU(leaky_slope, name="act_1")(h)
    for i, (multiple, strides) in enumerate(((2, 2), (4, 2), (8, 1)), start=2):
        h = conv(features * multiple, strides, f"conv_{i}")(h)
        h = instance_norm(f"instance_norm_{i}")(h)
        h = layers.LeakyReLU(leaky_slope, name=f"act_{i}")(h)
    logits = conv(1, 1, "critic_logits")(h)
    return keras.Model([distorted, image], logits, name=name)
