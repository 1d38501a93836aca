"""Reading and writing electron-microscopy images, keeping the pixel size and its unit.

Formats
-------
Read: TIFF stacks and ImageJ/Fiji hyperstacks (tifffile), PNG/JPEG (imageio), NumPy ``.npy``/``.npz``,
HDF5 ``.h5``/``.hdf5`` (h5py), MRC (mrcfile), and through RosettaSciIO (the optional extra
``pip install 'tfstem[em]'``) ``.dm3``, ``.dm4``, ``.ser``, ``.emd`` and ``.hspy``.
Write: ``.tif``/``.tiff``, ``.npy``, ``.npz``, ``.h5``/``.hdf5``, ``.mrc``, and with RosettaSciIO ``.emd``
(NCEM) and ``.hspy``. ``.dm3``, ``.dm4``, ``.ser``, PNG and JPEG are read only.

Pixel size and unit
-------------------
Every reader returns the pixel size and unit the file records and every writer stores them so that the
reader gives them back. Units are normalised by :func:`normalize_unit`: ``"um"``, ``"μm"`` (Greek mu),
``"micron"``, ``"\\u00B5m"`` -> ``"µm"`` (micro sign, as ImageJ spells it); ``"A"``, ``"angstrom"``,
``"Å"`` (Angstrom sign) -> ``"Å"``; other length units to ``pm``, ``nm``, ``mm``, ``cm``, ``m``,
``inch``; anything else is kept as written. Per format:

* TIFF: ImageJ hyperstack; the pixel size in the XResolution/YResolution tags (pixels per unit,
  ResolutionUnit NONE) and the unit in the ImageJ description, as Fiji writes it: ``unit=micron`` for µm
  (ASCII: every ImageJ version and ``tifffile``'s ``imagej_metadata`` read it), other non-ASCII characters
  escaped as ImageJ's own ``FileSaver`` does (``unit=\\u00C5`` for Å), which Fiji decodes and so does this
  reader. A TIFF whose ResolutionUnit is CENTIMETER or INCH (without an ImageJ unit) is converted to a
  metric length: the largest of nm, µm, mm in which the size is at least 1, else nm.
* MRC records Å only: the reader returns Å; the writer converts any length unit to Å and refuses a pixel
  size whose unit is missing or not a length.
* HDF5: attributes ``pixel_size`` and ``unit`` of the image dataset. ``.npz``: arrays ``pixel_size`` and
  ``unit``, or one array ``pixel_size_<unit>`` (as in ``examples/data/*.npz``). ``.npy`` has no metadata.
* ``.emd``/``.hspy``: the scale and units of the two image axes (RosettaSciIO's axes dictionaries); a
  pixel size needs a unit there.

A pixel size without a unit is kept without one (never relabelled ``nm``); a unit without a pixel size
is refused.

Shapes
------
Images are ``[H, W]``, ``[N, H, W]``, ``[H, W, C]`` or ``[N, H, W, C]``; a 3-D array whose last axis has
at most 4 entries is ``[H, W, C]`` (the rule of :mod:`tfstem.restore`). TIFF keeps every one of these
shapes, ``C = 1`` included; ImageJ/Fiji hyperstacks (``TCYX``, ``CYX``, ``ZCYX``) come out channels last.
MRC, ``.emd`` and ``.hspy`` hold ``[H, W]`` and ``[N, H, W]``: a single channel is written without its
channel axis, several are refused.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np

from tfstem.outputs import atomic_file

__all__ = ["Image", "read_image", "write_image", "READ_FORMATS", "WRITE_FORMATS", "check_readable",
           "check_writable_format", "move_channels_last", "normalize_unit", "convert_length", "LENGTH_UNITS",
           "IMAGE_ARRAY_NAMES"]

_RSCIIO_READERS = {".dm3": "digitalmicrograph", ".dm4": "digitalmicrograph", ".emd": "emd", ".ser": "tia",
                   ".hspy": "hspy"}
_RSCIIO_WRITERS = {".emd": "emd", ".hspy": "hspy"}
_TIFF = (".tif", ".tiff")
_HDF5 = (".h5", ".hdf5")
READ_FORMATS = _TIFF + (".png", ".jpg", ".jpeg", ".npy", ".npz") + _HDF5 + (".mrc",) + tuple(_RSCIIO_READERS)
WRITE_FORMATS = _TIFF + (".npy", ".npz") + _HDF5 + (".mrc",) + tuple(_RSCIIO_WRITERS)

#: Names of the array that holds the image in an HDF5 file or an ``.npz`` archive, in order of preference.
IMAGE_ARRAY_NAMES = ("data", "image", "images", "frames", "x", "noisy", "clean")

#: Length units and their size in metres.
LENGTH_UNITS = {"pm": 1e-12, "Å": 1e-10, "nm": 1e-9, "µm": 1e-6, "mm": 1e-3, "cm": 1e-2, "m": 1.0,
                "inch": 0.0254}

_UNIT_SPELLINGS = {
    "µm": ("µm", "μm", "um", "micron", "microns", "micrometer", "micrometers", "micrometre", "micrometres"),
    "Å": ("å", "a", "angstrom", "angstroms", "ångström", "ångströms", "angstroem"),
    "nm": ("nm", "nanometer", "nanometers", "nanometre", "nanometres"),
    "pm": ("pm", "picometer", "picometers", "picometre", "picometres"),
    "mm": ("mm", "millimeter", "millimeters", "millimetre", "millimetres"),
    "cm": ("cm", "centimeter", "centimeters", "centimetre", "centimetres"),
    "m": ("m", "meter", "meters", "metre", "metres"),
    "inch": ("inch", "inches", "in"),
}
_UNIT_BY_SPELLING = {spelling: unit for unit, spellings in _UNIT_SPELLINGS.items() for spelling in spellings}
_NO_UNIT = ("", "[]", "<undefined>", "undefined", "none", "pixel", "pixels", "px")
_MAX_CHANNELS = 4  # a 3-D array whose last axis is at most this long is [H, W, C] (as in tfstem.restore)


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


# --------------------------------------------------------------------------------------------------- units


def _decode_imagej_escapes(text: str) -> str:
    """Undo ImageJ's ``\\uXXXX`` escapes of non-ASCII characters (``java.util.Properties`` style)."""
    return re.sub(r"\\u([0-9A-Fa-f]{4})", lambda match: chr(int(match.group(1), 16)), text)


