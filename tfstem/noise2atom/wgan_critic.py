"""Noise2Atom critic D (WGAN-GP): four downsampling modules with 25 % dropout and a dense output.

Wang et al., Appl. Microsc. 50:23 (2020), section "Network Architectures": "The critic model D is
composed of 4 downsampling modules and a fully connected layer. The downsampling modules contain a
transposed convolution layer with a kernel size of 3x3, followed by a convolution layer of stride 2 with
a kernel size of 3x3 and then a dropout layer of 25 %."

From the released code: channels 64, 64, 128, 128; each convolution followed by normalisation and
LeakyReLU(0.2) except in the first module (no normalisation); no padding ("valid"); the 128x128 input
becomes 8x8x128, flattened into ``Dense(1)`` with a linear output (a Wasserstein critic).
"""

from __future__ import annotations

import keras
from keras import layers

from tfstem.noise2atom.xception_unet import NORMALIZATIONS, down_module

__all__ = ["CRITIC_GRIDS", "build_wgan_critic"]


CRITIC_GRIDS = ("alternating", "even")


def build_wgan_critic(*, patch_size: int = 128, filters: tuple = (64, 64, 128, 128), dropout: float = 0.25,
                      normalization: str = "instance", grid: str = "even", name: str = "critic") -> keras.Model:
    """Build the critic D.

    Parameters
    ----------
    patch_size : int
        Side of the square training crops (paper: 128); the dense layer fixes the input size. Must be a
        multiple of ``2 ** len(filters)``.
    filters : tuple of int
        Channels of the downsampling modules (released code: 64, 64, 128, 128).
    dropout : float
        Dropout rate after each module (paper: 0.25).
    normalization : {"instance", "released", "none"}
        Same choice as the generators (:class:`~tfstem.noise2atom.xception_unet.Noise2AtomNormalization`).
    grid : {"even", "alternating"}
        Sampling grid of the stride-2 convolutions (paper silent; see
        :func:`~tfstem.noise2atom.xception_unet.down_module`). ``"even"`` (default) is the released code: every module
        centres its windows on even rows/columns, which compounds over the four modules into a critic that
        sees the bottom and right borders less than the top and left ones (freshly initialised, paper
        widths: the input gradient on the last row is 0.26 of that on the first row, over the last 8 rows
        0.56 of the first 8; ``benchmarks/noise2atom_critic_border.py``), which left the bright band along
        the bottom and right borders of early Noise2Atom outputs unpenalised. ``"alternating"`` (a tfstem option, not in the
        paper or the released code; the ``cpu`` preset's) uses
        even, odd, even, odd grids: same layers, kernels and sizes, no padding; the same ratios are 0.95 and
        1.10.

    Returns
    -------
    keras.Model
        Input ``float32 [N, patch_size, patch_size, 1]`` in [-1, 1]; output ``float32 [N, 1]``, unbounded
        critic score (high = "clean atomic image").

    Raises
    ------
    ValueError
        On a crop size that the modules cannot halve exactly, or an unknown normalisation.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}; received normalization={normalization!r}.")
    factor = 2 ** len(filters)
    if int(patch_size) < factor or int(patch_size) % factor:
        raise ValueError(
            f"patch_size must be a positive multiple of {factor} for {len(filters)} modules; received patch_size={patch_size}."
        )
    if grid not in CRITIC_GRIDS:
        raise ValueError(f"grid must be one of {CRITIC_GRIDS}; received grid={grid!r}.")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1); received dropout={dropout}.")
    inputs = keras.Input(shape=(int(patch_size), int(patch_size), 1), name="image")
    x = inputs
    for i, f in enumerate(filters):
        module_grid = "odd" if grid == "alternating" and i % 2 else "even"
        x = down_module(x, int(f), normalization, f"critic_down{i + 1}", normalize=i > 0, grid=module_grid)
        x = layers.Dropout(float(dropout), name=f"critic_dropout{i + 1}")(x)
    x = layers.Flatten(name="critic_flatten")(x)
    score = layers.Dense(1, name="critic_score")(x)
    return keras.Model(inputs, score, name=name)
