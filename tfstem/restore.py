"""``tfstem.restore``: run a restoration model on images of any size, shape and dtype.

Frames small enough are restored whole and batched; larger ones are cut into overlapping tiles that
are batched through the network and blended back with a smooth separable Butterworth window (the
r_em authors' ``predict_patch_based`` window: cutoff 0.33 of the tile, order 4), so that a
4096 x 4096 frame needs only a few GB and no seam is visible.
"""

from __future__ import annotations

import math
import weakref

import numpy as np

__all__ = ["restore", "tile_starts", "blending_window", "AUTO_WHOLE_FRAME_PIXELS", "AUTO_TILE_SIZE"]

#: Frames with at most this many pixels are restored whole when ``tile_size`` is None.
AUTO_WHOLE_FRAME_PIXELS = 1024 * 1024
#: Tile side used for larger frames when ``tile_size`` is None.
AUTO_TILE_SIZE = 512
#: Smallest tile accepted (the r_em authors' minimum patch).
MIN_TILE_SIZE = 32

_COMPILED = weakref.WeakKeyDictionary()


def _model_channels(model) -> int | None:
    channels = getattr(model, "input_channels", None)
    if channels is None and getattr(model, "inputs", None):
        channels = model.inputs[0].shape[-1]
    return None if channels is None else int(channels)


def _resolve_model(model):
    if model is None or isinstance(model, str) or hasattr(model, "__fspath__"):
        from tfstem.registry import load_model

        return load_model(model)
    if callable(model):
        return model
    raise ValueError(
        f"model must be a registry name, a path, a keras.Model or a callable; received {type(model).__name__}."
    )


