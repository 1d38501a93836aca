"""The dual-channel Noise2Void U-Net for STEM (Thornley et al., npj Comput. Mater. 2025).

Two builders:

* :func:`build_n2v_unet_core` — the U-Net itself, on *normalised* images whose side is a multiple of
  ``2**depth`` (what the trainer optimises);
* :func:`build_n2v_unet` — the deployable model of the MODEL CONTRACT: raw intensities
  ``float32 [N, H, W, C]`` of any H and W in, the same shape out; per-frame, per-channel
  normalisation by mean and 5·std, padding to the stride and cropping back live inside the graph.

Architecture (paper, "Modification to network architecture" and "Methods"; details the paper leaves
open follow the first author's public successor code, ``wilot/tem-noise2void-denoising``, Aug 2025):

* depth 4, 64 features at the first level, doubling per level (64, 128, 256, 512, bottleneck 1024);
* first block: two 5x5 convolutions, no pooling; every other convolution 3x3, ``padding="same"``;
* downsampling: 2x2 average pooling (the paper's "AvgBlurPool" is a bilinear x0.5 resize, which for
  an even side with half-pixel centres is exactly the 2x2 mean);
* upsampling: bilinear x2 resize followed by the block's 3x3 convolutions — no transposed
  convolution, which the paper replaced to remove chequerboard artefacts (its Fig. 2b/c);
* skip connections (channel concatenation) at every level, including the outermost one (the paper
  tested removing it, as N2V2 does, and found it worse);
* leaky ReLU (negative slope 0.01, PyTorch's default that the successor code uses) after every
  convolution; no normalisation layers (the paper's version; ``group_norm_groups`` adds them);
* linear 1x1 convolution head with as many outputs as inputs (1 mono, 2 for ADF + BF).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from tfstem.layers import CropToReference, Destandardize, PadToMultiple, StandardizePerImage

__all__ = ["BilinearUpsampling2D", "build_n2v_unet", "build_n2v_unet_core", "size_multiple"]

N2V_STD_MULTIPLIER = 5.0  # successor code: each frame and channel divided by 5 x std (anchors 3b)
N2V_STD_FLOOR = 1e-6  # only guards constant frames; the paper has no floor


@keras.saving.register_keras_serializable(package="tfstem")
class BilinearUpsampling2D(keras.layers.Layer):
    """Bilinear upsampling by an integer ``factor`` for inputs of unknown height and width.

    Half-pixel centres (``tf.image.resize``), i.e. PyTorch's ``align_corners=False`` that the
    successor code uses. Keras' ``UpSampling2D(interpolation="bilinear")`` needs static H and W,
    which the any-size MODEL CONTRACT does not give.

    Input: ``float32 [N, H, W, C]``. Output: ``[N, factor·H, factor·W, C]``.
    """

    def __init__(self, factor: int = 2, **kwargs):
        super().__init__(**kwargs)
        if int(factor) < 1:
            raise ValueError(f"factor must be a positive integer; received factor={factor}.")
        self.factor = int(factor)

    def call(self, x):
        shape = tf.shape(x)
        size = tf.stack([shape[1] * self.factor, shape[2] * self.factor])
        return tf.cast(tf.image.resize(x, size, method="bilinear"), x.dtype)

    def compute_output_shape(self, input_shape):
        scaled = [None if d is None else d * self.factor for d in input_shape[1:3]]
        return (input_shape[0], *scaled, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def size_multiple(depth: int) -> int:
    """Spatial size multiple the U-Net of ``depth`` poolings needs: ``2**depth``."""
    return 2 ** int(depth)


def _check(channels, depth, features, first_kernel_size, kernel_size, group_norm_groups):
    if int(channels) < 1:
        raise ValueError(f"channels must be >= 1 (1 mono, 2 for ADF + BF); received channels={channels}.")
    if not 1 <= int(depth) <= 6:
        raise ValueError(f"depth must be between 1 and 6 (the paper uses 4); received depth={depth}.")
    if int(features) < 1:
        raise ValueError(f"features must be a positive integer (the paper uses 64); received features={features}.")
    for name, value in (("first_kernel_size", first_kernel_size), ("kernel_size", kernel_size)):
        if int(value) < 1 or int(value) % 2 == 0:
            raise ValueError(f"{name} must be a positive odd integer; received {name}={value}.")
    if group_norm_groups is not None:
        if int(group_norm_groups) < 1 or int(features) % int(group_norm_groups):
            raise ValueError(
                "group_norm_groups must divide features; received "
                f"group_norm_groups={group_norm_groups}, features={features}."
            )


def _conv_block(x, filters, kernel_size, negative_slope, group_norm_groups, name):
    """Two ``conv -> [GroupNorm] -> LeakyReLU`` units with the same width."""
    for i in (1, 2):
        x = layers.Conv2D(filters, kernel_size, padding="same", name=f"{name}_conv{i}")(x)
        if group_norm_groups is not None:
            x = layers.GroupNormalization(group_norm_groups, name=f"{name}_norm{i}")(x)
        x = layers.LeakyReLU(negative_slope=negative_slope, name=f"{name}_lrelu{i}")(x)
    return x


def build_n2v_unet_core(
    *,
    channels: int = 2,
    depth: int = 4,
    features: int = 64,
    first_kernel_size: int = 5,
    kernel_size: int = 3,
    negative_slope: float = 0.01,
    group_norm_groups: int | None = None,
    name: str = "n2v_unet_core",
) -> keras.Model:
    """The U-Net on normalised images whose height and width are multiples of ``2**depth``.

    Parameters
    ----------
    channels : int
        Input and output channels: 2 for simultaneous ADF + BF frames (the paper), 1 for mono.
    depth : int
        Number of 2x2 average poolings (paper, Methods: 4).
    features : int
        Feature channels of the first level, doubled at each level (paper, Methods: 64).
    first_kernel_size : int
        Kernel of the two first-level convolutions (paper, "Modification to network architecture": 5).
    kernel_size : int
        Kernel of every other convolution (paper: 3).
    negative_slope : float
        Leaky-ReLU slope for negative inputs (paper silent; successor code: PyTorch default 0.01).
    group_norm_groups : int, optional
        Add ``GroupNormalization(groups)`` after every convolution (the successor code's later
        versions use 8); None (default) is the paper's network without normalisation layers.
    name : str
        Model name.

    Returns
    -------
    keras.Model
        Input ``float32 [N, H, W, channels]`` (H, W multiples of ``2**depth``), output of the same
        shape, linear (no activation on the 1x1 head).
    """
    _check(channels, depth, features, first_kernel_size, kernel_size, group_norm_groups)
    inputs = keras.Input(shape=(None, None, int(channels)), name="normalised")
    skips = []
    x = _conv_block(inputs, features, first_kernel_size, negative_slope, group_norm_groups, "enc0")
    for level in range(1, depth + 1):
        skips.append(x)
        # AvgBlurPool: bilinear x0.5 with half-pixel centres == exact 2x2 mean on even sides.
        x = layers.AveragePooling2D(pool_size=2, name=f"enc{level}_pool")(x)
        tag = "bottleneck" if level == depth else f"enc{level}"
        x = _conv_block(x, features * 2**level, kernel_size, negative_slope, group_norm_groups, tag)
    for level in range(depth - 1, -1, -1):
        # Resize + convolution instead of a transposed convolution (no chequerboard; paper Fig. 2).
        x = BilinearUpsampling2D(2, name=f"dec{level}_upsample")(x)
        x = layers.Concatenate(axis=-1, name=f"dec{level}_concat")([x, skips[level]])
        x = _conv_block(x, features * 2**level, kernel_size, negative_slope, group_norm_groups, f"dec{level}")
    outputs = layers.Conv2D(int(channels), 1, padding="same", activation=None, name="head")(x)
    return keras.Model(inputs, outputs, name=name)


def build_n2v_unet(
    *,
    channels: int = 2,
    depth: int = 4,
    features: int = 64,
    first_kernel_size: int = 5,
    kernel_size: int = 3,
    negative_slope: float = 0.01,
    group_norm_groups: int | None = None,
    std_multiplier: float = N2V_STD_MULTIPLIER,
    std_floor: float = N2V_STD_FLOOR,
    pad_mode: str = "reflect",
    core: keras.Model | None = None,
    name: str = "n2v_unet",
) -> keras.Model:
    """The deployable dual-channel N2V model: raw frames in, denoised frames out (the MODEL CONTRACT).

    ``image -> StandardizePerImage(mean, 5·std) -> PadToMultiple(2**depth) -> U-Net core ->
    CropToReference -> Destandardize``.

    Parameters
    ----------
    channels, depth, features, first_kernel_size, kernel_size, negative_slope, group_norm_groups
        See :func:`build_n2v_unet_core`; ignored when ``core`` is given (read from it).
    std_multiplier : float
        Each frame and channel is divided by ``std_multiplier * std`` after subtracting its mean
        (successor code: 5).
    std_floor : float
        Lower bound of that scale, in the input's units (guards constant frames).
    pad_mode : {"reflect", "symmetric", "mean", "zero"}
        How frames are padded to a multiple of ``2**depth`` before the U-Net (cropped back after).
    core : keras.Model, optional
        A trained core from :func:`build_n2v_unet_core` to wrap (shares its weights).
    name : str
        Model name.

    Returns
    -------
    keras.Model
        Input ``image``: ``float32 [N, H, W, channels]`` raw intensities, any H and W. Output
        ``denoised``: same shape and units.

    Examples
    --------
    >>> model = build_n2v_unet(channels=2, features=8, depth=2)
    >>> model.output_shape
    (None, None, None, 2)
    """
    if core is None:
        core = build_n2v_unet_core(
            channels=channels, depth=depth, features=features, first_kernel_size=first_kernel_size,
            kernel_size=kernel_size, negative_slope=negative_slope, group_norm_groups=group_norm_groups,
        )
        multiple = size_multiple(depth)
    else:
        channels = int(core.input_shape[-1])
        multiple = size_multiple(sum(1 for layer in core.layers if isinstance(layer, layers.AveragePooling2D)))
    image = keras.Input(shape=(None, None, int(channels)), name="image")
    normalised, mean, scale = StandardizePerImage(
        std_floor=std_floor, std_multiplier=std_multiplier, name="standardize"
    )(image)
    padded = PadToMultiple(multiple=multiple, mode=pad_mode, name="pad")(normalised)
    restored = core(padded)
    cropped = CropToReference(name="crop")([restored, normalised])
    denoised = Destandardize(name="denoised")([cropped, mean, scale])
    return keras.Model(image, denoised, name=name)