def normalize_unit(unit) -> str | None:
    """Return the canonical spelling of a pixel-size unit, or None when ``unit`` names no unit.

    ``"um"``, ``"μm"`` (Greek mu), ``"micron"``, ``"\\u00B5m"`` give ``"µm"`` (micro sign);
    ``"A"``, ``"angstrom"``, ``"Å"`` (Angstrom sign U+212B) give ``"Å"`` (U+00C5); other length
    units give ``pm``, ``nm``, ``mm``, ``cm``, ``m`` or ``inch``; ``""``, ``"[]"``, ``"<undefined>"`` and
    ``"pixel"`` give None; any other text is returned stripped, as written.

    Examples
    --------
    >>> normalize_unit("micron"), normalize_unit("A"), normalize_unit(" nm ")
    ('µm', 'Å', 'nm')
    """
    if unit is None:
        return None
    if isinstance(unit, bytes):
        unit = unit.decode("utf-8", "replace")
    if isinstance(unit, np.ndarray) and unit.ndim == 0:
        unit = unit[()]
    text = _decode_imagej_escapes(str(unit)).strip()
    if text.lower() in _NO_UNIT:
        return None
    return _UNIT_BY_SPELLING.get(text.lower().replace("\u212b", "å"), text)


def convert_length(value: float, unit: str, to: str) -> float:
    """Convert ``value`` from the length ``unit`` to the length unit ``to`` (both in :data:`LENGTH_UNITS`)."""
    source, target = normalize_unit(unit), normalize_unit(to)
    for name, given in ((source, unit), (target, to)):
        if name not in LENGTH_UNITS:
            raise ValueError(f"{given!r} is not a length unit; known: {', '.join(LENGTH_UNITS)}.")
    return float(value) * LENGTH_UNITS[source] / LENGTH_UNITS[target]


def _readable_length(metres: float) -> tuple[float, str]:
    """A length in the largest of nm, µm, mm in which it is at least 1 (else nm)."""
    for unit in ("mm", "µm"):
        if metres / LENGTH_UNITS[unit] >= 1:
            return metres / LENGTH_UNITS[unit], unit
    return metres / LENGTH_UNITS["nm"], "nm"


def _positive_size(value) -> float | None:
    """``value`` as a float if it is a finite number > 0, else None (a file's 'no pixel size')."""
    try:
        scalar = np.asarray(value).reshape(-1)[0]
        # float32/float16 as their shortest decimal (0.025, not 0.02500000037), which is what was stored
        size = float(str(scalar)) if scalar.dtype in (np.float32, np.float16) else float(scalar)
    except (TypeError, ValueError, IndexError):
        return None
    return size if math.isfinite(size) and size > 0 else None


