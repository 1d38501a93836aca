"""Writing images: :func:`write_image` (atomic) and one writer per format (TIFF in :mod:`tfstem.io.tiff`).

Each writer is ``writer(tmp, array, pixel_size, unit, path)``: it writes ``array`` to the temporary file
``tmp`` that :func:`tfstem.outputs.atomic_file` renames to ``path`` once complete. MRC, ``.emd`` and
``.hspy`` hold ``[H, W]`` and ``[N, H, W]``: a single channel is written without its channel axis, several
are refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfstem.io.formats import HDF5_SUFFIXES, RSCIIO_WRITERS, TIFF_SUFFIXES, WRITE_FORMATS, rsciio_module
from tfstem.io.image import as_float32, image_axes
from tfstem.io.tiff import tiff_resolution, write_tiff
from tfstem.io.units import LENGTH_UNITS, check_pixel_size, check_unit, convert_length
from tfstem.outputs import atomic_file

__all__ = ["write_image", "check_writable_format", "WRITERS"]

def _spatial_image(array: np.ndarray, path, suffix: str) -> np.ndarray:
    """``[H, W]`` or ``[N, H, W]`` for formats without a channels axis (a single channel is dropped)."""
    axes = image_axes(array.shape)
    if axes.endswith("C"):
        if array.shape[-1] != 1:
            raise ValueError(f"{path}: {suffix} holds [H, W] or [N, H, W] images, not {array.shape[-1]} channels "
                             f"(shape {array.shape}); write .tif, .npy, .npz or .h5.")
        array = array[..., 0]
    return array


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
        array = as_float32(array, path)  # the MRC modes hold no float64 or 32/64-bit integers
    with mrcfile.new(tmp, overwrite=True) as mrc:
        mrc.set_data(np.ascontiguousarray(array))
        if array.ndim == 3:
            mrc.set_image_stack()
        angstrom = _mrc_angstrom(pixel_size, unit, path)
        if angstrom is not None:
            mrc.voxel_size = angstrom


def _write_rsciio(tmp, array, pixel_size, unit, path):
    suffix = path.suffix.lower()
    module = rsciio_module(path, RSCIIO_WRITERS)
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


WRITERS = {**dict.fromkeys(TIFF_SUFFIXES, write_tiff), ".npy": _write_npy, ".npz": _write_npz,
           **dict.fromkeys(HDF5_SUFFIXES, _write_h5), ".mrc": _write_mrc,
           **dict.fromkeys(RSCIIO_WRITERS, _write_rsciio)}


def _check_write(path: Path, shape, dtype, pixel_size, unit):
    """Validate a write before any file is touched; returns the checked ``(pixel_size, unit)``."""
    suffix = path.suffix.lower()
    if suffix not in WRITE_FORMATS:
        raise ValueError(f"{path}: cannot write {suffix or 'files without a suffix'}; use one of "
                         f"{', '.join(WRITE_FORMATS)}.")
    pixel_size = check_pixel_size(pixel_size)
    unit = check_unit(unit, pixel_size)
    if dtype is not None and np.dtype(dtype).kind in "OUSV":
        raise ValueError(f"{path}: cannot write an array of dtype {np.dtype(dtype)}; pass real numbers.")
    if suffix in (".npy", ".npz") + HDF5_SUFFIXES:
        return pixel_size, unit  # array containers: any numeric array
    if dtype is not None and np.dtype(dtype).kind not in "iufb":
        raise ValueError(f"{path}: {suffix} stores real images; received dtype {np.dtype(dtype)}.")
    if shape is not None:
        try:
            image_axes(tuple(shape))
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
        if suffix not in TIFF_SUFFIXES:
            _spatial_image(np.empty(tuple(shape), dtype=np.uint8), path, suffix)
    if suffix == ".mrc":
        _mrc_angstrom(pixel_size, unit, path)
    if suffix in RSCIIO_WRITERS:
        rsciio_module(path, RSCIIO_WRITERS)
        if pixel_size is not None and unit is None:
            raise ValueError(f"{path}: {suffix} records a pixel size only with its unit; pass unit= (e.g. 'nm').")
    if suffix in TIFF_SUFFIXES and pixel_size is not None:
        tiff_resolution(pixel_size, unit, path)
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
        WRITERS[path.suffix.lower()](tmp, array, pixel_size, unit, path)
    return path
