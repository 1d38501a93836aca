"""CGRDN, the r_em generator (Lobato, Friedrich & Van Aert 2023, "Generator architecture", Fig. 9).

Concatenated Grouped Residual Dense Network: a 3x3 convolution and a 4x4 stride-2 convolution take the
image to half resolution; ``grdbs`` grouped residual dense blocks (GRDB) of ``rdbs_per_grdb`` residual
dense blocks (RDB) of ``layers_per_rdb`` densely connected 3x3 ReLU convolutions (growth ``growth``)
run there; at every level the block outputs are concatenated, fused by a 1x1 convolution and added to
the level's input (local, semi-global and global residuals); a 4x4 stride-2 transposed convolution and a
3x3 convolution return to full resolution and the result is added to the standardised input.

The graph is layer for layer the one of the authors' published SavedModels (``tk-r-em`` 1.0.4,
``keras_metadata.pb`` of all six models): same layer order, same initialisers, and the same input
standardisation (``lay_r_em_pp``: per image and channel mean and std over H, W, std floored at an
absolute 0.1) and de-standardisation with the input's statistics (``lay_r_em_out``). With the defaults
the network has exactly 7,035,521 parameters, and the authors' weights load into it by layer order
(:func:`tfstem.r_em.load_r_em_weights`).

References
----------
I. Lobato, T. Friedrich, S. Van Aert, "Deep convolutional neural networks to restore single-shot
electron microscopy images", npj Comput. Mater. (2023), arXiv:2303.17025.
"""

from __future__ import annotations

import keras
from keras import layers

from tfstem.layers import CropToReference, Destandardize, PadToMultiple, StandardizePerImage

__all__ = ["build_cgrdn", "CGRDN_DEFAULTS"]

#: The authors' published configuration (``modv % 10 == 9`` in their training code; the six shipped models).
CGRDN_DEFAULTS = dict(features=64, growth=32, layers_per_rdb=8, rdbs_per_grdb=4, grdbs=4)


def _initializer():
    # The shipped models use VarianceScaling(1, fan_in, uniform) kernels and zero biases.
    return keras.initializers.VarianceScaling(scale=1.0, mode="fan_in", distribution="uniform")


def _conv(filters, kernel_size, name, *, strides=1, activation=None):
    return layers.Conv2D(
        filters, kernel_size, strides=strides, padding="same", activation=activation,
        kernel_initializer=_initializer(), name=name,
    )


def _residual_dense_block(x, *, features, growth, n_layers, prefix):
    """RDB (paper Fig. 9c): ``n_layers`` dense 3x3 ReLU convs, 1x1 local fusion, local residual."""
    dense = x
    for i in range(1, n_layers + 1):
        new = _conv(growth, 3, f"{prefix}_cpl_{i}_conv", activation="relu")(dense)
        dense = layers.Concatenate(axis=-1, name=f"{prefix}_cpl_{i}_concat")([dense, new])
    fused = _conv(features, 1, f"{prefix}_fusion_conv")(dense)
    return layers.Add(name=f"{prefix}_add")([fused, x])


def _grouped_rdb(x, *, features, growth, n_layers, n_rdbs, prefix):
    """GRDB (paper Fig. 9b): cascaded RDBs, their outputs concatenated, 1x1 fusion, semi-global residual."""
    outputs = []
    h = x
    for j in range(1, n_rdbs + 1):
        h = _residual_dense_block(h, features=features, growth=growth, n_layers=n_layers, prefix=f"{prefix}_rdb_{j}")
        outputs.append(h)
    merged = layers.Concatenate(axis=-1, name=f"{prefix}_concat")(outputs) if len(outputs) > 1 else outputs[0]
    fused = _conv(features, 1, f"{prefix}_fusion_conv")(merged)
    return layers.Add(name=f"{prefix}_add")([fused, x])


