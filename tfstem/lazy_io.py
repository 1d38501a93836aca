"""Reading files larger than memory as ``dask.array`` and writing them back chunk by chunk.

Read lazily (:func:`read_lazy`): nothing is loaded until a chunk is computed, and each chunk reads only its
frames. The pixel size and unit are those :func:`tfstem.io.read_image` returns for the same file.

* ``.zarr`` (a folder: a root array, or a group whose image array is named one of
  :data:`tfstem.io.IMAGE_ARRAY_NAMES`); the pixel size from the array's (else the group's) attributes
  ``pixel_size`` and ``unit``, as :func:`write_lazy` stores them.
* ``.h5``/``.hdf5`` (h5py, the dataset :func:`tfstem.io.read_image` picks), ``.npy`` (a memory map), TIFF
  stacks and ImageJ hyperstacks page by page (``tifffile.imread(aszarr=True)``): the file is opened once per
  worker process, so the graph holds only its path and the work can run on a ``dask.distributed`` cluster
  whose workers see the same path.
* ``.emd``, ``.hspy``, ``.dm3``/``.dm4`` through RosettaSciIO's ``lazy=True`` (the ``em`` extra).
* Other formats (``.png``, ``.npz``, ``.mrc``, ``.ser``) are read whole by :func:`tfstem.io.read_image` and
  wrapped in a dask array: they work, but are not bounded in memory.

Chunks hold whole frames, :data:`CHUNK_BYTES` of float32 at most (8 frames of 1024 x 1024), so that
:func:`tfstem.lazy.restore_dask` restores each chunk exactly as the in-memory restore does; only a frame larger
than :data:`FRAME_SPLIT_BYTES` is split into chunks of :data:`SPLIT_CHUNK` x :data:`SPLIT_CHUNK` pixels.

Written chunk by chunk (:func:`write_lazy`): ``.zarr`` (a root array with attributes ``pixel_size``, ``unit``
and ``axes``), ``.h5``/``.hdf5`` (dataset ``data`` with attributes ``pixel_size`` and ``unit``, as
:func:`tfstem.io.write_image` writes it), ``.tif``/``.tiff`` (the ImageJ hyperstack of
:func:`tfstem.io.write_image`, page by page) and ``.npy``. The result is computed in steps of a few chunks
(as many as the scheduler runs at once) on the active scheduler or a given ``distributed.Client``; each
step is written by the calling process, so only the calling process needs to see the output folder, and
memory stays bounded by a few chunks whatever the length of the series. Everything is written under a
temporary hidden name beside the target and renamed when complete (:mod:`tfstem.outputs`): an interrupted
run leaves nothing that looks finished. Other formats (``.emd``, ``.hspy``, ``.mrc``, ``.npz``) are computed
whole and written by :func:`tfstem.io.write_image`.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from tfstem import io as tio
from tfstem import outputs
from tfstem.io.formats import RSCIIO_READERS, rsciio_module
from tfstem.io.image import as_float32, image_axes
from tfstem.io.readers import choose_array, h5_image, one_line, rsciio_image
from tfstem.io.tiff import IMAGEJ_AXES, TFSTEM_AXES, LogRecords, imagej_unit, restore_singleton_axes, tiff_pixel_size, \
    tiff_resolution
from tfstem.io.units import check_pixel_size, check_unit, size_from_keys

__all__ = ["read_lazy", "write_lazy", "check_readable", "check_writable", "LAZY_READ_FORMATS",
           "STREAM_WRITE_FORMATS", "CHUNK_BYTES", "FRAME_SPLIT_BYTES", "SPLIT_CHUNK"]

#: Formats read without loading the whole file.
LAZY_READ_FORMATS = (".zarr", ".h5", ".hdf5", ".npy", ".tif", ".tiff", ".emd", ".hspy", ".dm3", ".dm4")
#: Formats written chunk by chunk; other :data:`tfstem.io.WRITE_FORMATS` are computed whole, then written.
STREAM_WRITE_FORMATS = (".zarr", ".h5", ".hdf5", ".tif", ".tiff", ".npy")
#: Largest chunk, in bytes of float32 (the restored dtype): 8 frames of 1024 x 1024.
CHUNK_BYTES = 32 * 2**20
#: A frame larger than this (float32 bytes; 8192 x 8192) is split into spatial chunks.
FRAME_SPLIT_BYTES = 256 * 2**20
#: Side of the spatial chunks of split frames, in pixels.
SPLIT_CHUNK = 4096

_HANDLES: dict = {}
_HANDLES_LOCK = threading.Lock()


def _import_dask():
    try:
        import dask.array as da
    except ImportError as error:  # pragma: no cover - the extra is missing
        raise ImportError("reading and writing files larger than memory needs dask: "
                          "pip install 'tfstem[dask]'") from error
    return da


# --------------------------------------------------------------------------------------------------- checks


def check_readable(path) -> None:
    """Raise FileNotFoundError/ValueError (one line) unless :func:`read_lazy` can try ``path``."""
    path = Path(path)
    if path.suffix.lower() == ".zarr":
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or folder.")
        if not path.is_dir():
            raise ValueError(f"{path}: a .zarr store is a folder; this is a file.")
        return
    tio.check_readable(path)


def check_writable(path, *, force: bool = False, pixel_size=None, unit=None, shape=None, what="output") -> None:
    """Check, before any work, that :func:`write_lazy` can write such an image to ``path`` (format and place)."""
    path = Path(path)
    if path.suffix.lower() == ".zarr":
        if shape is not None:
            image_axes(tuple(shape))
        unit = check_unit(unit, check_pixel_size(pixel_size))
        outputs.check_new_directory(path, force=force, what=what)
        return
    tio.check_writable_format(path, pixel_size=pixel_size, unit=unit, shape=shape)
    outputs.check_new_file(path, force=force, what=what)


# --------------------------------------------------------------------------------------------------- chunks


def default_chunks(shape) -> tuple:
    """Chunks of whole frames for an image of ``shape`` (``[H, W]``, ``[N, H, W]``, ``[H, W, C]``, ``[N, H, W, C]``)."""
    axes = image_axes(tuple(shape))
    height, width = shape[axes.index("Y")], shape[axes.index("X")]
    channels = shape[-1] if axes.endswith("C") else 1
    frame_bytes = 4 * height * width * channels
    spatial = (min(height, SPLIT_CHUNK), min(width, SPLIT_CHUNK)) if frame_bytes > FRAME_SPLIT_BYTES \
        else (height, width)
    frames = max(1, CHUNK_BYTES // frame_bytes) if frame_bytes <= FRAME_SPLIT_BYTES else 1
    chunks = {"T": min(frames, shape[0]) if axes.startswith("T") else None, "Y": spatial[0], "X": spatial[1],
              "C": channels}
    return tuple(chunks[a] for a in axes)


# --------------------------------------------------------------------------------------------------- readers


class _FileArray:
    """A picklable array-like over one array of a file, opened once per process (for ``da.from_array``)."""

    def __init__(self, kind: str, path: str, name: str | None, shape, dtype):
        self.kind, self.path, self.name = kind, path, name
        self.shape, self.dtype = tuple(int(s) for s in shape), np.dtype(dtype)
        self.ndim = len(self.shape)

    def _open(self):
        key = (self.kind, self.path, self.name)
        with _HANDLES_LOCK:
            if key not in _HANDLES:
                _HANDLES[key] = _OPENERS[self.kind](self.path, self.name)
            return _HANDLES[key]

    def __getitem__(self, item):
        return np.asarray(self._open()[item])


def _open_h5(path, name):
    import h5py

    return h5py.File(path, "r")[name]


def _open_npy(path, name):
    return np.load(path, mmap_mode="r", allow_pickle=False)


def _open_tiff(path, name):
    import tifffile
    import zarr

    return zarr.open(tifffile.imread(path, aszarr=True), mode="r")


_OPENERS = {"h5": _open_h5, "npy": _open_npy, "tiff": _open_tiff}


def _from_file(da, kind, path, name, shape, dtype):
    from dask.base import tokenize

    source = _FileArray(kind, str(path), name, shape, dtype)
    token = tokenize(kind, str(path), name, os.stat(path).st_mtime_ns, shape, str(dtype))
    chunks = tuple(1 if s == 0 else s for s in shape)  # rechunked to the frame chunks by read_lazy
    if len(shape) >= 3:
        chunks = (1,) + chunks[1:]
    return da.from_array(source, chunks=chunks, name=f"tfstem-read-{token}", asarray=True, fancy=False,
                         inline_array=False)


def _read_zarr(path, da):
    import zarr

    store = zarr.open(str(path), mode="r")
    if isinstance(store, zarr.Array):
        return da.from_zarr(store), size_from_keys(dict(store.attrs)), None
    arrays = dict(store.arrays())
    name = choose_array(path, list(arrays), {n: a.ndim for n, a in arrays.items()})
    pixel_size, unit = size_from_keys(dict(arrays[name].attrs))
    if pixel_size is None:
        pixel_size, unit = size_from_keys(dict(store.attrs))
    return da.from_zarr(arrays[name]), (pixel_size, unit), None


def _read_h5(path, da):
    import h5py

    with h5py.File(path, "r") as handle:
        dataset, size = h5_image(path, handle)
        name, shape, dtype = dataset.name.lstrip("/"), dataset.shape, dataset.dtype
    return _from_file(da, "h5", path, name, shape, dtype), size, None


def _read_npy(path, da):
    header = np.load(path, mmap_mode="r", allow_pickle=False)
    return _from_file(da, "npy", path, None, header.shape, header.dtype), (None, None), None


def _read_tiff(path, da):
    import tifffile

    with LogRecords("tifffile") as log, tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        axes, shape, dtype = series.axes, series.shape, series.dtype
        imagej = tif.imagej_metadata or {}
        shaped = (tif.shaped_metadata[0] if tif.shaped_metadata else None) or {}
        size = tiff_pixel_size(tif.pages[0], imagej, shaped)
    if log.messages:
        raise ValueError(f"{path}: damaged or truncated TIFF ({'; '.join(dict.fromkeys(log.messages))}).")
    data = _from_file(da, "tiff", path, None, shape, dtype)
    recorded = str(imagej.get("tfstem_axes", ""))
    if recorded in TFSTEM_AXES:  # written by tfstem: give back its exact shape (lazily)
        try:
            return restore_singleton_axes(data, axes, recorded), size, None
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
    hint = axes.index("C") if "C" in axes and len(shape) == len(axes) else None  # Fiji's TCYX, CYX
    return data, size, hint


def _read_rsciio(path, da):
    module = rsciio_module(path, RSCIIO_READERS)
    signal, size = rsciio_image(path, module.file_reader(str(path), lazy=True))  # the rules of read_image
    data = signal["data"]
    if not hasattr(data, "dask"):
        data = da.from_array(np.asarray(data))
    return da.asarray(data), size, None


def _read_whole(path, da):
    image = tio.read_image(path)
    return da.from_array(image.data), (image.pixel_size, image.unit), None


_LAZY_READERS = {".zarr": _read_zarr, ".h5": _read_h5, ".hdf5": _read_h5, ".npy": _read_npy, ".tif": _read_tiff,
                 ".tiff": _read_tiff, ".emd": _read_rsciio, ".hspy": _read_rsciio, ".dm3": _read_rsciio,
                 ".dm4": _read_rsciio}


def read_lazy(path, *, channels_axis: int | None = None, chunks=None) -> tio.Image:
    """Read an image or series from ``path`` as a lazy ``dask.array``, with its pixel size and unit.

    Parameters
    ----------
    path : str or Path
        A ``.zarr`` folder or any file :func:`tfstem.io.read_image` reads (lazily for
        :data:`LAZY_READ_FORMATS`, see the module notes).
    channels_axis : int, optional
        As for :func:`tfstem.io.read_image`: the stored axis that holds the channels, moved last.
    chunks : tuple, optional
        The dask chunks; default :func:`default_chunks` (whole frames, at most :data:`CHUNK_BYTES`).

    Returns
    -------
    tfstem.io.Image
        ``data``: a ``dask.array`` ``[H, W]``, ``[N, H, W]``, ``[H, W, C]`` or ``[N, H, W, C]`` in the file's
        dtype; ``pixel_size`` and ``unit`` as :func:`tfstem.io.read_image` gives them.

    Raises
    ------
    FileNotFoundError, ValueError, ImportError
        As :func:`tfstem.io.read_image`, one line naming the file.
    """
    da = _import_dask()
    path = Path(path).expanduser().absolute()  # workers may run in another folder or on another machine
    check_readable(path)
    suffix = path.suffix.lower()
    reader = _LAZY_READERS.get(suffix, _read_whole)
    try:
        data, (pixel_size, unit), hint = reader(path, da)
    except (ImportError, FileNotFoundError, PermissionError):
        raise
    except Exception as error:  # noqa: BLE001 - a corrupt file: one line naming it
        if isinstance(error, ValueError) and str(path) in str(error):
            raise
        raise ValueError(f"{path}: cannot read it as {suffix} ({type(error).__name__}: {one_line(error)}).") \
            from error
    if np.dtype(data.dtype).kind not in "iuf":
        raise ValueError(f"{path} holds dtype {data.dtype}; an image must hold real numbers (integer or float).")
    if data.ndim < 2 or data.size == 0:
        raise ValueError(f"{path} holds an array of shape {data.shape}; an image has at least 2 non-empty "
                         f"dimensions ([H, W]).")
    axis = channels_axis if channels_axis is not None else hint
    if axis is not None:
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -data.ndim <= axis < data.ndim:
            raise ValueError(f"{path}: channels_axis={axis!r} is out of range for an array of shape {data.shape} "
                             f"(accepted: {-data.ndim} to {data.ndim - 1}).")
        data = da.moveaxis(data, int(axis), -1)
    if data.ndim > 4:
        raise ValueError(f"{path} holds a {data.ndim}-D array of shape {data.shape}; an image is [H, W], "
                         f"[N, H, W], [H, W, C] or [N, H, W, C].")
    data = data.rechunk(chunks or default_chunks(data.shape))
    return tio.Image(data, pixel_size, unit)


# --------------------------------------------------------------------------------------------------- writers


class _ZarrTarget:
    def __init__(self, folder, shape, chunks, dtype, pixel_size, unit):
        import zarr

        self.array = zarr.open_array(str(folder), mode="w", shape=shape, chunks=chunks, dtype=dtype)
        attributes = {"axes": image_axes(shape)}
        if pixel_size is not None:
            attributes["pixel_size"] = float(pixel_size)
            if unit is not None:
                attributes["unit"] = unit
        self.array.attrs.update(attributes)

    def write(self, start, values):
        self.array[slice(None) if start is None else slice(start, start + len(values))] = values


class _H5Target:
    def __init__(self, file, shape, chunks, dtype, pixel_size, unit):
        import h5py

        self.handle = h5py.File(file, "w")
        self.dataset = self.handle.create_dataset("data", shape=shape, dtype=dtype,
                                                  chunks=tuple(min(c, s) for c, s in zip(chunks, shape)))
        if pixel_size is not None:
            self.dataset.attrs["pixel_size"] = float(pixel_size)
            if unit is not None:
                self.dataset.attrs["unit"] = unit

    def write(self, start, values):
        self.dataset[slice(None) if start is None else slice(start, start + len(values))] = values

    def close(self):
        self.handle.close()


class _NpyTarget:
    def __init__(self, file, shape, chunks, dtype, pixel_size, unit):
        self.array = np.lib.format.open_memmap(file, mode="w+", dtype=dtype, shape=shape)

    def write(self, start, values):
        self.array[slice(None) if start is None else slice(start, start + len(values))] = values

    def close(self):
        self.array.flush()
        del self.array


def _parallelism(client) -> int:
    if client is not None:
        return max(1, sum(client.nthreads().values()))
    import dask

    return max(1, int(dask.config.get("num_workers", None) or os.cpu_count() or 1))


def _steps(data, client):
    """``(start, stop)`` frame ranges of a few whole chunks each: as many chunks as run at once."""
    if not image_axes(data.shape).startswith("T"):
        return [(0, 1)]
    per_step = _parallelism(client)
    edges = np.cumsum((0,) + tuple(data.chunks[0])).tolist()
    return [(edges[i], edges[min(i + per_step, len(edges) - 1)]) for i in range(0, len(edges) - 1, per_step)]


def _computed_steps(data, client, bar):
    """Yield ``(start, values)`` for each step, computed on ``client`` (the next one submitted in advance)."""
    framed = image_axes(data.shape).startswith("T")
    pieces = [(start, data[start:stop]) if framed else (None, data) for start, stop in _steps(data, client)]
    if client is None:
        for start, piece in pieces:
            values = np.asarray(piece.compute())
            bar.update(len(values) if framed else 1)
            yield start, values
        return
    pending = client.compute(pieces[0][1]) if pieces else None
    try:
        for i, (start, _) in enumerate(pieces):
            current = pending
            pending = client.compute(pieces[i + 1][1]) if i + 1 < len(pieces) else None
            values = np.asarray(current.result())
            bar.update(len(values) if framed else 1)
            yield start, values
    finally:
        if pending is not None:
            pending.cancel()


def write_lazy(path, data, *, pixel_size=None, unit=None, force: bool = False, progress: bool = False,
               client=None) -> Path:
    """Compute ``data`` step by step and write it to ``path`` with its pixel size and unit, atomically.

    Parameters
    ----------
    path : str or Path
        ``.zarr`` (a folder), ``.h5``/``.hdf5``, ``.tif``/``.tiff`` or ``.npy`` are written chunk by chunk;
        other :data:`tfstem.io.WRITE_FORMATS` are computed whole and written by :func:`tfstem.io.write_image`.
    data : dask.array.Array or array_like
        ``[H, W]``, ``[N, H, W]``, ``[H, W, C]`` or ``[N, H, W, C]``, a real dtype (written as is; TIFF as
        float32). A series is computed a few chunks at a time (as many as the scheduler runs at once).
    pixel_size, unit : optional
        As for :func:`tfstem.io.write_image`.
    force : bool
        Replace an existing output (only once the new one is complete).
    progress : bool
        A tqdm bar of the frames written, on stderr.
    client : distributed.Client, optional
        Compute on this cluster (the next step is submitted while the current one is written); default:
        the active dask scheduler (threads, or a default distributed client).

    Returns
    -------
    Path

    Raises
    ------
    ValueError, OSError
        As :func:`tfstem.io.write_image`; checked before any work. An interrupt (Ctrl-C) or an error while
        computing removes the temporary output and leaves ``path`` untouched.
    """
    da = _import_dask()
    from tqdm.auto import tqdm

    from tfstem.progress import ElapsedTicker

    path = Path(path)
    data = data if hasattr(data, "dask") else da.asarray(data)
    suffix = path.suffix.lower()
    check_writable(path, force=force, pixel_size=pixel_size, unit=unit, shape=data.shape)
    pixel_size = check_pixel_size(pixel_size)
    unit = check_unit(unit, pixel_size)
    if suffix not in STREAM_WRITE_FORMATS:
        values = data.compute() if client is None else client.compute(data).result()
        return tio.write_image(path, values, pixel_size=pixel_size, unit=unit, force=force)
    axes = image_axes(data.shape)
    total = data.shape[0] if axes.startswith("T") else 1
    chunks = tuple(c[0] for c in data.chunks)
    bar = tqdm(total=total, unit="frame", desc="restore", disable=not progress, leave=False)
    with bar, ElapsedTicker(bar):
        if suffix == ".zarr":
            with outputs.atomic_directory(path, force=force) as staging:
                target = _ZarrTarget(staging, data.shape, chunks, data.dtype, pixel_size, unit)
                for start, values in _computed_steps(data, client, bar):
                    target.write(start, values)
        elif suffix in (".tif", ".tiff"):
            with outputs.atomic_file(path, force=force) as tmp:
                _write_tiff_pages(tmp, data, axes, pixel_size, unit, path, client, bar)
        else:
            with outputs.atomic_file(path, force=force) as tmp:
                kind = _H5Target if suffix in (".h5", ".hdf5") else _NpyTarget
                target = kind(tmp, data.shape, chunks, data.dtype, pixel_size, unit)
                try:
                    for start, values in _computed_steps(data, client, bar):
                        target.write(start, values)
                finally:
                    target.close()
    return path


def _write_tiff_pages(tmp, data, axes, pixel_size, unit, path, client, bar):
    """The ImageJ hyperstack of :func:`tfstem.io.write_image`, one page at a time (float32)."""
    import tifffile

    imagej_axes = IMAGEJ_AXES[axes]
    metadata = {"axes": imagej_axes, "tfstem_axes": axes}
    resolution = None
    if pixel_size is not None:
        resolution, pixel_size, unit = tiff_resolution(pixel_size, unit, path)
        if unit is not None:
            metadata["unit"] = imagej_unit(unit)
        resolution = (resolution, resolution)
    shape = data.shape
    stored = (shape[0], shape[3], shape[1], shape[2]) if axes == "TYXC" else \
        (shape[2], shape[0], shape[1]) if axes == "YXC" else shape

    def pages():
        for _, values in _computed_steps(data, client, bar):
            values = as_float32(np.asarray(values), path)
            frames = values if axes.startswith("T") else values[None]
            for frame in frames:
                if axes.endswith("C"):
                    yield from np.moveaxis(frame, -1, 0)
                else:
                    yield frame

    tifffile.imwrite(tmp, data=pages(), shape=stored, dtype=np.float32, imagej=True, resolution=resolution,
                     metadata=metadata)
