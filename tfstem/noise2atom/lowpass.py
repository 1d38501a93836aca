"""Ms2b: the fixed low-pass network of Noise2Atom that extracts slowly varying background features.

Wang et al., Appl. Microsc. 50:23 (2020), section "Network Architectures": "Ms2b as a one-layered
network, using a single filter of size 33x33, without padding and bias ... a normalized 2D Gaussian
distribution with a variance of sigma = 15.0". The weights are hand-crafted and never trained.

Readings of the kernel (``kernel`` argument):

- ``"paper"`` (default): normalised 2-D Gaussian with standard deviation 15 px on the 33x33 grid
  (the paper writes "variance of sigma = 15"; we read 15 as the standard deviation, sigma).
- ``"code_intent"``: what the released code's comment intends, ``exp(-d^2 / (2 * 15))`` (15 used as a
  variance, sigma ~ 3.87 px) on a centred disc of radius 17, normalised to sum 1.

The released kernel itself (an XOR typo and an off-centre disc; see ``shared/reference/anchors.md``,
section 1b) is not reproduced bit for bit. Padding: ``"valid"`` (default, the paper: 33x33 -> output
shrinks by 32 px per axis) or ``"same"`` (the released code).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

__all__ = ["LOWPASS_KERNELS", "gaussian_lowpass_kernel", "build_lowpass"]

LOWPASS_KERNELS = ("paper", "code_intent")


def gaussian_lowpass_kernel(size: int = 33, sigma: float = 15.0, *, kernel: str = "paper") -> np.ndarray:
    """The Ms2b filter taps.

    Parameters
    ----------
    size : int
        Odd kernel side in pixels (paper: 33).
    sigma : float
        Paper: 15. Standard deviation in pixels for ``"paper"``, variance in px^2 for ``"code_intent"``.
    kernel : {"paper", "code_intent"}
        Reading of the paper/code, see the module docstring.

    Returns
    -------
    numpy.ndarray, float32, ``[size, size]``
        Non-negative taps summing to 1.

    Raises
    ------
    ValueError
        On an even or non-positive size, a non-positive sigma, or an unknown reading.
    """
    if int(size) < 1 or int(size) % 2 == 0:
        raise ValueError(f"size must be a positive odd integer; received size={size}.")
    if not float(sigma) > 0:
        raise ValueError(f"sigma must be positive; received sigma={sigma}.")
    if kernel not in LOWPASS_KERNELS:
        raise ValueError(f"kernel must be one of {LOWPASS_KERNELS}; received kernel={kernel!r}.")
    half = int(size) // 2
    r = np.arange(-half, half + 1, dtype=np.float64)
    d2 = r[:, None] ** 2 + r[None, :] ** 2
    if kernel == "paper":
        taps = np.exp(-d2 / (2.0 * float(sigma) ** 2))
    else:
        taps = np.exp(-d2 / (2.0 * float(sigma))) * (d2 < (half + 1) ** 2)
    return (taps / taps.sum()).astype(np.float32)


def build_lowpass(*, size: int = 33, sigma: float = 15.0, kernel: str = "paper", padding: str = "valid",
                  name: str = "ms2b") -> keras.Model:
    """Build Ms2b, a single fixed, non-trainable, bias-free 33x33 convolution.

    Parameters
    ----------
    size, sigma, kernel
        See :func:`gaussian_lowpass_kernel`.
    padding : {"valid", "same"}
        ``"valid"`` as the paper states (output ``[N, H - size + 1, W - size + 1, 1]``) or ``"same"`` as
        released (output ``[N, H, W, 1]``).

    Returns
    -------
    keras.Model
        Input ``float32 [N, H, W, 1]`` (H, W >= size for ``"valid"``); output the low-pass image.
        Its only layer ``gaussian_layer`` has ``trainable=False``.

    References
    ----------
    Wang et al. (2020), Eq. 7 and section "Network Architectures".
    """
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same'; received padding={padding!r}.")
    taps = gaussian_lowpass_kernel(size, sigma, kernel=kernel)
    inputs = keras.Input(shape=(None, None, 1), name="image")
    conv = layers.Conv2D(1, int(size), padding=padding, use_bias=False, trainable=False, name="gaussian_layer")
    outputs = conv(inputs)
    conv.set_weights([taps[:, :, None, None]])
    model = keras.Model(inputs, outputs, name=name)
    model.trainable = False
    return model
