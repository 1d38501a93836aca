"""Noise2Atom generators Ms2c and Mc2s: a depth-3 U-Net with inception-style "Xception" modules.

Wang, Henninen, Keller, Erni, "Noise2Atom: unsupervised denoising for scanning transmission electron
microscopy images", Appl. Microsc. 50:23 (2020), section "Network Architectures": two identical U-Nets of
depth 3 with Xception modules (kernel sizes {1, 3, 5, 7}), 16 deep residual blocks, instance
normalisation followed by leaky ReLU, tanh at the last layer; upsampling by a 4x4 stride-2 transposed
convolution followed by a 3x3 convolution; downsampling by a 3x3 transposed convolution followed by a
3x3 stride-2 convolution; **no zero padding** anywhere.

Where the paper is silent the structure of the authors' released code (fengwang/Noise2Atom,
``code/models.py``) is followed: the "Xception" module is a set of parallel branches (one per kernel
size, channels split evenly, concatenated), kernels {1, 3, 5, 7} at full resolution and {3, 5} below,
three strided downsamplings (128 -> 64 -> 32 -> 16), a 3*base-channel trunk of one block plus 16
residual blocks, additive skip connections, and a 9x9 output pair (8 channels, then 1 with tanh).

Size bookkeeping without padding
--------------------------------
Every convolution is "valid". A *block* of kernel k is ``Conv2DTranspose(k, stride 1, valid)`` (N -> N + k - 1)
followed by ``Conv2D(k, stride 1, valid)`` (N + k - 1 -> N): the size is preserved although nothing is
padded (the border sees a different receptive field than with ``padding="same"``). The down module gives
``N -> N + 2 -> floor((N + 2 - 3) / 2) + 1 = ceil(N / 2)``; the up module gives ``N -> 2N + 2 -> 2N``.
An input of H, W multiples of 8 therefore comes back with exactly its own H, W and the additive skips
line up; :func:`build_denoiser` wraps the generator with
:class:`~tfstem.layers.PadToMultiple` / :class:`~tfstem.layers.CropToReference` for any size.

Normalisation
-------------
``normalization="instance"`` (default, the paper: Ulyanov et al. 2016): per sample *and channel* over H, W,
per-channel gamma and beta, ``(x - mean) / sqrt(var + eps)``. ``normalization="released"`` (the released
code's keras-contrib ``InstanceNormalization(axis=None)``): per sample over H, W **and** C jointly, one
scalar gamma and beta, ``(x - mean) / (std + eps)`` with eps = 1e-3. As in the released code there is no
normalisation after the first block and after the last 9x9 convolution.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from tfstem.layers import CropToReference, PadToMultiple

__all__ = [
    "GENERATOR_SIZE_MULTIPLE",
    "Noise2AtomNormalization",
    "MinMaxToSymmetric",
    "TanhToUnit",
    "build_xception_unet",
    "build_denoiser",
]

GENERATOR_SIZE_MULTIPLE = 8  # three stride-2 downsamplings with additive skips
NORMALIZATIONS = ("instance", "released", "none")


@keras.saving.register_keras_serializable(package="tfstem")
class Noise2AtomNormalization(keras.layers.Layer):
    """Instance normalisation in the paper's or in the released code's reading.

    Parameters
    ----------
    mode : {"instance", "released"}
        ``"instance"``: statistics per sample and channel over (H, W), per-channel affine,
        ``(x - mean) / sqrt(var + epsilon)`` (Ulyanov et al. 2016, cited by the paper).
        ``"released"``: statistics per sample over (H, W, C) jointly, scalar affine,
        ``(x - mean) / (std + epsilon)`` (keras-contrib ``InstanceNormalization(axis=None)``).
    epsilon : float
        1e-3 as in keras-contrib.

    Input and output: ``float32 [N, H, W, C]``.
    """

    def __init__(self, mode: str = "instance", epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("instance", "released"):
            raise ValueError(f"mode must be 'instance' or 'released'; received mode={mode!r}.")
        self.mode = mode
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        shape = (input_shape[-1],) if self.mode == "instance" else (1,)
        self.gamma = self.add_weight(name="gamma", shape=shape, initializer="ones")
        self.beta = self.add_weight(name="beta", shape=shape, initializer="zeros")

    def call(self, x):
        if self.mode == "instance":
            mean = ops.mean(x, axis=(1, 2), keepdims=True)
            var = ops.var(x, axis=(1, 2), keepdims=True)
            x_n = (x - mean) / ops.sqrt(var + self.epsilon)
        else:
            mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)
            std = ops.std(x, axis=(1, 2, 3), keepdims=True)
            x_n = (x - mean) / (std + self.epsilon)
        return x_n * self.gamma + self.beta

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="tfstem")
class MinMaxToSymmetric(keras.layers.Layer):
    """Map raw intensities to [-1, 1] with a stack minimum and maximum recorded at training time.

    ``y = 2 (x - minimum) / (maximum - minimum) - 1`` (the released code's whole-stack min-max
    normalisation followed by ``2x - 1``). Input and output ``float32 [N, H, W, C]``.
    """

    def __init__(self, minimum: float = 0.0, maximum: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if not float(maximum) > float(minimum):
            raise ValueError(f"maximum must exceed minimum; received minimum={minimum}, maximum={maximum}.")
        self.minimum = float(minimum)
        self.maximum = float(maximum)

    def call(self, x):
        return 2.0 * (ops.cast(x, "float32") - self.minimum) / (self.maximum - self.minimum) - 1.0

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "minimum": self.minimum, "maximum": self.maximum}


@keras.saving.register_keras_serializable(package="tfstem")
class TanhToUnit(keras.layers.Layer):
    """Map a tanh output in [-1, 1] back to the clean domain [0, 1]: ``(y + 1) / 2``."""

    def call(self, y):
        return (y + 1.0) * 0.5

    def compute_output_shape(self, input_shape):
        return input_shape


def _norm(normalization, name):
    if normalization == "none":
        return None
    return Noise2AtomNormalization(mode=normalization, name=name)


def _block(x, filters, kernel, normalization, name, *, normalize=True):
    """Size-preserving pair convT(k, s1, valid) -> [norm] -> LReLU -> conv(k, s1, valid) -> [norm] -> LReLU."""
    x = layers.Conv2DTranspose(filters, kernel, padding="valid", name=f"{name}_convT")(x)
    if normalize and normalization != "none":
        x = _norm(normalization, f"{name}_norm1")(x)
    x = layers.LeakyReLU(negative_slope=0.2, name=f"{name}_lrelu1")(x)
    x = layers.Conv2D(filters, kernel, padding="valid", name=f"{name}_conv")(x)
    if normalize and normalization != "none":
        x = _norm(normalization, f"{name}_norm2")(x)
    return layers.LeakyReLU(negative_slope=0.2, name=f"{name}_lrelu2")(x)


def _xception(x, filters, kernels, normalization, name):
    """Inception-style module: one block per kernel size with ``filters // len(kernels)`` channels, concatenated."""
    if filters % len(kernels):
        raise ValueError(
            f"filters must be divisible by the number of kernel sizes {kernels}; received filters={filters}."
        )
    branches = [_block(x, filters // len(kernels), k, normalization, f"{name}_k{k}") for k in kernels]
    return layers.Concatenate(name=f"{name}_concat")(branches)


DOWNSAMPLING_GRIDS = ("even", "odd")


def down_module(x, filters, normalization, name, *, normalize=True, grid="even"):
    """Paper's downsampling: convT(3x3, s1, valid) -> norm -> LReLU -> conv(3x3, s2, valid) -> norm -> LReLU.

    N -> ceil(N / 2) without padding.

    ``grid`` picks which rows (and columns) of the input the stride-2 windows are centred on. The
    transposed convolution gives N + 2 rows (input rows -1 .. N); a 3x3 stride-2 valid convolution over
    them can only use N + 1 of these, so one border is favoured. ``"even"`` (the released code) centres
    the windows on input rows 0, 2, ..., N - 2 and never uses the last expanded row: the top/left border
    is a window centre, the bottom/right one only an edge tap. ``"odd"`` first drops the first expanded
    row (a crop, no padding) and centres the windows on rows 1, 3, ..., N - 1, the mirror image. Chained
    "even" modules compound the bias (in a fresh paper-width critic of four of them the input gradient on
    the last row is about a quarter of that on the first, ``benchmarks/noise2atom_critic_border.py``);
    alternating the two keeps a stack nearly symmetric. Output size: ceil(N / 2) for both
    when N is even.
    """
    if grid not in DOWNSAMPLING_GRIDS:
        raise ValueError(f"grid must be one of {DOWNSAMPLING_GRIDS}; received grid={grid!r}.")
    x = layers.Conv2DTranspose(filters, 3, padding="valid", name=f"{name}_convT")(x)
    if normalize and normalization != "none":
        x = _norm(normalization, f"{name}_norm1")(x)
    x = layers.LeakyReLU(negative_slope=0.2, name=f"{name}_lrelu1")(x)
    if grid == "odd":
        x = layers.Cropping2D(((1, 0), (1, 0)), name=f"{name}_odd_grid")(x)
    x = layers.Conv2D(filters, 3, strides=2, padding="valid", name=f"{name}_conv")(x)
    if normalize and normalization != "none":
        x = _norm(normalization, f"{name}_norm2")(x)
    return layers.LeakyReLU(negative_slope=0.2, name=f"{name}_lrelu2")(x)


def _up_module(x, filters, normalization, name):
    """Paper's upsampling: convT(4x4, s2, valid) (N -> 2N + 2) -> norm -> LReLU -> conv(3x3, valid) (-> 2N)."""
    x = layers.Conv2DTranspose(filters, 4, strides=2, padding="valid", name=f"{name}_convT")(x)
    if normalization != "none":
        x = _norm(normalization, f"{name}_norm1")(x)
    x = layers.LeakyReLU(negative_slope=0.2, name=f"{name}_lrelu1")(x)
    x = layers.Conv2D(filters, 3, padding="valid", name=f"{name}_conv")(x)
    if normalization != "none":
        x = _norm(normalization, f"{name}_norm2")(x)
    return layers.LeakyReLU(negative_slope=0.2, name=f"{name}_lrelu2")(x)


def build_xception_unet(
    *,
    features: int = 64,
    num_residual_blocks: int = 16,
    full_resolution_kernels: tuple = (1, 3, 5, 7),
    low_resolution_kernels: tuple = (3, 5),
    normalization: str = "instance",
    output_filters: int = 8,
    output_kernel: int = 9,
    name: str = "xception_unet",
) -> keras.Model:
    """Build one Noise2Atom generator (Ms2c or Mc2s) working on [-1, 1] images.

    Parameters
    ----------
    features : int
        Channels of the three upper levels (64 in the released code); the 1/8 level has
        ``2 * features`` and the residual trunk ``3 * features`` (128 and 192). Must be divisible
        by ``len(full_resolution_kernels)`` and ``len(low_resolution_kernels)``.
    num_residual_blocks : int
        Residual blocks ``x <- x + block(x)`` in the trunk after its first block (paper: 16).
    full_resolution_kernels, low_resolution_kernels : tuple of int
        Kernel sizes of the "Xception" branches (paper {1, 3, 5, 7}; released code {3, 5} below full
        resolution).
    normalization : {"instance", "released", "none"}
        See :class:`Noise2AtomNormalization`.
    output_filters, output_kernel : int
        The output pair convT(9x9, 8) -> norm -> LReLU -> conv(9x9, 1, tanh) of the released code.
    name : str
        Model name (``"ms2c"``, ``"mc2s"``).

    Returns
    -------
    keras.Model
        Input ``float32 [N, H, W, 1]`` in [-1, 1] with H, W multiples of 8; output ``float32 [N, H, W, 1]``
        in (-1, 1) (tanh). Paper settings: about 13.8 M parameters.

    Raises
    ------
    ValueError
        On a width not divisible by the number of branches, a negative block count or an unknown
        normalisation.

    References
    ----------
    Wang et al., Appl. Microsc. 50:23 (2020), section "Network Architectures".
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}; received normalization={normalization!r}.")
    if int(num_residual_blocks) < 0:
        raise ValueError(f"num_residual_blocks must be >= 0; received num_residual_blocks={num_residual_blocks}.")
    if int(features) < 1:
        raise ValueError(f"features must be positive; received features={features}.")
    f1, f2, f3 = int(features), 2 * int(features), 3 * int(features)
    full_k, low_k = tuple(full_resolution_kernels), tuple(low_resolution_kernels)

    inputs = keras.Input(shape=(None, None, 1), name="image")
    # Encoder (the first block has no normalisation, as released).
    e1 = _block(inputs, f1, 3, normalization, "enc1_block", normalize=False)
    e1 = _xception(e1, f1, full_k, normalization, "enc1_xception")
    e2 = down_module(e1, f1, normalization, "enc2_down")
    e2 = _block(e2, f1, 3, normalization, "enc2_block")
    e2 = _xception(e2, f1, low_k, normalization, "enc2_xception")
    e3 = down_module(e2, f1, normalization, "enc3_down")
    e3 = _block(e3, f1, 3, normalization, "enc3_block")
    e3 = _xception(e3, f1, low_k, normalization, "enc3_xception")
    e4 = down_module(e3, f2, normalization, "enc4_down")
    e4 = _block(e4, f2, 3, normalization, "enc4_block")
    e4 = _xception(e4, f2, low_k, normalization, "enc4_xception")
    # Residual trunk at 1/8 resolution.
    t = _block(e4, f3, 3, normalization, "trunk_block")
    for i in range(int(num_residual_blocks)):
        t = layers.Add(name=f"trunk_res{i + 1:02d}_add")([t, _block(t, f3, 3, normalization, f"trunk_res{i + 1:02d}")])
    # Decoder with additive skips.
    d = _up_module(t, f1, normalization, "dec3_up")
    d = _block(layers.Add(name="dec3_skip")([e3, d]), f1, 3, normalization, "dec3_block")
    d = _xception(d, f1, low_k, normalization, "dec3_xception")
    d = _up_module(d, f1, normalization, "dec2_up")
    d = _block(layers.Add(name="dec2_skip")([e2, d]), f1, 3, normalization, "dec2_block")
    d = _xception(d, f1, low_k, normalization, "dec2_xception")
    d = _up_module(d, f1, normalization, "dec1_up")
    d = _block(layers.Add(name="dec1_skip")([e1, d]), f1, 3, normalization, "dec1_block")
    d = _xception(d, f1, full_k, normalization, "dec1_xception")
    # Output pair: convT 9x9 -> norm -> LReLU -> conv 9x9 -> tanh (no normalisation on the last layer).
    y = layers.Conv2DTranspose(int(output_filters), int(output_kernel), padding="valid", name="out_convT")(d)
    if normalization != "none":
        y = _norm(normalization, "out_norm")(y)
    y = layers.LeakyReLU(negative_slope=0.2, name="out_lrelu")(y)
    y = layers.Conv2D(1, int(output_kernel), padding="valid", activation="tanh", name="out_conv")(y)
    return keras.Model(inputs, y, name=name)


def build_denoiser(generator: keras.Model, *, minimum: float, maximum: float, pad_mode: str = "reflect",
                   name: str = "noise2atom") -> keras.Model:
    """Wrap a trained Ms2c for raw intensities of any size (the tfstem MODEL CONTRACT).

    Graph: ``image`` (raw) -> :class:`MinMaxToSymmetric` (training-stack min/max) ->
    :class:`~tfstem.layers.PadToMultiple` (8) -> ``generator`` -> :class:`~tfstem.layers.CropToReference`
    -> :class:`TanhToUnit`.

    Parameters
    ----------
    generator : keras.Model
        Ms2c from :func:`build_xception_unet`.
    minimum, maximum : float
        Raw-intensity minimum and maximum of the training stack (its [-1, 1] mapping).
    pad_mode : str
        Padding mode of :class:`~tfstem.layers.PadToMultiple`.

    Returns
    -------
    keras.Model
        Input ``image`` ``float32 [N, H, W, 1]`` raw intensities, any H, W; output ``float32 [N, H, W, 1]``
        in [0, 1] (the clean atomic domain C).
    """
    image = keras.Input(shape=(None, None, 1), name="image")
    x = MinMaxToSymmetric(minimum, maximum, name="to_symmetric")(image)
    x = PadToMultiple(GENERATOR_SIZE_MULTIPLE, pad_mode, name="pad")(x)
    y = generator(x)
    y = CropToReference(name="crop")([y, image])
    y = TanhToUnit(name="denoised")(y)
    return keras.Model(image, y, name=name)
