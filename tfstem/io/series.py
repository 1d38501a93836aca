"""Frames and series: the one reader (:func:`read_series`) and the one validator (:func:`as_series`).

Every user of a series (the trainers, ``tfstem restore``, ``tfstem evaluate``) goes through this module, so
that one series is accepted or refused the same way everywhere, with the same one-line messages:

* :func:`read_series` reads a file through :func:`tfstem.io.read_image` (every format, one-line errors);
* :func:`as_series` validates a series ``[N, H, W]``, ``[N, H, W, C]`` or one frame ``[H, W]`` and returns a
  new ``float32 [N, H, W, C]`` array; :func:`series_view` does the same checks and returns a view in the
  caller's dtype (for callers that compute in float64);
* :func:`frames_view` is the rule of :func:`tfstem.restore` for any image (``[H, W]``, ``[H, W, C]`` with
  ``C <= 4``, ``[N, H, W]``, ``[N, H, W, C]``);
* :func:`check_real_dtype` and :func:`check_values` are the checks they share (dtype; empty, NaN/inf and
  float32's range), for callers with shape rules of their own (``tfstem evaluate``, :mod:`tfstem.lazy`).

None of them modifies the caller's array.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from tfstem.io.image import MAX_CHANNELS
from tfstem.io.readers import read_image

__all__ = ["read_series", "as_series", "series_view", "frames_view", "check_real_dtype", "check_values",
           "FLOAT32_MAX", "MAX_SERIES_CHANNELS"]

#: The largest finite float32 (tfstem computes and returns float32).
FLOAT32_MAX = float(np.finfo(np.float32).max)
#: A series' last axis longer than this is not channels: ``[N, C, H, W]`` or ``[C, N, H, W]`` passed by mistake.
MAX_SERIES_CHANNELS = 8


def _verb(name: str, singular: str, plural: str) -> str:
    """``plural`` for ``frames``, else ``singular``: messages read "frames are empty", "image is empty"."""
    return plural if name == "frames" else singular


def read_series(path, *, channels_axis: int | None = None) -> np.ndarray:
    """Read the series stored in ``path``, as stored (channels moved last with ``channels_axis``).

    Parameters
    ----------
    path : str or Path
        Any file :func:`tfstem.io.read_image` reads. An ``.npz`` or HDF5 file gives the array named one of
        :data:`tfstem.io.IMAGE_ARRAY_NAMES` (so a file holding ``noisy`` and ``clean`` gives ``noisy``).
    channels_axis : int, optional
        The stored axis that holds the channels (``1`` for ``[N, C, H, W]``), moved last; negative values
        count from the end. Without it an ImageJ hyperstack's ``C`` axis (Fiji's ``TCYX``) is moved last.

    Returns
    -------
    numpy.ndarray
        ``[N, H, W]`` or ``[N, H, W, C]`` (a 3-D array is a series ``[N, H, W]``), the file's real dtype, in
        the file's intensity units. Check it with :func:`as_series`.

    Raises
    ------
    FileNotFoundError, ValueError, ImportError
        As :func:`tfstem.io.read_image`: one line that names the file.

    Examples
    --------
    >>> frames = read_series("examples/data/n2v_dual_channel_video.npz")  # doctest: +SKIP
    >>> frames.shape  # doctest: +SKIP
    (48, 128, 128, 2)
    """
    return np.asarray(read_image(path, channels_axis=channels_axis).data)


def check_real_dtype(dtype, *, name: str = "image") -> None:
    """Raise a one-line ValueError unless ``dtype`` holds real numbers (integers, floats or booleans).

    Parameters
    ----------
    dtype : numpy.dtype or str
        The dtype of the array to check (a NumPy or dask array's ``.dtype``).
    name : str
        How the message names the array (``"image"``, ``"frames"``, a file name).
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        raise ValueError(f"{name} must hold real numbers; received dtype {dtype} (pass np.abs({name}) or "
                         f"{name}.real for complex values).")
    if dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers; received dtype {dtype}.")


def check_values(array: np.ndarray, *, name: str = "image", float32_range: bool = True) -> None:
    """Raise a one-line ValueError unless ``array`` holds pixels, all finite (and within float32's range).

    Parameters
    ----------
    array : numpy.ndarray
        Any shape, a real dtype (see :func:`check_real_dtype`). Not copied: NaN and inf are counted in the
        caller's dtype (a finite float64 1e300 is not inf).
    name : str
        How the message names the array.
    float32_range : bool
        Also refuse values beyond float32's range (+-3.4e38), for callers that compute in float32.
    """
    if array.size == 0:
        raise ValueError(f"{name} {_verb(name, 'is', 'are')} empty: {_verb(name, 'it holds', 'they hold')} no pixels "
                         f"(shape {array.shape}); pass at least one pixel.")
    if array.dtype.kind == "f":
        finite = np.isfinite(array)
        if not finite.all():
            bad = int(array.size - np.count_nonzero(finite))
            raise ValueError(f"{name} {_verb(name, 'contains', 'contain')} {bad} NaN or inf values; replace them "
                             f"(e.g. np.nan_to_num) first.")
    if float32_range and array.dtype.kind == "f" and array.dtype.itemsize > 4:  # no integer reaches 3.4e38
        peak = max(abs(float(array.max())), abs(float(array.min())))
        if peak > FLOAT32_MAX:
            raise ValueError(
                f"{name} has values up to {peak:.3g} (dtype {array.dtype}), beyond float32's range "
                f"(+-{FLOAT32_MAX:.3g}) that tfstem computes and returns in; divide it by a constant first "
                f"(e.g. {name} / {10.0 ** math.ceil(math.log10(peak) - 30):.0e})."
            )


def _frame_size(min_size) -> tuple[int, int]:
    """``min_size`` (an int, or ``(height, width)``) as ``(height, width)`` in pixels, each >= 1."""
    sizes = (min_size, min_size) if not isinstance(min_size, (tuple, list)) else tuple(min_size)
    if len(sizes) != 2 or not all(isinstance(s, numbers.Integral) and not isinstance(s, (bool, np.bool_))
                                  and s >= 1 for s in sizes):
        raise ValueError(f"min_size must be an integer >= 1 or a pair (height, width) of them; received "
                         f"min_size={min_size!r}.")
    return int(sizes[0]), int(sizes[1])


def series_view(data, *, channels: int | None = None, min_size=None, name: str = "frames") -> np.ndarray:
    """Validate a series and return it as a ``[N, H, W, C]`` view in the caller's dtype (no copy, no cast).

    The checks of :func:`as_series`, except float32's range: for callers that compute in float64 (Noise2Atom's
    min-max scaling keeps the range of any finite float64). See :func:`as_series` for the parameters.

    Returns
    -------
    numpy.ndarray
        ``[N, H, W, C]``, the caller's dtype; a view of ``data`` when ``data`` is a NumPy array.
    """
    original = array = np.asarray(data)
    check_real_dtype(array.dtype, name=name)
    shape = array.shape
    if array.ndim == 2:
        array = array[None, ..., None]  # one frame
    elif array.ndim == 3:
        array = array[..., None]  # a series: a 3-D array is [N, H, W], never [H, W, C]
    elif array.ndim != 4:
        raise ValueError(f"{name} must be a series [N, H, W] or [N, H, W, C] (or one frame [H, W]); received "
                         f"{array.ndim}-D shape {shape}.")
    if array.shape[-1] > MAX_SERIES_CHANNELS:
        raise ValueError(
            f"{name} has {array.shape[-1]} channels on its last axis (shape {shape}); pass [N, H, W, C] with the "
            f"channels last (e.g. np.moveaxis({name}, 1, -1) for [N, C, H, W], or channels_axis=1 when reading)."
        )
    check_values(original, name=name, float32_range=False)
    if channels is not None and array.shape[-1] != channels:
        accepted = "[N, H, W] or [N, H, W, 1]" if channels == 1 else f"[N, H, W, {channels}]"
        raise ValueError(f"{name} must have {channels} channel(s); received {array.shape[-1]} on the channels axis "
                         f"(shape {shape}, read as [N, H, W, C] = {list(array.shape)}); pass {accepted}.")
    if min_size is not None:
        min_height, min_width = _frame_size(min_size)
        height, width = array.shape[1:3]
        if height < min_height or width < min_width:
            raise ValueError(f"{name} of {height}x{width} px {_verb(name, 'is', 'are')} smaller than "
                             f"{min_height}x{min_width} px (min_size={min_size!r}); pass larger frames or ask for a "
                             f"smaller size.")
    return array


def as_series(data, *, channels: int | None = None, min_size=None, name: str = "frames") -> np.ndarray:
    """Validate a series and return a new ``float32 [N, H, W, C]`` array: the one validator of series.

    Parameters
    ----------
    data : array_like
        A series ``[N, H, W]`` (a 3-D array is always frames, never ``[H, W, C]``), ``[N, H, W, C]`` with the
        channels last (``C <= 8``), or one frame ``[H, W]``; any real dtype (booleans, integers, floats), in
        any intensity units; finite and within float32's range. Never modified.
    channels : int, optional
        The number of channels required (a model's input channels); None accepts any.
    min_size : int or (int, int), optional
        The smallest frame accepted, in pixels: a side, or ``(height, width)`` (a training patch or crop).
    name : str
        How messages name the array (``"frames"``, a file name).

    Returns
    -------
    numpy.ndarray
        float32 ``[N, H, W, C]``, a copy (the caller's array is never shared nor modified), same values.

    Raises
    ------
    ValueError
        One line that echoes the shape, dtype or value received and says what to pass: not real numbers
        (complex, text, objects), empty, 1-D or more than 4-D, a last axis longer than 8 (channels not
        last), NaN or inf, values beyond float32's range, a channel count other than ``channels``, or frames
        smaller than ``min_size``.

    Examples
    --------
    >>> as_series(np.zeros((5, 64, 64), np.uint16)).shape
    (5, 64, 64, 1)
    >>> as_series(np.ones((64, 64)), min_size=32).shape  # one frame
    (1, 64, 64, 1)
    """
    view = series_view(data, channels=channels, min_size=min_size, name=name)
    check_values(view, name=name, float32_range=True)
    return view.astype(np.float32, copy=True)


def frames_view(image, *, name: str = "image") -> np.ndarray:
    """Validate an image or stack and return it as a ``[N, H, W, C]`` view in the caller's dtype (no copy).

    The rule of :func:`tfstem.restore`, which takes single images as well as series.

    Parameters
    ----------
    image : array_like
        ``[H, W]``, ``[H, W, C]`` (a 3-D array whose last axis is at most 4 long: a real frame is never 1 to
        4 pixels wide), ``[N, H, W]`` or ``[N, H, W, C]``; any real dtype, finite, within float32's range.
    name : str
        How messages name the array.

    Returns
    -------
    numpy.ndarray
        ``[N, H, W, C]``, the caller's dtype; a view of ``image`` when it is a NumPy array.

    Raises
    ------
    ValueError
        Not real numbers, empty, 1-D or more than 4-D, NaN or inf, or values beyond float32's range.
    """
    array = np.asarray(image)
    check_real_dtype(array.dtype, name=name)
    if array.ndim < 2 or array.ndim > 4:
        raise ValueError(f"{name} must be [H, W], [H, W, C], [N, H, W] or [N, H, W, C]; received {array.ndim}-D "
                         f"shape {array.shape}.")
    check_values(array, name=name, float32_range=True)
    if array.ndim == 2:
        return array[None, ..., None]
    if array.ndim == 3:
        return array[None] if array.shape[-1] <= MAX_CHANNELS else array[..., None]
    return array