# ---------------------------------------------------------------------------------------------- channels


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


def _image_axes(shape) -> str:
    """Axes letters of a tfstem image: ``YX``, ``TYX``, ``YXC`` or ``TYXC`` (T = frames, C = channels)."""
    if len(shape) == 2:
        return "YX"
    if len(shape) == 3:
        return "YXC" if shape[-1] <= _MAX_CHANNELS else "TYX"
    if len(shape) == 4:
        return "TYXC"
    raise ValueError(f"an image is [H, W], [N, H, W], [H, W, C] or [N, H, W, C]; received shape {tuple(shape)}.")


# --------------------------------------------------------------------------------------------------- readers


def check_readable(path: Path) -> None:
    """Raise FileNotFoundError/ValueError (one line) unless ``path`` is a non-empty file of a readable format."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file.")
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a file; pass an image file.")
    if path.suffix.lower() not in READ_FORMATS:
        raise ValueError(f"{path}: unsupported format {path.suffix!r}; readable: {', '.join(READ_FORMATS)}.")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes); it holds no image.")


def _tiff_pixel_size(page, imagej: dict, shaped: dict):
    """Pixel size and unit of a TIFF page: ImageJ unit, else ResolutionUnit cm/inch, else tifffile's unit."""
    tag = page.tags.get("XResolution")
    if tag is None:
        return None, None
    numerator, denominator = tag.value
    if not numerator or not denominator or (numerator, denominator) == (1, 1):
        return None, None
    size = denominator / numerator
    if "unit" in imagej:
        unit = normalize_unit(imagej["unit"])
        return (size, unit) if unit is not None else (None, None)  # ImageJ's "pixel": uncalibrated
    res_tag = page.tags.get("ResolutionUnit")
    res_unit = int(res_tag.value) if res_tag is not None else 2  # TIFF 6.0: INCH when the tag is absent
    if res_unit in (2, 3):
        return _readable_length(size * LENGTH_UNITS["inch" if res_unit == 2 else "cm"])
    return size, normalize_unit(shaped.get("unit"))


def _restore_singleton_axes(data: np.ndarray, axes: str, recorded: str) -> np.ndarray:
    """Give back the frames/channels axes of length 1 that TIFF squeezes away (``recorded`` by tfstem).

    ``data`` is a NumPy or a dask array; the result is of the same kind.
    """
    if "C" in axes:  # np.moveaxis keeps a dask array lazy (lazy_io shares this function)
        data = np.moveaxis(data, axes.index("C"), -1)
    present = "".join("T" if a in "TZIQ" else a for a in axes if a != "C") + ("C" if "C" in axes else "")
    if "T" in recorded and "T" not in present:
        data, present = data[None], "T" + present
    if recorded.endswith("C") and "C" not in present:
        data, present = data[..., None], present + "C"
    if present != recorded:
        raise ValueError(f"the TIFF records axes {recorded!r} but holds axes {axes!r} of shape {data.shape}.")
    return data


class _LogRecords(logging.Handler):
    """Collects the warnings and errors a library logs (tifffile logs a truncated file and reads on)."""

    def __init__(self, name: str):
        super().__init__(logging.WARNING)
        self.logger, self.messages = logging.getLogger(name), []

    def emit(self, record):
        self.messages.append(" ".join(record.getMessage().split()))

    def __enter__(self):
        self.logger.addHandler(self)
        self.propagate, self.logger.propagate = self.logger.propagate, False
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self)
        self.logger.propagate = self.propagate
        return False


def _read_tiff(path):
    import tifffile

    with _LogRecords("tifffile") as log, tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        data = np.asarray(series.asarray())
        axes = series.axes
        imagej = tif.imagej_metadata or {}
        shaped = (tif.shaped_metadata[0] if tif.shaped_metadata else None) or {}
        pixel_size, unit = _tiff_pixel_size(tif.pages[0], imagej, shaped)
    if log.messages:  # tifffile read past damage (a truncated file gives fewer frames, or zeros)
        raise ValueError(f"{path}: damaged or truncated TIFF ({'; '.join(dict.fromkeys(log.messages))}).")
    recorded = str(imagej.get("tfstem_axes", ""))
    if recorded in ("YX", "TYX", "YXC", "TYXC"):  # written by write_image: give back its exact shape
        return Image(_restore_singleton_axes(data, axes, recorded), pixel_size, unit), None
    hint = axes.index("C") if "C" in axes and data.ndim == len(axes) else None  # Fiji's TCYX, CYX, ZCYX
    return Image(data, pixel_size, unit), hint


