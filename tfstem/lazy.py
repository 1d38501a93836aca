"""Restore a ``dask.array`` lazily, chunk by chunk, on one machine or a ``dask.distributed`` cluster.

``tfstem.restore(x)`` with ``x`` a ``dask.array`` calls :func:`restore_dask`, which returns a lazy array of
the same shape and chunks whose values equal the in-memory :func:`tfstem.restore` of the same frames (up to
float32 rounding), however the frames are chunked.

How each chunk is restored
--------------------------
* **Chunks that hold whole frames** (chunked along N only: the usual case, and what
  :func:`tfstem.lazy_io.read_lazy` produces) are restored by the in-memory :func:`tfstem.restore` itself, with
  the same options: same tiling, same per-frame standardisation, same result. Chunks along N need no overlap.
* **Frames restored whole** (``tile_size=None`` and at most 1024 x 1024 pixels, or ``tile_size`` at least the
  frame) but split along H or W are first rechunked to whole frames (the network needs the whole frame),
  and the result is rechunked back to the input's chunks.
* **Tiled frames split along H or W**: every chunk is restored with the *global* tile grid of the frame (the
  tiles :func:`tfstem.restore` would cut, :func:`~tfstem.tiling.tile_starts`) and the same Butterworth
  blending window. A chunk reads the input around it out to the farthest tile that covers one of its pixels
  (a halo of at most one tile), restores those tiles and blends them exactly as the in-memory tiling does,
  then keeps its own pixels. A chunk border is therefore no border at all: the output is the in-memory
  tiled restore, and chunk borders are as invisible as tile borders. Tiles that straddle a chunk border are
  computed by both chunks (the cost of exactness: about ``(1 + tile_size / chunk)**2`` tiles per chunk
  instead of 1 per ``(tile_size - tile_overlap)**2`` pixels; use chunks of several tiles).
* **Intensity standardisation** (CGRDN, the N2V deployable model; see :mod:`tfstem.restore`) uses whole-frame
  statistics. For split frames they are computed first by two cheap lazy reductions per frame and channel
  (mean, min, max; then the RMS about the mean), in float64 with the in-memory formulas, and passed to the
  chunks.

The model
---------
The task graph never holds the network itself. ``model`` is passed to the workers as a *reference*: a
registry name (``"r_em/hrstem"``) or an absolute path to a ``.keras`` file or SavedModel, which each worker
process loads once into :data:`_MODELS` (a module-level cache keyed by the reference) and reuses for every
later task. A ``keras.Model`` object is saved once to a temporary ``.keras`` file (deleted when the process
exits) and referenced by that path; the calling process keeps using the object itself. That works on the
threaded scheduler and on a cluster whose workers share the calling machine's ``/tmp`` (a ``LocalCluster``);
on a multi-machine cluster pass a registry name or a path on storage every worker can read, otherwise the
workers raise a ``FileNotFoundError`` that says so. Any other callable (e.g. a ``SavedModelRunner``) is
embedded in the graph: fine on the threaded scheduler, pickled to each task on a distributed cluster.

Within one process the network is called by one thread at a time (TensorFlow 2.21 crashed when two dask
threads called one traced model at once); one call already uses every core, and the other threads keep
reading, standardising and blending meanwhile. For more parallelism use more worker processes.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import weakref
from pathlib import Path

import numpy as np

__all__ = ["restore_dask", "frame_statistics", "model_reference", "cached_model"]

#: Models loaded in this process, keyed by their reference (registry name or absolute path).
_MODELS: dict = {}
_MODELS_LOCK = threading.Lock()
#: keras.Model objects already saved for workers: model -> reference (path of the temporary .keras file).
_SAVED = weakref.WeakKeyDictionary()
_TEMPORARY_DIR = None
# One network call at a time per process: tfstem.restore.predictor holds tfstem.restore.NETWORK_LOCK around each
# call, so threads still overlap reading, standardisation and blending with it.


def _import_dask():
    try:
        import dask.array as da
    except ImportError as error:  # pragma: no cover - the extra is missing
        raise ImportError("restoring a dask array needs dask: pip install 'tfstem[dask]'") from error
    return da


# ---------------------------------------------------------------------------------------------------
# the model: a reference in the graph, one load per worker process


def _temporary_dir() -> Path:
    global _TEMPORARY_DIR
    if _TEMPORARY_DIR is None:
        _TEMPORARY_DIR = Path(tempfile.mkdtemp(prefix="tfstem-dask-models-"))
        atexit.register(shutil.rmtree, _TEMPORARY_DIR, True)
    return _TEMPORARY_DIR


def model_reference(model):
    """What the task graph carries for ``model``: a registry name, an absolute path, or the callable itself.

    Parameters
    ----------
    model : None, str, path, keras.Model or callable
        None: the default registry model. A string that names an existing file or folder: that path, made
        absolute (workers may run elsewhere). Another string: a registry name. A ``keras.Model``: saved once
        to a temporary ``.keras`` file whose path is returned; this process keeps the object in its cache.
        Any other callable: returned as is (embedded in the graph).

    Returns
    -------
    str or callable
    """
    from tfstem.registry import DEFAULT_MODEL

    if model is None:
        return DEFAULT_MODEL
    if isinstance(model, str) or hasattr(model, "__fspath__"):
        text = os.fspath(model)
        if not text.strip():
            return text  # load_model says what is wrong with an empty name
        path = Path(text).expanduser()
        return str(path.resolve()) if path.exists() else text
    import keras

    if isinstance(model, keras.Model):
        if model in _SAVED:
            return _SAVED[model]
        path = _temporary_dir() / f"model-{len(os.listdir(_temporary_dir()))}.keras"
        try:
            model.save(path)
        except Exception:  # noqa: BLE001 - a model Keras cannot serialise: keep it in the graph instead
            return model
        reference = str(path)
        _SAVED[model] = reference
        with _MODELS_LOCK:
            _MODELS[reference] = model
        return reference
    if callable(model):
        return model
    raise ValueError(
        f"model must be a registry name, a path, a keras.Model or a callable; received {type(model).__name__}."
    )


def cached_model(reference):
    """The model for ``reference`` (see :func:`model_reference`), loaded at most once per process."""
    if not isinstance(reference, str):
        return reference
    with _MODELS_LOCK:
        if reference not in _MODELS:
            from tfstem.registry import load_model

            if os.path.isabs(reference) and not os.path.exists(reference):
                raise FileNotFoundError(
                    f"model file {reference} is not on this worker; on a multi-machine cluster pass a registry "
                    "name or a path on storage every worker can read (a keras.Model object is saved to the "
                    "calling machine's temporary folder)."
                )
            _MODELS[reference] = load_model(reference)
        return _MODELS[reference]


# ---------------------------------------------------------------------------------------------------
# whole-frame statistics of split frames


def frame_statistics(frames):
    """Per-frame, per-channel statistics that :mod:`tfstem.restore` standardises with, as lazy dask arrays.

    Parameters
    ----------
    frames : dask.array.Array ``[N, H, W, C]``, real, finite.

    Returns
    -------
    mean, peak, rms : dask.array.Array float64 ``[N, C]``, chunked like ``frames`` along N
        ``mean``: the frame's mean (its value for a constant frame); ``peak = max |x - mean|``;
        ``rms``: the RMS of ``(x - mean) / peak`` (0 for a constant frame). The standardised frame is
        ``(x - mean) / peak * (target_std / rms)``, as in :func:`tfstem.intensity.standardise_frames`.
    """
    da = _import_dask()
    values = frames.astype(np.float64)
    largest, smallest = values.max(axis=(1, 2)), values.min(axis=(1, 2))
    constant = largest == smallest
    mean = da.where(constant, largest, values.mean(axis=(1, 2)))
    peak = da.maximum(largest - mean, mean - smallest)  # = max |x - mean|: rounding is monotonic
    unit = (values - mean[:, None, None, :]) / da.where(peak > 0, peak, 1.0)[:, None, None, :]
    rms = da.where(constant, 0.0, da.sqrt((unit * unit).mean(axis=(1, 2))))
    return mean, peak, rms


# ---------------------------------------------------------------------------------------------------
# the chunk functions (run on the workers)


def _frame_range(block_info):
    if not block_info:
        return "frames"
    start, stop = block_info[0]["array-location"][0]
    return f"frames {start} to {stop - 1}"


def _restore_whole_frames(block, reference, options, block_info=None):
    """Restore a chunk ``[n, H, W, C]`` of whole frames with the in-memory :func:`tfstem.restore`."""
    from tfstem.restore import restore

    model = cached_model(reference)
    try:
        return restore(block, model=model, verbose=False, **options)
    except ValueError as error:
        raise ValueError(f"{_frame_range(block_info)}: {error}") from None


def _check_region(region, label):
    """The checks of the in-memory restore (NaN/inf, float32's range) on one chunk's input, named by ``label``."""
    from tfstem.io.series import check_values

    if region.size:
        try:
            check_values(region, name="image")
        except ValueError as error:
            raise ValueError(f"{label}: {error}") from None


def _restore_split_tiles(region, indices, mean, peak, rms, *, reference, plan):
    """Restore one chunk of split frames from its halo ``region`` with the frame's global tile grid.

    Parameters
    ----------
    region : numpy.ndarray ``[n, rh, rw, C]``, the input over every tile that covers a pixel of the chunk.
    indices : numpy.ndarray int64 ``[n]``, the frames' indices in the series (for error messages).
    mean, peak, rms : numpy.ndarray float64 ``[n, C]`` or None (a model that does not standardise).
    plan : dict
        ``ys``, ``xs``: tile starts relative to the region; ``tile``: ``(tile_h, tile_w)``; ``crop``:
        ``(top, left, height, width)`` of the chunk in the region; ``batch_size``, ``jit_compile`` (bool),
        ``precision`` ("float32" or "bfloat16"), ``target_std``.

    Returns
    -------
    numpy.ndarray float32 ``[n, height, width, C]``
    """
    from tfstem.intensity import check_restored
    from tfstem.restore import predictor
    from tfstem.tiling import blending_window

    label = f"frames {indices[0]} to {indices[-1]}"
    _check_region(region, label)
    if mean is not None and not (np.isfinite(mean).all() and np.isfinite(rms).all()):
        raise ValueError(f"{label}: image contains NaN or inf values; replace them (e.g. np.nan_to_num) first.")
    model = cached_model(reference)
    predict = predictor(model, plan["jit_compile"], plan["precision"])

    def run(batch):
        return predict(batch)

    tile_h, tile_w = plan["tile"]
    top, left, height, width = plan["crop"]
    standardised = mean is not None
    frames = region.astype(np.float64) if standardised else region.astype(np.float32)
    if standardised:
        m, p, r = (s[:, None, None, :] for s in (mean, peak, rms))
        frames = ((frames - m) / np.where(p > 0, p, 1.0) * (plan["target_std"] / np.where(r > 0, r, 1.0)))
        frames = frames.astype(np.float32)
    n, _, _, channels = frames.shape
    window = blending_window(tile_h, tile_w)[..., None]
    accumulated = np.zeros((n, *frames.shape[1:3], channels), dtype=np.float32)
    weight = np.zeros(frames.shape[1:3] + (1,), dtype=np.float32)
    corners = [(y, x) for y in plan["ys"] for x in plan["xs"]]
    for y, x in corners:
        weight[y: y + tile_h, x: x + tile_w] += window
    tiles = [(i, y, x) for i in range(n) for y, x in corners]
    batch_size = plan["batch_size"]
    for start in range(0, len(tiles), batch_size):
        chunk = tiles[start: start + batch_size]
        restored = run(np.stack([frames[i, y: y + tile_h, x: x + tile_w] for i, y, x in chunk]))
        for (i, y, x), tile in zip(chunk, restored):
            accumulated[i, y: y + tile_h, x: x + tile_w] += tile * window
    out = (accumulated / weight)[:, top: top + height, left: left + width]
    if standardised:
        scale = (rms * peak / plan["target_std"])[:, None, None, :]
        values = out.astype(np.float64) * scale + mean[:, None, None, :]
        for i in range(n):
            check_restored(values[i], int(indices[i]), standardised=True)
        return values.astype(np.float32)
    for i in range(n):
        check_restored(out[i], int(indices[i]), standardised=False)
    return out


# ---------------------------------------------------------------------------------------------------
# the lazy restore


def _frames4(x):
    """``x`` as ``[N, H, W, C]`` (lazy views) and the function that gives the result back its shape."""
    if x.ndim == 2:
        return x[None, :, :, None], lambda y: y[0, :, :, 0]
    if x.ndim == 3 and x.shape[-1] <= 4:  # [H, W, C]: the rule of tfstem.restore
        return x[None], lambda y: y[0]
    if x.ndim == 3:
        return x[..., None], lambda y: y[..., 0]
    return x, lambda y: y


def _checked_dask(x):
    from tfstem.io.series import check_real_dtype

    check_real_dtype(x.dtype, name="image")
    if any(np.isnan(s) for s in x.shape):
        raise ValueError(f"image has unknown chunk sizes (shape {x.shape}); call x.compute_chunk_sizes() first.")
    if x.size == 0:
        raise ValueError(f"image is empty (shape {x.shape}); pass at least one pixel.")
    if x.ndim < 2 or x.ndim > 4:
        raise ValueError(
            f"image must be [H, W], [H, W, C], [N, H, W] or [N, H, W, C]; received {x.ndim}-D shape {x.shape}."
        )


def restore_dask(x, *, model=None, tile_size=None, tile_overlap=None, batch_size=None, verbose=True,
                 jit_compile="auto", precision="auto", progress=None):
    """Restore a ``dask.array`` lazily: a lazy float32 array of the same shape and chunks.

    Called by :func:`tfstem.restore` for dask input; the options mean what they mean there. Nothing is
    computed here except the model load (once per process, to check the channels and whether the model
    standardises its input); ``.compute()``, ``.to_zarr()`` or :func:`tfstem.lazy_io.write_lazy` run the
    work on the active scheduler (threads by default, or a ``dask.distributed`` client).

    Parameters
    ----------
    x : dask.array.Array
        ``[H, W]``, ``[H, W, C]`` (C <= 4), ``[N, H, W]`` or ``[N, H, W, C]``; any real dtype; any chunks
        (chunks along H, W and C are allowed: see the module notes); finite and within float32's range
        (checked chunk by chunk when computed).
    model : str, path, keras.Model or callable, optional
        A registry name (default ``"r_em/hrstem"``) or a path, loaded once per worker process; a
        ``keras.Model`` is saved once to a temporary ``.keras`` file for the workers (see the module notes).
    tile_size, tile_overlap, batch_size, jit_compile, precision
        As for :func:`tfstem.restore` ("auto" is resolved here, once, for the loaded model).
    verbose, progress
        Validated as for :func:`tfstem.restore`; a lazy result shows no bar of its own: wrap the compute in
        ``dask.diagnostics.ProgressBar()`` (threads) or use ``distributed.progress`` (a cluster).

    Returns
    -------
    dask.array.Array
        float32, the shape and chunks of ``x``, in the model's output units (the input's for CGRDN and N2V).

    Raises
    ------
    ValueError
        As :func:`tfstem.restore` for what can be checked without computing (dtype, rank, empty, options,
        model, channels). NaN, inf or out-of-range values are reported when the chunk that holds them is
        computed, naming its frames.
    ImportError
        dask is not installed (``pip install 'tfstem[dask]'``).

    Examples
    --------
    >>> import dask.array as da, tfstem
    >>> series = da.random.poisson(5.0, (1000, 512, 512), chunks=(8, 512, 512)).astype("float32")
    >>> restored = tfstem.restore(series, model="r_em/hrstem")  # lazy  # doctest: +SKIP
    >>> restored.to_zarr("restored.zarr")  # doctest: +SKIP
    """
    da = _import_dask()
    from dask.base import tokenize

    from tfstem.intensity import network_input_std
    from tfstem.options import integer_option, optional_bool
    from tfstem.restore import AUTO_TILE_SIZE, AUTO_WHOLE_FRAME_PIXELS, MIN_TILE_SIZE, model_channels, \
        standardisation_layer
    from tfstem.tiling import check_overlap, tile_starts

    optional_bool("verbose", verbose)
    optional_bool("progress", progress, allow_none=True)
    from tfstem.precision import check_precision, resolve_precision
    from tfstem.restore import check_jit_compile, resolve_jit_compile

    check_jit_compile(jit_compile)
    check_precision(precision)
    if tile_size is not None:
        tile_size = integer_option("tile_size", tile_size, MIN_TILE_SIZE)
    if batch_size is not None:
        batch_size = integer_option("batch_size", batch_size, 1)
    _checked_dask(x)
    frames, back = _frames4(x)
    _, height, width, channels = frames.shape
    whole = (tile_size is None and height * width <= AUTO_WHOLE_FRAME_PIXELS) or (
        tile_size is not None and tile_size >= height and tile_size >= width)
    effective_tile = tile_size or AUTO_TILE_SIZE
    overlap = check_overlap(effective_tile // 4 if tile_overlap is None else tile_overlap, effective_tile,
                             height, width)

    reference = model_reference(model)
    network = cached_model(reference)
    expected = model_channels(network)
    if expected is not None and channels != expected:
        raise ValueError(
            f"the model takes {expected} channel(s) but the image has {channels}: received shape {x.shape}, read "
            f"as [N, H, W, C] = {list(frames.shape)} (a 3-D image is [H, W, C] when its last axis is <= 4, else "
            f"[N, H, W])."
        )
    precision = resolve_precision(precision, model=network)
    jit_compile = resolve_jit_compile(network, jit_compile, precision)
    options = dict(tile_size=tile_size, tile_overlap=tile_overlap, batch_size=batch_size, jit_compile=jit_compile,
                   precision=precision)
    original_chunks = frames.chunks
    if len(frames.chunks[3]) > 1:
        frames = frames.rechunk({3: channels})
    split = len(frames.chunks[1]) > 1 or len(frames.chunks[2]) > 1
    if not split or whole:
        if split:  # the network needs the whole frame: restore whole frames, give back the input's chunks
            frames = frames.rechunk({1: height, 2: width})
        restored = frames.map_blocks(_restore_whole_frames, reference, options, dtype=np.float32,
                                     token="tfstem-restore")
    else:
        layer = standardisation_layer(network)
        statistics = frame_statistics(frames) if layer is not None else (None, None, None)
        plan = dict(batch_size=batch_size or (8 if effective_tile <= 256 else 4), jit_compile=jit_compile,
                    precision=precision,
                    target_std=network_input_std(layer.std_floor, layer.std_multiplier) if layer else 1.0,
                    tile=(min(effective_tile, height), min(effective_tile, width)))
        indices = da.arange(frames.shape[0], chunks=(frames.chunks[0],))
        ys = tile_starts(height, plan["tile"][0], overlap)
        xs = tile_starts(width, plan["tile"][1], overlap)
        rows = []
        for r0, r1 in _bounds(frames.chunks[1]):
            row = []
            y_here = [y for y in ys if y < r1 and y + plan["tile"][0] > r0]
            for c0, c1 in _bounds(frames.chunks[2]):
                x_here = [v for v in xs if v < c1 and v + plan["tile"][1] > c0]
                top, bottom = y_here[0], y_here[-1] + plan["tile"][0]
                left, right = x_here[0], x_here[-1] + plan["tile"][1]
                region = frames[:, top:bottom, left:right].rechunk({1: bottom - top, 2: right - left})
                block_plan = dict(plan, ys=[y - top for y in y_here], xs=[v - left for v in x_here],
                                  crop=(r0 - top, c0 - left, r1 - r0, c1 - c0))
                arguments = [region, "nhwc", indices, "n"]
                for s in statistics:
                    arguments += [s, "nc"] if s is not None else [None, None]
                row.append(da.blockwise(
                    _restore_split_tiles, "nhwc", *arguments, dtype=np.float32,
                    adjust_chunks={"h": (r1 - r0,), "w": (c1 - c0,)}, reference=reference, plan=block_plan,
                    name=f"tfstem-restore-tiles-{r0}-{c0}-" + tokenize(region, reference, block_plan),
                    meta=np.empty((0, 0, 0, 0), np.float32),
                ))
            rows.append(da.concatenate(row, axis=2))
        restored = da.concatenate(rows, axis=1)
    if restored.chunks != original_chunks:
        restored = restored.rechunk(original_chunks)
    return back(restored)


def _bounds(chunks):
    edges = np.cumsum((0,) + tuple(chunks))
    return list(zip(edges[:-1].tolist(), edges[1:].tolist()))
