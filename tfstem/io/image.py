"""The :class:`Image` a reader returns, and the shapes of tfstem images.

Images are ``[H, W]``, ``[N, H, W]``, ``[H, W, C]`` or ``[N, H, W, C]``; a 3-D array whose last axis has at
most :data:`MAX_CHANNELS` entries is ``[H, W, C]`` (the rule of :mod:`tfstem.restore`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["Image", "MAX_CHANNELS", "image_axes", "move_channels_last", "as_float32"]

MAX_CHANNELS = 4  # a 3-D array whose last axis is at most this long is [H, W, C] (as in tfstem.restore)


@dataclasses.dataclass(frozen=True)
class Image:
    """An image read from disk.

    Attributes
    ----------
    data : numpy.ndarray
        ``[H, W]``, ``[N, H, W]``, ``[H, W, C]`` or ``[N, H, W, C]``, a real numeric dtype (the file's).
    pixel_size : float or None
        Size of one pixel in ``unit`` (None when the file does not say).
    unit : str or None
        Unit of ``pixel_size``, normalised by :func:`normalize_unit` (e.g. ``"nm"``, ``"Å"``, ``"µm"``).
    """

    data: np.ndarray
    pixel_size: float | None = None
    unit: str | None = None


def move_channels_last(data, channels_axis: int) -> np.ndarray:
    """Return ``data`` with axis ``channels_axis`` moved to the last position (a view; no copy).

    Parameters
    ----------
    data : array_like
        Any array, e.g. ``[N, C, H, W]`` from a Fiji ``TCYX`` hyperstack.
    channels_axis : int
        The axis that holds the channels; negative values count from the end.

    Returns
    -------
    numpy.ndarray
        The same values with the channels last, e.g. ``[N, H, W, C]``.

    Raises
    ------
    ValueError
        ``channels_axis`` is not an integer or is out of range for ``data``'s shape.

    Examples
    --------
    >>> move_channels_last(np.zeros((5, 2, 8, 9)), 1).shape
    (5, 8, 9, 2)
    """
    array = np.asarray(data)
    if isinstance(channels_axis, bool) or not isinstance(channels_axis, (int, np.integer)):
        raise ValueError(f"channels_axis must be an integer; received channels_axis={channels_axis!r}.")
    if not -array.ndim <= channels_axis < array.ndim:
        raise ValueError(f"channels_axis={channels_axis} is out of range for an array of shape {array.shape} "
                         f"(accepted: {-array.ndim} to {array.ndim - 1}).")
    return np.moveaxis(array, int(channels_axis), -1)


def image_axes(shape) -> str:
    """Axes letters of a tfstem image: ``YX``, ``TYX``, ``YXC`` or ``TYXC`` (T = frames, C = channels)."""
    if len(shape) == 2:
        return "YX"
    if len(shape) == 3:
        return "YXC" if shape[-1] <= MAX_CHANNELS else "TYX"
    if len(shape) == 4:
        return "TYXC"
    raise ValueError(f"an image is [H, W], [N, H, W], [H, W, C] or [N, H, W, C]; received shape {tuple(shape)}.")


def as_float32(array: np.ndarray, path) -> np.ndarray:
    """``array`` as float32; finite values beyond float32's range raise instead of becoming inf."""
    if array.dtype == np.float32:
        return array
    if array.dtype.kind == "f" and array.size:
        finite = np.abs(array[np.isfinite(array)])
        if finite.size and finite.max() > np.finfo(np.float32).max:
            raise ValueError(f"{path}: values up to {finite.max():.3g} exceed float32's range "
                             f"({np.finfo(np.float32).max:.3g}); this format stores float32. Use .npy, .npz or .h5.")
    return array.astype(np.float32)
