"""Reading and writing electron-microscopy images, keeping the pixel size where the format has one.

Core formats: TIFF stacks (tifffile), PNG/JPEG (imageio), NumPy ``.npy``, HDF5 ``.h5``/``.hdf5``
(h5py), MRC (mrcfile). Microscope formats (``.dm3``, ``.dm4``, ``.emd``, ``.ser``) go through
RosettaSciIO, an optional extra: ``pip install 'tfstem[em]'``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

__all__ = ["Image", "read_image", "write_image", "READ_FORMATS", "WRITE_FORMATS", "check_readable",
           "check_writable_format"]

_RSCIIO_PLUGINS = {".dm3": "digitalmicrograph", ".dm4": "digitalmicrograph", ".emd": "emd", ".ser": "tia"}
READ_FORMATS = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".npy", ".h5", ".hdf5", ".mrc") + tuple(_RSCIIO_PLUGINS)
WRITE_FORMATS = (".tif", ".tiff", ".npy", ".h5", ".hdf5")
_H5_DATASET_NAMES = ("data", "image", "images", "frames", "x")


@dataclasses.dataclass(frozen=True)
class Image:
    """An image read from disk.

    Attributes
    ----------
    data : numpy.ndarray
        ``[H, W]``, ``[N, H, W]`` or ``[H, W, C]`` in the file's dtype.
    pixel_size : float or None
        Size of one pixel in ``unit`` (None when the file does not say).
    unit : str or None
        Unit of ``pixel_size`` (e.g. ``"nm"``, ``"Å"``).
    """

    data: np.ndarray
    pixel_size: float | None = None
    unit: str | None = None


def check_readable(path: Path) -> None:
    """Raise FileNotFoundError/ValueError (one line) unless ``path`` is a non-empty file of a readable format."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file.")
    if path.is_dir():
        raise ValueError(f"{path} is a directory; pass an image file.")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes); it holds no image.")
    if path.suffix.lower() not in READ_FORMATS:
        raise ValueError(f"{path}: unsupported format {path.suffix!r}; readable: {', '.join(READ_FORMATS)}.")


def _read_tiff(path):
    import tifffile

    with tifffile.TiffFile(path) as tif:
        data = tif.asarray()
        pixel_size, unit = None, None
        page = tif.pages[0]
        meta = tif.imagej_metadata or (tif.shaped_metadata[0] if tif.shaped_metadata else {}) or {}
        tag = page.tags.get("XResolution")
        if tag is not None:
            numerator, denominator = tag.value
            if numerator and (numerator, denominator) != (1, 1):
                pixel_size = denominator / numerator
                unit = meta.get("unit")
                if unit is None:
                    res_unit = page.tags.get("ResolutionUnit")
                    unit = {2: "inch", 3: "cm"}.get(int(res_unit.value) if res_unit else 0)
    return Image(np.asarray(data), pixel_size, unit)


def _read_h5(path):
    import h5py

    with h5py.File(path, "r") as handle:
        datasets = []
        handle.visititems(lambda name, obj: datasets.append(name) if isinstance(obj, h5py.Dataset) else None)
        if not datasets:
            raise ValueError(f"{path} holds no dataset.")
        chosen = next((n for n in _H5_DATASET_NAMES if n in handle and isinstance(handle[n], h5py.Dataset)), None)
        if chosen is None:
            candidates = [n for n in datasets if handle[n].ndim >= 2]
            if len(candidates) != 1:
                raise ValueError(f"{path}: cannot tell which dataset is the image among {datasets}; "
                                 f"name it one of {_H5_DATASET_NAMES}.")
            chosen = candidates[0]
        dataset = handle[chosen]
        pixel_size = dataset.attrs.get("pixel_size")
        unit = dataset.attrs.get("unit")
        return Image(np.asarray(dataset[()]), None if pixel_size is None else float(pixel_size),
                     None if unit is None else str(unit))


def _read_mrc(path):
    import mrcfile

    with mrcfile.open(path, permissive=True) as mrc:
        data = np.array(mrc.data)
        size = float(mrc.voxel_size.x)
    return Image(data, size if size > 0 else None, "Å" if size > 0 else None)


def _read_rsciio(path):
    try:
        module = __import__(f"rsciio.{_RSCIIO_PLUGINS[path.suffix.lower()]}", fromlist=["file_reader"])
    except ImportError as error:
        raise ImportError(f"reading {path.suffix} files needs RosettaSciIO: pip install 'tfstem[em]'") from error
    signals = module.file_reader(str(path))
    images = [s for s in signals if np.asarray(s["data"]).ndim >= 2]
    if not images:
        raise ValueError(f"{path} holds no image (only spectra or metadata).")
    signal = images[0]
    axes = [a for a in signal.get("axes", []) if a.get("navigate") is False or len(signal.get("axes", [])) <= 2]
    pixel_size, unit = None, None
    if axes:
        scale = axes[-1].get("scale")
        units = axes[-1].get("units")
        if scale and units not in (None, "", "<undefined>"):
            pixel_size, unit = float(scale), str(units)
    return Image(np.asarray(signal["data"]), pixel_size, unit)