def _choose_array(path, names, ndims) -> str:
    """The image's name among ``names`` (arrays of ``ndims`` dimensions): a known name, else the only image."""
    for name in IMAGE_ARRAY_NAMES:
        if name in ndims:
            return name
    images = [name for name in names if ndims.get(name, 0) >= 2]
    if len(images) == 1:
        return images[0]
    if not images:
        raise ValueError(f"{path} holds no image (no array with 2 or more dimensions among {list(names)}).")
    raise ValueError(f"{path}: cannot tell which array is the image among {list(names)}; "
                     f"name it one of {', '.join(IMAGE_ARRAY_NAMES)}.")


def _size_from_keys(values: dict):
    """Pixel size and unit from ``pixel_size`` + ``unit`` or from ``pixel_size_<unit>`` entries."""
    if "pixel_size" in values:
        size = _positive_size(values["pixel_size"])
        unit = normalize_unit(values.get("unit"))
        return (size, unit) if size is not None else (None, None)
    for key, value in values.items():
        match = re.fullmatch(r"pixel_size_(.+)", str(key))
        size = _positive_size(value) if match else None
        if size is not None:
            return size, normalize_unit(match.group(1))
    return None, None


def _h5_image(path, handle):
    """The image dataset of an open HDF5 file and its ``(pixel_size, unit)`` (dataset or file attributes)."""
    import h5py

    datasets = {}
    handle.visititems(lambda name, obj: datasets.__setitem__(name, obj.ndim)
                      if isinstance(obj, h5py.Dataset) else None)
    if not datasets:
        raise ValueError(f"{path} holds no dataset.")
    dataset = handle[_choose_array(path, list(datasets), datasets)]
    size = _size_from_keys(dict(dataset.attrs))
    return dataset, size if size[0] is not None else _size_from_keys(dict(handle.attrs))


def _read_h5(path):
    import h5py

    with h5py.File(path, "r") as handle:
        dataset, (pixel_size, unit) = _h5_image(path, handle)
        return Image(np.asarray(dataset[()]), pixel_size, unit), None


def _npz_ndims(archive) -> dict:
    """Number of dimensions of each array of an open ``.npz``, read from the headers (no data loaded)."""
    ndims = {}
    for name in archive.files:
        with archive.zip.open(name + ".npy") as member:
            major, _ = np.lib.format.read_magic(member)
            read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            ndims[name] = len(read_header(member)[0])
    return ndims


def _read_npz(path):
    with np.load(path, allow_pickle=False) as archive:
        names = list(archive.files)
        if not names:
            raise ValueError(f"{path} holds no array.")
        name = _choose_array(path, names, _npz_ndims(archive))
        metadata = {key: archive[key] for key in names if key.startswith(("pixel_size", "unit"))}
        data = archive[name]
    pixel_size, unit = _size_from_keys(metadata)
    return Image(data, pixel_size, unit), None


def _read_mrc(path):
    import mrcfile

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with mrcfile.open(path, permissive=True) as mrc:
            if mrc.data is None:  # permissive mode gives None for a header that does not match the data
                reason = "; ".join(str(w.message) for w in caught) or "no data block"
                raise ValueError(f"{path}: not a valid MRC file ({reason}).")
            data = np.array(mrc.data)
            size = _positive_size(mrc.voxel_size.x)
    return Image(data, size, "Å" if size else None), None


def _rsciio_module(path, plugins):
    try:
        return __import__(f"rsciio.{plugins[path.suffix.lower()]}", fromlist=["file_reader"])
    except ImportError as error:
        raise ImportError(f"{path.suffix} files need RosettaSciIO: pip install 'tfstem[em]'") from error


def _read_rsciio(path):
    signals = _rsciio_module(path, _RSCIIO_READERS).file_reader(str(path))
    images = [s for s in signals if np.ndim(s["data"]) >= 2 and len(_signal_axes(s)) != 1]
    if not images:
        raise ValueError(f"{path} holds no image (only spectra or metadata); tfstem restores 2-D signals.")
    signal = images[0]
    axes = _signal_axes(signal)
    pixel_size, unit = None, None
    if axes:
        unit = normalize_unit(axes[-1].get("units"))
        pixel_size = _positive_size(axes[-1].get("scale")) if unit else None
        if pixel_size and len(axes) >= 2 and normalize_unit(axes[-2].get("units")) == unit:
            other = _positive_size(axes[-2].get("scale"))
            if other and not np.isclose(other, pixel_size, rtol=1e-6):
                raise ValueError(f"{path} has non-square pixels ({other:g} x {pixel_size:g} {unit}, y x x); "
                                 f"resample it to square pixels first.")
    return Image(np.asarray(signal["data"]), pixel_size, unit if pixel_size else None), None


