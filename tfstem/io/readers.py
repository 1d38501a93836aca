"""Reading images: :func:`read_image` and one reader per format family (TIFF in :mod:`tfstem.io.tiff`).

Each reader takes a path and returns ``(Image, channels_hint)``, the hint being the stored axis that holds
the channels when the file says so (an ImageJ hyperstack), else None. :func:`read_image` turns any failure
into one line that names the file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from tfstem.io.formats import HDF5_SUFFIXES, IMAGE_ARRAY_NAMES, READ_FORMATS, RSCIIO_READERS, TIFF_SUFFIXES, \
    rsciio_module
from tfstem.io.image import Image, move_channels_last
from tfstem.io.tiff import read_tiff
from tfstem.io.units import normalize_unit, positive_size, size_from_keys

__all__ = ["read_image", "check_readable", "check_image_array", "choose_array", "h5_image", "rsciio_image",
           "signal_axes", "one_line"]

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


def choose_array(path, names, ndims) -> str:
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


def h5_image(path, handle):
    """The image dataset of an open HDF5 file and its ``(pixel_size, unit)`` (dataset or file attributes)."""
    import h5py

    datasets = {}
    handle.visititems(lambda name, obj: datasets.__setitem__(name, obj.ndim)
                      if isinstance(obj, h5py.Dataset) else None)
    if not datasets:
        raise ValueError(f"{path} holds no dataset.")
    dataset = handle[choose_array(path, list(datasets), datasets)]
    size = size_from_keys(dict(dataset.attrs))
    return dataset, size if size[0] is not None else size_from_keys(dict(handle.attrs))


def _read_h5(path):
    import h5py

    with h5py.File(path, "r") as handle:
        dataset, (pixel_size, unit) = h5_image(path, handle)
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
        name = choose_array(path, names, _npz_ndims(archive))
        metadata = {key: archive[key] for key in names if key.startswith(("pixel_size", "unit"))}
        data = archive[name]
    pixel_size, unit = size_from_keys(metadata)
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
            size = positive_size(mrc.voxel_size.x)
    return Image(data, size, "Å" if size else None), None


def _read_rsciio(path):
    signal, (pixel_size, unit) = rsciio_image(path, rsciio_module(path, RSCIIO_READERS).file_reader(str(path)))
    return Image(np.asarray(signal["data"]), pixel_size, unit), None


def rsciio_image(path, signals):
    """The first image among RosettaSciIO's ``signals`` and its ``(pixel_size, unit)``.

    Images only (2-D signals, not spectra), with square pixels; the data is not touched, so that
    :mod:`tfstem.lazy_io` applies the same rules to a lazily read signal.
    """
    images = [s for s in signals if np.ndim(s["data"]) >= 2 and len(signal_axes(s)) != 1]
    if not images:
        raise ValueError(f"{path} holds no image (only spectra or metadata); tfstem restores 2-D signals.")
    signal = images[0]
    axes = signal_axes(signal)
    pixel_size, unit = None, None
    if axes:
        unit = normalize_unit(axes[-1].get("units"))
        pixel_size = positive_size(axes[-1].get("scale")) if unit else None
        if pixel_size and len(axes) >= 2 and normalize_unit(axes[-2].get("units")) == unit:
            other = positive_size(axes[-2].get("scale"))
            if other and not np.isclose(other, pixel_size, rtol=1e-6):
                raise ValueError(f"{path} has non-square pixels ({other:g} x {pixel_size:g} {unit}, y x x); "
                                 f"resample it to square pixels first.")
    return signal, (pixel_size, unit if pixel_size else None)


def signal_axes(signal) -> list:
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


_READERS = {**dict.fromkeys(TIFF_SUFFIXES, read_tiff), **dict.fromkeys(HDF5_SUFFIXES, _read_h5), ".npz": _read_npz,
            ".mrc": _read_mrc, **dict.fromkeys(RSCIIO_READERS, _read_rsciio),
            **dict.fromkeys((".png", ".jpg", ".jpeg", ".npy"), _read_plain)}


def check_image_array(path, data) -> np.ndarray:
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


def one_line(error: BaseException, limit: int = 300) -> str:
    """The message of ``error`` on one line, cut to ``limit`` characters (for "cannot read it as ..." errors)."""
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
            raise ValueError(one_line(error)) from error  # already our own message
        raise ValueError(f"{path}: cannot read it as {suffix} ({type(error).__name__}: {one_line(error)}).") \
            from error
    data = check_image_array(path, image.data)
    axis = channels_axis if channels_axis is not None else hint
    if axis is not None:
        try:
            data = move_channels_last(data, axis)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
    return Image(data, image.pixel_size, image.unit)