def read_image(path) -> Image:
    """Read an image or stack from ``path``.

    Parameters
    ----------
    path : str or Path
        ``.tif``/``.tiff`` (stacks), ``.png``, ``.jpg``, ``.npy``, ``.h5``/``.hdf5`` (dataset ``data``,
        ``image``, ``images``, ``frames`` or ``x``, or the only image dataset), ``.mrc``, and with
        RosettaSciIO ``.dm3``, ``.dm4``, ``.emd``, ``.ser``.

    Returns
    -------
    Image
        The array in the file's dtype, and the pixel size with its unit when the file records one.

    Raises
    ------
    FileNotFoundError, ValueError
        Missing, empty or unreadable file, or unsupported format (the message lists the formats).
    ImportError
        A microscope format without RosettaSciIO installed.
    """
    path = Path(path)
    check_readable(path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            image = _read_tiff(path)
        elif suffix in (".png", ".jpg", ".jpeg"):
            import imageio.v3 as iio

            image = Image(np.asarray(iio.imread(path)))
        elif suffix == ".npy":
            image = Image(np.load(path, allow_pickle=False))
        elif suffix in (".h5", ".hdf5"):
            image = _read_h5(path)
        elif suffix == ".mrc":
            image = _read_mrc(path)
        else:
            image = _read_rsciio(path)
    except (ImportError, FileNotFoundError):
        raise
    except Exception as error:  # a corrupt file: say which and why, in one line
        if isinstance(error, ValueError) and str(path) in str(error):
            raise  # already our own message
        reason = " ".join(str(error).split())
        raise ValueError(f"{path}: cannot read it as {suffix} ({type(error).__name__}: {reason}).") from error
    if image.data.size == 0:
        raise ValueError(f"{path} holds an empty array of shape {image.data.shape}.")
    return image


def check_writable_format(path) -> None:
    """Raise ValueError unless ``path`` has a suffix :func:`write_image` can write."""
    suffix = Path(path).suffix.lower()
    if suffix not in WRITE_FORMATS:
        raise ValueError(f"{path}: cannot write {suffix or 'files without a suffix'}; use one of {', '.join(WRITE_FORMATS)}.")


def write_image(path, data, *, pixel_size=None, unit=None, overwrite=False) -> Path:
    """Write ``data`` to ``path`` (``.tif``/``.tiff`` float32 with the pixel size, ``.npy`` or ``.h5``).

    Parameters
    ----------
    path : str or Path
        Output file; its suffix picks the format.
    data : array_like
        ``[H, W]``, ``[N, H, W]`` or ``[H, W, C]``; written as float32 for TIFF, as is otherwise.
    pixel_size : float, optional
        Pixel size to record (TIFF resolution tags + ImageJ unit, HDF5 attributes).
    unit : str, optional
        Unit of ``pixel_size`` (default ``"nm"`` when ``pixel_size`` is given without one).
    overwrite : bool
        Replace an existing file; otherwise an existing file raises FileExistsError.

    Returns
    -------
    Path
        The written path.
    """
    path = Path(path)
    check_writable_format(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (or --force) to replace it.")
    array = np.asarray(data)
    suffix = path.suffix.lower()
    unit = unit or ("nm" if pixel_size is not None else None)
    tmp = path.with_name(f".{path.name}.partial{suffix}")
    try:
        if suffix in (".tif", ".tiff"):
            import tifffile

            resolution = (1.0 / pixel_size, 1.0 / pixel_size) if pixel_size else None
            frames_only = array.ndim == 2 or (array.ndim == 3 and array.shape[-1] > 4)
            if frames_only:  # ImageJ hyperstack: Fiji reads the pixel size and unit
                tifffile.imwrite(tmp, array.astype(np.float32), imagej=True, resolution=resolution,
                                 metadata={"unit": unit} if unit else {})
            else:  # [H, W, C] or [N, H, W, C]: channels kept as contiguous samples
                tifffile.imwrite(tmp, array.astype(np.float32), photometric="minisblack", planarconfig="contig",
                                 resolution=resolution, resolutionunit="NONE" if resolution else None,
                                 metadata={"unit": unit} if unit else {})
        elif suffix == ".npy":
            with open(tmp, "wb") as handle:
                np.save(handle, array)
        else:
            import h5py

            with h5py.File(tmp, "w") as handle:
                dataset = handle.create_dataset("data", data=array)
                if pixel_size is not None:
                    dataset.attrs["pixel_size"] = float(pixel_size)
                    dataset.attrs["unit"] = unit
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