def _signal_axes(signal) -> list:
    """The signal (not navigation) axes of a RosettaSciIO signal dict; all its axes when it has 2 or fewer."""
    axes = signal.get("axes", [])
    if len(axes) <= 2 and not any(a.get("navigate") is True for a in axes):
        return list(axes)
    return [a for a in axes if a.get("navigate") is False]


_MAGIC = {".png": (b"\x89PNG\r\n\x1a\n",), ".jpg": (b"\xff\xd8\xff",), ".jpeg": (b"\xff\xd8\xff",)}


def _read_plain(path):
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return Image(np.load(path, allow_pickle=False)), None
    with open(path, "rb") as handle:
        head = handle.read(8)
    if not head.startswith(_MAGIC[suffix]):  # imageio would read any format whatever the suffix says
        raise ValueError(f"{path} is not a {suffix} file (its first bytes are {head[:4]!r}); rename it to its format.")
    import imageio.v3 as iio

    return Image(np.asarray(iio.imread(path))), None


_READERS = {**dict.fromkeys(_TIFF, _read_tiff), **dict.fromkeys(_HDF5, _read_h5), ".npz": _read_npz,
            ".mrc": _read_mrc, **dict.fromkeys(_RSCIIO_READERS, _read_rsciio),
            **dict.fromkeys((".png", ".jpg", ".jpeg", ".npy"), _read_plain)}


def _check_image_array(path, data) -> np.ndarray:
    """``data`` as a real numeric array of at least 2 dimensions, else a one-line ValueError naming ``path``."""
    data = np.asarray(data)
    if data.dtype.kind not in "iuf":
        what = {"c": "complex values", "b": "booleans", "O": "Python objects"}.get(data.dtype.kind,
                                                                                 f"dtype {data.dtype}")
        raise ValueError(f"{path} holds {what} (dtype {data.dtype}); an image must hold real numbers "
                         f"(integer or float).")
    if data.ndim < 2:
        raise ValueError(f"{path} holds a {data.ndim}-D array of shape {data.shape}; an image has at least 2 "
                         f"dimensions ([H, W]).")
    if data.size == 0:
        raise ValueError(f"{path} holds an empty array of shape {data.shape}.")
    return data


def _one_line(error: BaseException, limit: int = 300) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[:limit] + "..."