def build_cgrdn(
    *,
    channels: int = 1,
    features: int = CGRDN_DEFAULTS["features"],
    growth: int = CGRDN_DEFAULTS["growth"],
    layers_per_rdb: int = CGRDN_DEFAULTS["layers_per_rdb"],
    rdbs_per_grdb: int = CGRDN_DEFAULTS["rdbs_per_grdb"],
    grdbs: int = CGRDN_DEFAULTS["grdbs"],
    std_floor: float = 0.1,
    pad_mode: str = "mean",
    name: str = "cgrdn",
) -> keras.Model:
    """Build the CGRDN generator as a Keras 3 functional model.

    Parameters
    ----------
    channels : int
        Image channels in and out (1 for the published models).
    features : int
        Feature maps of the trunk (paper: 64).
    growth : int
        Growth rate: filters of each densely connected 3x3 convolution (paper: 32).
    layers_per_rdb : int
        Densely connected convolutions per residual dense block (paper: 8, ablation Fig. 1).
    rdbs_per_grdb : int
        Residual dense blocks per grouped residual dense block (paper: 4).
    grdbs : int
        Grouped residual dense blocks (paper: 4).
    std_floor : float
        Absolute floor of the per-image standard deviation used to standardise the input (authors' 0.1,
        in the input's intensity units).
    pad_mode : str
        How odd H or W are padded to even before the stride-2 convolution: ``"mean"`` (one row/column of
        the image mean, as the authors' ``predict``), ``"reflect"``, ``"symmetric"`` or ``"zero"``. The
        output is cropped back to the input's size.
    name : str
        Model name.

    Returns
    -------
    keras.Model
        Input ``image``: float32 ``[N, H, W, channels]`` raw intensities, any H and W. Output: float32
        ``[N, H, W, channels]`` restored intensities in the input's units.

    Examples
    --------
    >>> model = build_cgrdn()
    >>> model.count_params()
    7035521
    """
    for label, value in dict(channels=channels, features=features, growth=growth, layers_per_rdb=layers_per_rdb,
                             rdbs_per_grdb=rdbs_per_grdb, grdbs=grdbs).items():
        if int(value) != value or value < 1:
            raise ValueError(f"{label} must be a positive integer; received {label}={value!r}.")
    if std_floor <= 0:
        raise ValueError(f"std_floor must be positive; received std_floor={std_floor}.")

    image = keras.Input(shape=(None, None, channels), name="image")
    # The ends run in float32 under any mixed-precision policy: the variance of raw counts overflows float16.
    padded = PadToMultiple(2, mode=pad_mode, name="pad_to_even", dtype="float32")(image)
    x_n, mean, scale = StandardizePerImage(std_floor=std_floor, name="r_em_pp", dtype="float32")(padded)

    first = _conv(features, 3, "first_conv")(x_n)
    down = _conv(features, 4, "down_conv", strides=2)(first)

    group_outputs = []
    h = down
    for g in range(1, grdbs + 1):
        h = _grouped_rdb(h, features=features, growth=growth, n_layers=layers_per_rdb, n_rdbs=rdbs_per_grdb,
                         prefix=f"g_{g}")
        group_outputs.append(h)
    merged = layers.Concatenate(axis=-1, name="global_concat")(group_outputs) if grdbs > 1 else group_outputs[0]
    fused = _conv(features, 1, "global_fusion_conv")(merged)
    trunk = layers.Add(name="global_add")([fused, down])

    up = layers.Conv2DTranspose(features, 4, strides=2, padding="same", kernel_initializer=_initializer(),
                                name="up_deconv")(trunk)
    last = _conv(channels, 3, "last_conv")(up)
    residual = layers.Add(name="input_residual_add", dtype="float32")([last, x_n])
    restored = Destandardize(name="r_em_out", dtype="float32")([residual, mean, scale])
    output = CropToReference(name="crop_to_input", dtype="float32")([restored, image])
    return keras.Model(image, output, name=name)