def _as_frames(image, channels):
    """Validate ``image`` and view it as ``[N, H, W, C]`` float32; return it and a function undoing the view."""
    array = np.asarray(image)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ValueError(f"image must hold real numbers; received dtype {array.dtype}.")
    if np.iscomplexobj(array):
        raise ValueError("image is complex; pass real intensities, e.g. np.abs(image) or image.real.")
    if array.size == 0:
        raise ValueError(f"image is empty (shape {array.shape}); pass at least one pixel.")
    if array.ndim < 2 or array.ndim > 4:
        raise ValueError(
            f"image must be [H, W], [H, W, C], [N, H, W] or [N, H, W, C]; received {array.ndim}-D shape {array.shape}."
        )
    frames = array.astype(np.float32)  # always a copy: the caller's array is never modified
    if not np.all(np.isfinite(frames)):
        bad = int(np.size(frames) - np.count_nonzero(np.isfinite(frames)))
        raise ValueError(f"image contains {bad} NaN or inf values; replace them (e.g. np.nan_to_num) first.")
    shape = array.shape
    if array.ndim == 2:
        frames = frames[None, ..., None]
    elif array.ndim == 3:
        if shape[-1] <= 4:  # [H, W, C]: a real frame is never only 1-4 pixels wide
            frames = frames[None]
        else:  # [N, H, W]
            frames = frames[..., None]
    if channels is not None and frames.shape[-1] != channels:
        raise ValueError(
            f"the model takes {channels} channel(s) but the image has {frames.shape[-1]} (shape {shape}, read as "
            f"[N, H, W, C] = {list(frames.shape)}); pass [H, W], [N, H, W] for one channel or [..., {channels}]."
        )
    return frames, lambda out: out.reshape(shape)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``[0, length)`` with at least ``overlap`` overlap.

    The last tile is flush with the far edge. ``tile >= length`` gives ``[0]``.
    """
    if tile >= length:
        return [0]
    step = tile - overlap
    count = math.ceil((length - tile) / step) + 1
    starts = [min(i * step, length - tile) for i in range(count)]
    return sorted(set(starts))


def blending_window(tile_h: int, tile_w: int, *, cutoff: float = 0.33, order: int = 4) -> np.ndarray:
    """Separable Butterworth window ``[tile_h, tile_w]`` float32, 1 at the centre, ~0.04 at the edges.

    ``w(n) = 1 / (1 + (n / (cutoff * L))^(2 order))`` for ``n`` measured from the tile centre, as in the
    r_em authors' patch-based prediction; never zero, so borders of the image keep a defined weight.
    """

    def one_d(length):
        n = np.arange(length, dtype=np.float64) - (length - 1) / 2
        return 1.0 / (1.0 + (n / (cutoff * length)) ** (2 * order))

    return np.outer(one_d(tile_h), one_d(tile_w)).astype(np.float32)


def _predictor(model, jit_compile):
    """A traced inference function for ``model`` that does not retrace for new sizes."""
    import tensorflow as tf

    key = (bool(jit_compile),)
    try:
        cache = _COMPILED.setdefault(model, {})
    except TypeError:  # not weak-referenceable: do not cache
        cache = {}
    if key not in cache:
        if hasattr(model, "inputs") and getattr(model, "inputs", None):
            function = tf.function(lambda x: model(x, training=False), reduce_retracing=True, jit_compile=jit_compile)
        else:
            function = lambda x: model(x)  # noqa: E731  (a SavedModel signature is already a graph)
        cache[key] = function
    function = cache[key]

    def run(batch):
        return np.asarray(function(tf.constant(batch)), dtype=np.float32)

    return run


def _restore_whole(frames, run, batch_size, progress):
    out = np.empty_like(frames)
    for start in range(0, frames.shape[0], batch_size):
        out[start : start + batch_size] = run(frames[start : start + batch_size])
        progress.update(min(batch_size, frames.shape[0] - start))
    return out


def _restore_tiled(frame, run, tile_size, tile_overlap, batch_size, progress):
    """Restore one ``[H, W, C]`` frame tile by tile; returns ``[H, W, C]`` float32."""
    height, width, _ = frame.shape
    tile_h, tile_w = min(tile_size, height), min(tile_size, width)
    window = blending_window(tile_h, tile_w)[..., None]
    accumulated = np.zeros(frame.shape, dtype=np.float32)
    weight = np.zeros((height, width, 1), dtype=np.float32)
    corners = [(y, x) for y in tile_starts(height, tile_h, tile_overlap) for x in tile_starts(width, tile_w, tile_overlap)]
    for start in range(0, len(corners), batch_size):
        chunk = corners[start : start + batch_size]
        batch = np.stack([frame[y : y + tile_h, x : x + tile_w] for y, x in chunk])
        restored = run(batch)
        for (y, x), tile in zip(chunk, restored):
            accumulated[y : y + tile_h, x : x + tile_w] += tile * window
            weight[y : y + tile_h, x : x + tile_w] += window
        progress.update(len(chunk))
    return accumulated / weight


def restore(image, *, model=None, tile_size=None, tile_overlap=None, batch_size=None, verbose=True,
            jit_compile=False):
    """Restore (denoise) an electron-microscopy image, a multichannel image or a stack of them.

    Parameters
    ----------
    image : array_like
        ``[H, W]``, ``[H, W, C]`` (C <= 4), ``[N, H, W]`` or ``[N, H, W, C]``; any real dtype, any H and
        W (odd sizes included); raw intensities in any units. Never modified.
    model : str, path, keras.Model or callable, optional
        A registry name (default ``"r_em/hrstem"``, see :func:`tfstem.list_models`), a path to a
        ``.keras`` file or SavedModel, or a loaded model taking ``float32 [N, H, W, C]``.
    tile_size : int, optional
        Side of the square tiles in pixels. None: frames of up to 1024 x 1024 pixels are restored whole,
        larger ones in tiles of 512. A tile larger than the frame means "whole frame".
    tile_overlap : int, optional
        Overlap of neighbouring tiles in pixels (default ``tile_size // 4``); must be < ``tile_size``.
    batch_size : int, optional
        Frames or tiles per network call (default 8 for tiles of 256 or less, else 4; 4 whole frames).
    verbose : bool
        Show a tqdm progress bar for stacks and tiled frames.
    jit_compile : bool
        Compile the network with XLA (faster on some GPUs; measured in ``benchmarks/restore_speed.py``).

    Returns
    -------
    numpy.ndarray
        float32, the shape of ``image``, in the model's output units (the input's for CGRDN).

    Raises
    ------
    ValueError
        Empty, 1-D, more than 4-D, complex, non-numeric, NaN/inf input, a channel count the model does
        not take, a bad tile size or an unknown model name; the message says what is accepted.

    Examples
    --------
    >>> import numpy as np, tfstem
    >>> noisy = np.random.poisson(5.0, (300, 301)).astype("uint16")
    >>> clean = tfstem.restore(noisy)  # doctest: +SKIP
    >>> clean.shape, clean.dtype  # doctest: +SKIP
    ((300, 301), dtype('float32'))
    """
    from tqdm.auto import tqdm

    network = _resolve_model(model)
    frames, to_input_shape = _as_frames(image, _model_channels(network))
    n, height, width, _ = frames.shape
    if tile_size is not None:
        if int(tile_size) != tile_size or tile_size < MIN_TILE_SIZE:
            raise ValueError(f"tile_size must be an integer >= {MIN_TILE_SIZE}; received tile_size={tile_size}.")
        tile_size = int(tile_size)
    whole = (tile_size is None and height * width <= AUTO_WHOLE_FRAME_PIXELS) or (
        tile_size is not None and tile_size >= height and tile_size >= width
    )
    tile_size = tile_size or AUTO_TILE_SIZE
    if tile_overlap is None:
        tile_overlap = tile_size // 4
    if int(tile_overlap) != tile_overlap or not 0 <= tile_overlap < tile_size:
        raise ValueError(f"tile_overlap must be an integer in [0, tile_size); received tile_overlap={tile_overlap}.")
    if batch_size is None:
        batch_size = 4 if whole or tile_size > 256 else 8
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; received batch_size={batch_size}.")
    batch_size = int(batch_size)
    run = _predictor(network, jit_compile)

    if whole:
        total, unit = n, "frame"
    else:
        per_frame = len(tile_starts(height, min(tile_size, height), tile_overlap)) * len(
            tile_starts(width, min(tile_size, width), tile_overlap))
        total, unit = n * per_frame, "tile"
    with tqdm(total=total, unit=unit, desc="restore", disable=not verbose or total <= 1, leave=False) as progress:
        if whole:
            out = _restore_whole(frames, run, batch_size, progress)
        else:
            out = np.stack([_restore_tiled(f, run, tile_size, int(tile_overlap), batch_size, progress) for f in frames])
    return to_input_shape(out)