def read_image(path, *, channels_axis: int | None = None) -> Image:
    """Read an image or stack from ``path``.

    Parameters
    ----------
    path : str or Path
        ``.tif``/``.tiff`` (stacks, ImageJ hyperstacks), ``.png``, ``.jpg``, ``.npy``, ``.npz`` and
        ``.h5``/``.hdf5`` (the array named one of :data:`IMAGE_ARRAY_NAMES`, else the only array with 2 or
        more dimensions), ``.mrc``, and with RosettaSciIO ``.dm3``, ``.dm4``, ``.ser``, ``.emd``, ``.hspy``.
    channels_axis : int, optional
        The axis of the stored array that holds the channels; it is moved last (negative values count from
        the end). When omitted, an ImageJ hyperstack's ``C`` axis (Fiji's ``TCYX``, ``CYX``) is moved last
        automatically; ``channels_axis`` counts axes as stored in the file (``1`` for ``TCYX``) and turns
        the automatic move off.

    Returns
    -------
    Image
        The array (a real numeric dtype, the file's; at least 2-D, channels last), and the pixel size with
        its unit when the file records one (see the module notes for each format).

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Empty, truncated or corrupt file, a file whose content is not its suffix's format, no image in it,
        a non-numeric or less than 2-D array, an unsupported suffix, or ``channels_axis`` out of range: one
        line that names the file.
    ImportError
        A RosettaSciIO format without RosettaSciIO installed.

    Examples
    --------
    >>> image = read_image("examples/data/noise2atom_series.tif")  # doctest: +SKIP
    >>> image.data.shape, image.pixel_size, image.unit  # doctest: +SKIP
    ((40, 256, 256), 0.04, 'nm')
    """
    path = Path(path)
    check_readable(path)
    suffix = path.suffix.lower()
    try:
        with warnings.catch_warnings():  # a corrupt file is reported by the error below, not by warnings
            warnings.simplefilter("ignore")
            image, hint = _READERS[suffix](path)
    except (ImportError, FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except Exception as error:  # a corrupt file: say which and why, in one line
        if isinstance(error, ValueError) and str(path) in str(error):
            raise ValueError(_one_line(error)) from error  # already our own message
        raise ValueError(f"{path}: cannot read it as {suffix} ({type(error).__name__}: {_one_line(error)}).") \
            from error
    data = _check_image_array(path, image.data)
    axis = channels_axis if channels_axis is not None else hint
    if axis is not None:
        try:
            data = move_channels_last(data, axis)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
    return Image(data, image.pixel_size, image.unit)


# --------------------------------------------------------------------------------------------------- writers


def _check_pixel_size(pixel_size) -> float | None:
    if pixel_size is None:
        return None
    message = (f"pixel_size must be a finite number > 0 (in the given unit); received "
               f"pixel_size={pixel_size!r}.")
    if isinstance(pixel_size, (bool, np.bool_, str, bytes)):
        raise ValueError(message)
    try:
        size = float(pixel_size)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if not math.isfinite(size) or size <= 0:
        raise ValueError(message)
    return size


def _check_unit(unit, pixel_size) -> str | None:
    if unit is not None and not isinstance(unit, str):
        raise ValueError(f"unit must be a string such as 'nm', 'Å' or 'µm'; received unit={unit!r}.")
    normalized = normalize_unit(unit)
    if normalized is not None and pixel_size is None:
        raise ValueError(f"unit={unit!r} was given without pixel_size; pass both or neither.")
    return normalized


def _tiff_resolution(pixel_size: float, unit: str | None, path):
    """Pixels per unit as a uint32 rational (and its unit), exact to 1e-7; a length is rescaled if needed."""
    candidates = [(pixel_size, unit)]
    if unit in LENGTH_UNITS:
        metres = pixel_size * LENGTH_UNITS[unit]
        candidates += sorted(((metres / factor, name) for name, factor in LENGTH_UNITS.items() if name != "inch"),
                             key=lambda pair: abs(math.log10(pair[0])))
    limit = 2**32 - 1
    for size, name in candidates:
        inverse = 1.0 / size
        if not 1.0 / limit <= inverse <= limit:
            continue
        rational = Fraction(inverse).limit_denominator(max(1, min(limit, int(limit / inverse))))
        if 0 < rational.numerator <= limit and abs(float(rational) / inverse - 1) <= 1e-7:
            return (rational.numerator, rational.denominator), size, name
    raise ValueError(f"{path}: pixel_size={pixel_size!r} {unit or ''} cannot be stored in a TIFF resolution tag "
                     f"to 1e-7 (pixels per unit must lie between 1e-4 and 4e9); use another unit.")


def _imagej_unit(unit: str) -> str:
    """``unit`` as ImageJ spells it in a TIFF description: ``micron`` for µm, other non-ASCII as ``\\uXXXX``."""
    if unit == "µm":
        return "micron"
    return "".join(c if 0x20 <= ord(c) < 0x7F and c != "\\" else f"\\u{ord(c):04X}" for c in unit)


def _as_float32(array: np.ndarray, path) -> np.ndarray:
    """``array`` as float32; finite values beyond float32's range raise instead of becoming inf."""
    if array.dtype == np.float32:
        return array
    if array.dtype.kind == "f" and array.size:
        finite = np.abs(array[np.isfinite(array)])
        if finite.size and finite.max() > np.finfo(np.float32).max:
            raise ValueError(f"{path}: values up to {finite.max():.3g} exceed float32's range "
                             f"({np.finfo(np.float32).max:.3g}); this format stores float32. Use .npy, .npz or .h5.")
    return array.astype(np.float32)


def _spatial_image(array: np.ndarray, path, suffix: str) -> np.ndarray:
    """``[H, W]`` or ``[N, H, W]`` for formats without a channels axis (a single channel is dropped)."""
    axes = _image_axes(array.shape)
    if axes.endswith("C"):
        if array.shape[-1] != 1:
            raise ValueError(f"{path}: {suffix} holds [H, W] or [N, H, W] images, not {array.shape[-1]} channels "
                             f"(shape {array.shape}); write .tif, .npy, .npz or .h5.")
        array = array[..., 0]
    return array


def _write_tiff(tmp, array, pixel_size, unit, path):
    import tifffile

    axes = _image_axes(array.shape)
    # ImageJ stores channels before Y and X (hyperstack order TZCYXS); tfstem keeps them last.
    stored = np.moveaxis(array, -1, -3) if axes.endswith("C") else array
    imagej_axes = {"YX": "YX", "TYX": "TYX", "YXC": "CYX", "TYXC": "TCYX"}[axes]
    metadata = {"axes": imagej_axes, "tfstem_axes": axes}
    resolution = None
    if pixel_size is not None:
        resolution, pixel_size, unit = _tiff_resolution(pixel_size, unit, path)
        if unit is not None:
            metadata["unit"] = _imagej_unit(unit)
        resolution = (resolution, resolution)
    tifffile.imwrite(tmp, _as_float32(np.ascontiguousarray(stored), path), imagej=True, resolution=resolution,
                     metadata=metadata)


def _write_npy(tmp, array, pixel_size, unit, path):
    with open(tmp, "wb") as handle:
        np.save(handle, array, allow_pickle=False)


def _write_npz(tmp, array, pixel_size, unit, path):
    extra = {}
    if pixel_size is not None:
        extra["pixel_size"] = np.float64(pixel_size)
        if unit is not None:
            extra["unit"] = np.str_(unit)
    with open(tmp, "wb") as handle:
        np.savez(handle, data=array, **extra)


def _write_h5(tmp, array, pixel_size, unit, path):
    import h5py

    with h5py.File(tmp, "w") as handle:
        dataset = handle.create_dataset("data", data=array)
        if pixel_size is not None:
            dataset.attrs["pixel_size"] = float(pixel_size)
            if unit is not None:
                dataset.attrs["unit"] = unit


def _mrc_angstrom(pixel_size, unit, path) -> float | None:
    if pixel_size is None:
        return None
    if unit not in LENGTH_UNITS:
        raise ValueError(f"{path}: MRC records the pixel size in Å, so its unit must be a length "
                         f"({', '.join(LENGTH_UNITS)}); received unit={unit!r}. Pass a length unit or no pixel_size.")
    return convert_length(pixel_size, unit, "Å")


def _write_mrc(tmp, array, pixel_size, unit, path):
    import mrcfile

    array = _spatial_image(array, path, ".mrc")
    if array.dtype not in (np.int8, np.int16, np.uint16, np.float16, np.float32):
        array = _as_float32(array, path)  # the MRC modes hold no float64 or 32/64-bit integers
    with mrcfile.new(tmp, overwrite=True) as mrc:
        mrc.set_data(np.ascontiguousarray(array))
        if array.ndim == 3:
            mrc.set_image_stack()
        angstrom = _mrc_angstrom(pixel_size, unit, path)
        if angstrom is not None:
            mrc.voxel_size = angstrom


def _write_rsciio(tmp, array, pixel_size, unit, path):
    suffix = path.suffix.lower()
    module = _rsciio_module(path, _RSCIIO_WRITERS)
    array = _spatial_image(array, path, suffix)
    spatial = dict(scale=float(pixel_size or 1.0), offset=0.0, units=unit or "", navigate=False)
    axes = [dict(name="y", size=array.shape[-2], **spatial), dict(name="x", size=array.shape[-1], **spatial)]
    if array.ndim == 3:
        axes.insert(0, dict(name="frame", size=array.shape[0], scale=1.0, offset=0.0, units="", navigate=True))
    from tfstem import __version__

    signal = dict(data=array, axes=axes, metadata={"General": {"title": path.stem}, "Signal": {"signal_type": ""}},
                  original_metadata={}, tmp_parameters={}, attributes={"_lazy": False}, learning_results={},
                  models={}, package_info={"name": "tfstem", "version": str(__version__)})
    options = {"show_progressbar": False} if suffix == ".hspy" else {}
    module.file_writer(str(tmp), signal, **options)


_WRITERS = {**dict.fromkeys(_TIFF, _write_tiff), ".npy": _write_npy, ".npz": _write_npz,
            **dict.fromkeys(_HDF5, _write_h5), ".mrc": _write_mrc, **dict.fromkeys(_RSCIIO_WRITERS, _write_rsciio)}


def _check_write(path: Path, shape, dtype, pixel_size, unit):
    """Validate a write before any file is touched; returns the checked ``(pixel_size, unit)``."""
    suffix = path.suffix.lower()
    if suffix not in WRITE_FORMATS:
        raise ValueError(f"{path}: cannot write {suffix or 'files without a suffix'}; use one of "
                         f"{', '.join(WRITE_FORMATS)}.")
    pixel_size = _check_pixel_size(pixel_size)
    unit = _check_unit(unit, pixel_size)
    if dtype is not None and np.dtype(dtype).kind in "OUSV":
        raise ValueError(f"{path}: cannot write an array of dtype {np.dtype(dtype)}; pass real numbers.")
    if suffix in (".npy", ".npz") + _HDF5:
        return pixel_size, unit  # array containers: any numeric array
    if dtype is not None and np.dtype(dtype).kind not in "iufb":
        raise ValueError(f"{path}: {suffix} stores real images; received dtype {np.dtype(dtype)}.")
    if shape is not None:
        try:
            _image_axes(tuple(shape))
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
        if suffix not in _TIFF:
            _spatial_image(np.empty(tuple(shape), dtype=np.uint8), path, suffix)
    if suffix == ".mrc":
        _mrc_angstrom(pixel_size, unit, path)
    if suffix in _RSCIIO_WRITERS:
        _rsciio_module(path, _RSCIIO_WRITERS)
        if pixel_size is not None and unit is None:
            raise ValueError(f"{path}: {suffix} records a pixel size only with its unit; pass unit= (e.g. 'nm').")
    if suffix in _TIFF and pixel_size is not None:
        _tiff_resolution(pixel_size, unit, path)
    return pixel_size, unit


def check_writable_format(path, *, pixel_size=None, unit=None, shape=None) -> None:
    """Raise ValueError unless :func:`write_image` can write such an image to ``path``'s format.

    Checks only the format, the metadata and the shape (no file system access), so that a command can
    refuse a bad output before any work; :func:`write_image` repeats it and checks the file system.

    Parameters
    ----------
    path : str or Path
        Output file; its suffix picks the format (one of :data:`WRITE_FORMATS`).
    pixel_size, unit : optional
        As for :func:`write_image`.
    shape : tuple of int, optional
        Shape of the array that will be written.
    """
    _check_write(Path(path), shape, None, pixel_size, unit)


def write_image(path, data, *, pixel_size=None, unit=None, force: bool = False, overwrite: bool | None = None) -> Path:
    """Write ``data`` to ``path`` with its pixel size and unit, atomically (see :mod:`tfstem.outputs`).

    Parameters
    ----------
    path : str or Path
        Output file; its suffix picks the format: ``.tif``/``.tiff`` (float32 ImageJ hyperstack),
        ``.npy``, ``.npz``, ``.h5``/``.hdf5`` (as is), ``.mrc`` (float32 unless int8/int16/uint16/float16;
        pixel size in Å), ``.emd`` (NCEM) or ``.hspy`` (RosettaSciIO).
    data : array_like
        ``[H, W]``, ``[N, H, W]``, ``[H, W, C]`` or ``[N, H, W, C]`` (any array for .npy/.npz/.h5);
        a real numeric dtype.
    pixel_size : float, optional
        Size of one pixel in ``unit``: finite and > 0.
    unit : str, optional
        Unit of ``pixel_size`` (normalised by :func:`normalize_unit`); only with ``pixel_size``.
        A pixel size without a unit is stored without one where the format allows (TIFF, HDF5, .npz).
    force : bool
        Replace an existing file (``--force``); otherwise an existing file raises FileExistsError.
    overwrite : bool, optional
        Former name of ``force``, kept for callers that use it.

    Returns
    -------
    Path
        The written path.

    Raises
    ------
    ValueError
        Unsupported suffix, a shape or dtype the format cannot hold, a bad ``pixel_size`` or ``unit``.
    FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError
        The target exists (without ``force``), is a folder, or its folder cannot receive files; checked
        before anything is written. An interrupted write leaves no file behind.
    ImportError
        ``.emd``/``.hspy`` without RosettaSciIO.

    Examples
    --------
    >>> write_image("frame.tif", np.zeros((64, 64), np.float32), pixel_size=1.5, unit="Å")  # doctest: +SKIP
    """
    path = Path(path)
    force = bool(force or overwrite)
    array = np.asarray(data)
    pixel_size, unit = _check_write(path, array.shape, array.dtype, pixel_size, unit)
    with atomic_file(path, force=force) as tmp:
        _WRITERS[path.suffix.lower()](tmp, array, pixel_size, unit, path)
    return path
