"""``tfstem.restore``: run a restoration model on images of any size, shape, dtype and intensity scale.

Frames small enough are restored whole and batched; larger ones are cut into overlapping tiles that
are batched through the network and blended back with a smooth separable Butterworth window (the
r_em authors' ``predict_patch_based`` window: cutoff 0.33 of the tile, order 4), so that a
4096 x 4096 frame needs only a few GB and no seam is visible.

Intensity scale
---------------
The network computes in float32, whose squares overflow above ~1.8e19 and whose absolute std floor
(0.1 for the r_em CGRDN) silently changes the result of images whose values are small. So, for a model
that standardises each image itself (:func:`standardisation_layer`: CGRDN, the N2V deployable model),
each frame and channel is first mapped, in float64 on the caller's values, to mean 0 and std 1
(``x' = (x - mean) / std``), restored, and mapped back (``y = mean + std * y'``). Because such a model is
exactly equivariant to that affine map wherever its floor does not bite, the result is the model's own
wherever the floor does not bite, any finite input is safe, and ``restore(a * x + b) == a * restore(x) + b``
for every ``a > 0``. Other models (Noise2Atom's fixed training min/max, a bare SavedModel, a callable)
receive the intensities unchanged, as float32.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

from tfstem.intensity import check_restored, destandardise_into, network_input_std, standardise_frames
from tfstem.io.series import frames_view
from tfstem.options import integer_option, optional_bool
from tfstem.precision import check_precision, resolve_precision
from tfstem.progress import ElapsedTicker
from tfstem.tiling import blending_window, check_overlap, tile_count, tile_starts

__all__ = ["restore", "tile_starts", "tile_count", "blending_window", "standardisation_layer",
           "AUTO_WHOLE_FRAME_PIXELS", "AUTO_TILE_SIZE", "MIN_TILE_SIZE", "PROGRESS_PIXELS", "XLA_FASTER",
           "resolve_jit_compile"]

#: Frames with at most this many pixels are restored whole when ``tile_size`` is None.
AUTO_WHOLE_FRAME_PIXELS = 1024 * 1024
#: Tile side used for larger frames when ``tile_size`` is None.
AUTO_TILE_SIZE = 512
#: Smallest tile accepted (the r_em authors' minimum patch).
MIN_TILE_SIZE = 32
#: With ``progress=None``, a single frame or tile of at least this many pixels shows a progress bar
#: (about 5 s for the r_em CGRDN on two CPU cores).
PROGRESS_PIXELS = 512 * 512
#: ``jit_compile="auto"``: ``(architecture, precision, device) -> True`` where XLA was measured faster than
#: TensorFlow's own kernels; absent means off. CPU (2 Sapphire-Rapids cores, TF 2.21 oneDNN, 2026-12-03):
#: CGRDN 256 x 256 float32 0.76 s without XLA, 1.18 s with, bfloat16 0.19 s / 1.24 s; N2V U-Net 512 x 512
#: dual-channel (one warm call each, machine shared): paper size (64 features) float32 5.4 s / 4.7 s in one
#: run and 3.7 s / 4.4 s in the next, bfloat16 0.73 s / 6.1 s; CPU preset (16 features) float32 0.31 s /
#: 0.79 s, bfloat16 0.11 s / 0.82 s. So off everywhere on the CPU (XLA's CPU backend does not use oneDNN's
#: AMX kernels). GPU: XLA for the U-Net, as Keras's own ``jit_compile="auto"`` does for training there (not yet
#: measured on a GPU in this project: issue 18's GPU script is to confirm it).
XLA_FASTER = {("pooling_unet", "float32", "gpu"): True, ("pooling_unet", "bfloat16", "gpu"): True}

_COMPILED = weakref.WeakKeyDictionary()

#: One network call at a time per process. TensorFlow 2.21's oneDNN kernels are not safe when one traced
#: model runs in several threads at once (dask threads calling ``restore``): :mod:`tfstem.lazy` saw a
#: segmentation fault, and a threaded test saw one block of frames come back as garbage (values ~1e24). A
#: single call already uses every core (intra-op threads), so serialising costs nothing on a CPU.
NETWORK_LOCK = threading.RLock()


# ---------------------------------------------------------------------------------------------------
# the model


def model_channels(model) -> int | None:
    """The number of input channels ``model`` takes (its ``input_channels`` or its input's last axis), or None."""
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


def _check_model_channels(frames: np.ndarray, shape: tuple, channels: int | None) -> None:
    """A ``ValueError`` unless ``frames`` (``[N, H, W, C]``, read from an image of ``shape``) has ``channels``."""
    if channels is None or frames.shape[-1] == channels:
        return
    accepted = ("[H, W], [N, H, W] (N > 4 or W > 4), [H, W, 1] or [N, H, W, 1]" if channels == 1
                else f"[H, W, {channels}] or [N, H, W, {channels}]")
    raise ValueError(
        f"the model takes {channels} channel(s) but the image has {frames.shape[-1]}: received shape {shape}, "
        f"read as [N, H, W, C] = {list(frames.shape)} (a 3-D image is [H, W, C] when its last axis is <= 4, "
        f"else [N, H, W]); pass {accepted}."
    )


# ---------------------------------------------------------------------------------------------------
# the intensity scale (the standardisation itself: tfstem.intensity)


def _graph_nodes(model):
    """``{id(node): (operation, node)}`` of a functional model, walking back from its outputs."""
    nodes, stack = {}, list(model.outputs)
    while stack:
        operation, node_index, _ = stack.pop()._keras_history
        node = operation._inbound_nodes[node_index]
        if id(node) not in nodes:
            nodes[id(node)] = (operation, node)
            stack.extend(node.input_tensors)
    return nodes


def _key(tensor):
    operation, node_index, tensor_index = tensor._keras_history
    return id(operation), node_index, tensor_index


def standardisation_layer(model):
    """The :class:`~tfstem.layers.StandardizePerImage` layer that makes ``model`` affine-equivariant, or None.

    A model qualifies when its graph is ``image -> PadToMultiple (mode mean, reflect or symmetric)* ->
    StandardizePerImage -> ... -> Destandardize (with the same mean and scale) -> CropToReference*`` and
    nothing else reads the raw image (a crop may use it as its size reference) or the statistics. Such a
    model computes ``f(a x + b) = a f(x) + b`` for ``a > 0`` wherever ``std_multiplier * std >= std_floor``:
    the CGRDN (r_em) and the N2V deployable model do; Noise2Atom (fixed training min/max) and a bare
    SavedModel do not (None).
    """
    try:
        import keras

        if not isinstance(model, keras.Model) or len(model.inputs) != 1 or len(model.outputs) != 1:
            return None
        from tfstem.layers import CropToReference, Destandardize, PadToMultiple, StandardizePerImage

        nodes = _graph_nodes(model)
        by_output = {_key(t): (op, node) for op, node in nodes.values() for t in node.output_tensors}
        consumers = {}
        for op, node in nodes.values():
            for position, tensor in enumerate(node.input_tensors):
                consumers.setdefault(_key(tensor), []).append((op, position))
        standardise = [(op, node) for op, node in nodes.values() if isinstance(op, StandardizePerImage)]
        destandardise = [(op, node) for op, node in nodes.values() if isinstance(op, Destandardize)]
        if len(standardise) != 1 or len(destandardise) != 1:
            return None
        (layer, s_node), (d_layer, d_node) = standardise[0], destandardise[0]
        # the output is the de-standardised result, possibly cropped
        op, node = by_output[_key(model.outputs[0])]
        while isinstance(op, CropToReference):
            op, node = by_output[_key(node.input_tensors[0])]
        if node is not d_node:
            return None
        # the mean and scale go only to that Destandardize
        statistics = [_key(t) for t in s_node.output_tensors[1:]]
        if [_key(t) for t in d_node.input_tensors[1:]] != statistics:
            return None
        if any(reader is not d_layer for key in statistics for reader, _ in consumers.get(key, [])):
            return None
        # before the standardisation: only padding that commutes with an affine map, and no other reader
        tensor, chain_next = s_node.input_tensors[0], layer
        while True:
            readers = consumers.get(_key(tensor), [])
            if any(op is not chain_next and not (isinstance(op, CropToReference) and position == 1)
                   for op, position in readers):
                return None
            op, node = by_output[_key(tensor)]
            if isinstance(op, keras.layers.InputLayer):
                return layer if _key(tensor) == _key(model.inputs[0]) else None
            if not isinstance(op, PadToMultiple) or op.mode == "zero":
                return None
            tensor, chain_next = node.input_tensors[0], op
    except (AttributeError, IndexError, KeyError, TypeError):  # not a functional graph we can read
        return None


# ---------------------------------------------------------------------------------------------------
# the network (the tiles: tfstem.tiling)


def resolve_jit_compile(model, jit_compile="auto", precision="float32") -> bool:
    """Whether to compile ``model``'s inference with XLA: ``jit_compile`` itself, or the measured rule for "auto".

    "auto" is True only where XLA was measured faster for the model's :func:`tfstem.precision.architecture`
    and precision on this kind of device (:data:`XLA_FASTER`): on a CPU nowhere (TensorFlow's oneDNN
    kernels beat XLA's for the CGRDN in float32 and bfloat16, and for the N2V U-Net in bfloat16 and at the
    CPU preset's size); on a GPU for the pooling U-Net (N2V). Anything else: False.
    """
    jit_compile = check_jit_compile(jit_compile)
    if jit_compile != "auto":
        return jit_compile
    from tfstem.precision import _gpu_details, architecture

    device = "gpu" if _gpu_details() else "cpu"
    return XLA_FASTER.get((architecture(model), precision, device), False)


def check_jit_compile(jit_compile):
    """``jit_compile`` if it is "auto", True or False; else a ``ValueError`` that says what is accepted."""
    if isinstance(jit_compile, str) and jit_compile == "auto":
        return jit_compile
    if not isinstance(jit_compile, (bool, np.bool_)):
        raise ValueError(f"jit_compile must be 'auto', True or False; received jit_compile={jit_compile!r}.")
    return bool(jit_compile)


def predictor(model, jit_compile, precision="float32"):
    """A traced inference function for ``model`` that does not retrace for new sizes.

    Returns ``run(batch)``: ``float32 [B, H, W, C]`` in, ``float32`` NumPy out; ``run.function`` is the
    ``tf.function`` (for its tracing count). One function per model, XLA flag and precision
    (``"float32"`` or ``"bfloat16"``: then the network is :func:`tfstem.precision.bfloat16_model`'s copy),
    kept while the model lives, so frames of a series and tiles of one size reuse one trace.
    :mod:`tfstem.lazy` calls it too, and ``benchmarks/restore_dask.py`` wraps it (as
    ``tfstem.restore.predictor``) to time the network.
    """
    import tensorflow as tf

    if precision not in ("float32", "bfloat16"):  # "auto" is resolved by the caller, for the model at hand
        raise ValueError(f"predictor takes precision 'float32' or 'bfloat16'; received precision={precision!r}.")
    key = (bool(jit_compile), precision)
    try:
        cache = _COMPILED.setdefault(model, {})
    except TypeError:  # not weak-referenceable: do not cache
        cache = {}
    if key not in cache:
        if precision == "bfloat16":
            from tfstem.precision import bfloat16_model

            network = bfloat16_model(model)
        else:
            network = model
        if hasattr(network, "inputs") and getattr(network, "inputs", None):
            function = tf.function(lambda x: tf.cast(network(x, training=False), tf.float32),
                                   reduce_retracing=True, jit_compile=jit_compile)
        else:
            function = lambda x: network(x)  # noqa: E731  (a SavedModel signature is already a graph)
        cache[key] = function
    function = cache[key]

    def run(batch):
        with NETWORK_LOCK:
            return np.array(function(tf.constant(batch)), dtype=np.float32)

    run.function = function
    return run


def _is_ready_copy(network) -> bool:
    """Whether ``network`` is a :class:`tfstem.ready.ReadyModel` (checked without importing that module)."""
    return getattr(network, "runtime", None) == "litert"


def _standardisation(network):
    """What ``network`` standardises with (``std_floor``, ``std_multiplier``), or None: its layer, or a ready copy's record."""
    return network.standardisation if _is_ready_copy(network) else standardisation_layer(network)


def _runner(network, jit_compile, precision):
    """``run(batch)`` for ``network``: :func:`predictor`, or a ready (LiteRT) copy itself (one call at a time by
    its own lock; no TensorFlow)."""
    if _is_ready_copy(network):
        if precision == "bfloat16" or jit_compile is True:
            raise ValueError(f"{network!r} runs float32 without XLA only; received precision={precision!r}, "
                             f"jit_compile={jit_compile!r}. Pass the TensorFlow model (tfstem.load_model) for those.")
        return network
    precision = resolve_precision(precision, model=network)
    return predictor(network, resolve_jit_compile(network, jit_compile, precision), precision)


def _restore_whole(frames, run, batch_size, progress):
    out = np.empty(frames.shape, dtype=np.float32)
    for start in range(0, frames.shape[0], batch_size):
        out[start : start + batch_size] = run(frames[start : start + batch_size])
        progress.update(min(batch_size, frames.shape[0] - start))
    return out


def _restore_tiled(frame, run, tile_size, tile_overlap, batch_size, progress):
    """Restore one ``[H, W, C]`` float32 frame tile by tile; returns ``[H, W, C]`` float32."""
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


def _is_instance_of(value, module: str, name: str) -> bool:
    """``isinstance(value, module.name)`` without importing ``module`` (True only if it is already imported)."""
    import sys

    loaded = sys.modules.get(module)
    kind = getattr(loaded, name, None) if loaded is not None else None
    return isinstance(kind, type) and isinstance(value, kind)


def restore(image, *, model=None, tile_size=None, tile_overlap=None, batch_size=None, verbose=True,
            jit_compile="auto", precision="auto", progress=None):
    """Restore (denoise) an electron-microscopy image, a multichannel image or a stack of them.

    Parameters
    ----------
    image : array_like
        ``[H, W]``, ``[H, W, C]`` (C <= 4), ``[N, H, W]`` or ``[N, H, W, C]``; any real dtype (bool,
        integers up to 64 bits, float16 to float64), any H and W (odd sizes included); raw intensities in
        any units and at any scale, finite and within float32's range (+-3.4e38, the output's dtype).
        Never modified. Also a ``dask.array`` (restored lazily chunk by chunk, see
        :func:`tfstem.lazy.restore_dask`) or a HyperSpy ``Signal2D``/``LazySignal2D`` (a signal of the same
        class with the same axes comes back, see :func:`tfstem.hyperspy.restore_signal`).
    model : str, path, keras.Model or callable, optional
        A registry name (default ``"r_em/hrstem"``, see :func:`tfstem.list_models`), a path to a
        ``.keras`` file or SavedModel, or a loaded model taking ``float32 [N, H, W, C]``, including a ready
        (LiteRT) copy from :func:`tfstem.ready.load_ready` or :func:`tfstem.ready.prepare`: the same float32
        network without TensorFlow (fast start-up; float32 only; agrees with TensorFlow to rounding,
        1.5e-6 to 1.4e-5 of the output's range on tk-r-em's six test sets).
    tile_size : int, optional
        Side of the square tiles in pixels, >= 32. None: frames of up to 1024 x 1024 pixels are restored
        whole, larger ones in tiles of 512. A tile larger than the frame means "whole frame".
    tile_overlap : int, optional
        Overlap of neighbouring tiles in pixels, from 0 to ``tile_size // 2`` (default ``tile_size // 4``);
        more would multiply the tiles without bound for no visible gain.
    batch_size : int, optional
        Frames or tiles per network call, >= 1 (default 8 for tiles of 256 or less, else 4; 4 whole frames).
    verbose : bool
        False: print nothing. True: a tqdm progress bar on stderr as ``progress`` says.
    jit_compile : {"auto", True, False}
        Compile the network with XLA. "auto" (default): only where XLA was measured faster for the model's
        structure, precision and device (:data:`XLA_FASTER`, :func:`resolve_jit_compile`): never on a CPU
        (TensorFlow's oneDNN kernels beat XLA's there for the CGRDN and the N2V U-Net, e.g. 0.76 s against
        1.18 s for the CGRDN on a 256 x 256 frame), and for the N2V U-Net on a GPU.
    precision : {"auto", "float32", "bfloat16"}
        Arithmetic of the network; the per-frame standardisation and de-standardisation around it stay
        float64/float32 and the result is float32 either way. "float32" reproduces the authors' outputs
        (the fidelity tests use it). "bfloat16" rebuilds a functional Keras model under the
        ``mixed_bfloat16`` policy (:func:`tfstem.precision.bfloat16_model`): several times faster where the
        hardware multiplies bfloat16 natively (AMX or AVX-512-BF16 CPUs, GPUs of compute capability >= 8.0;
        4x for the CGRDN on two Sapphire-Rapids cores), slower elsewhere; a model that cannot be rebuilt
        (a SavedModel, a callable) is a ``ValueError``. "auto" (default) picks bfloat16 only for a model
        structure where it met issue 18's rule (agreement with float32 >= 45 dB PSNR, change in PSNR
        against clean targets < 0.05 dB; ``benchmarks/precision_agreement.py``) and only on such hardware
        (:func:`tfstem.precision.resolve_precision`): the N2V U-Net (65.6 dB, +0.014 dB) but not the r_em
        CGRDN, which agrees at 57.7-64.5 dB but loses 2.3 dB on one of tk-r-em's six test sets (lrsem, where
        float32 reaches 89 dB on one frame), so "auto" is float32 for it and ``precision="bfloat16"`` is
        the 2-4x faster choice to make by hand (:data:`tfstem.precision.BFLOAT16_BY_DEFAULT`).
    progress : bool, optional
        With ``verbose``: None (default) shows a bar when there are several frames or tiles, or when one
        frame or tile has at least :data:`PROGRESS_PIXELS` (512 x 512) pixels; True always (the command
        line); False never. The bar's elapsed time keeps moving during a single long network call.

    Returns
    -------
    numpy.ndarray
        float32, the shape of ``image``, in the model's output units (the input's for CGRDN and N2V).

    Raises
    ------
    ValueError
        Empty, 1-D, more than 4-D, complex, non-numeric, NaN/inf input or values beyond float32's range; a
        channel count the model does not take; a bad ``tile_size``, ``tile_overlap`` or ``batch_size``
        (NaN, inf, bool, text, negative, too small; an overlap above half a tile); a ``precision`` other than
        "auto", "float32" or "bfloat16", a ``jit_compile`` other than "auto", True or False; bfloat16 for a
        model that is not a functional Keras model; an unknown model name; a model that returns NaN/inf for
        finite input. The message says what was received and what is accepted.

    Notes
    -----
    **Intensity scale.** For a model that standardises each image itself (:func:`standardisation_layer`:
    CGRDN, the N2V deployable model), every frame and channel is mapped to mean 0 and std 1 with its own
    statistics, computed in float64 on the caller's values, then restored and mapped back in float64:

    * any finite input is safe (float32 up to 3e38, uint64 near 2**64, int64 extremes, float64 at 1e30 or
      1e-30); values beyond float32's range (float64 1e300) are refused, and results below float32's
      smallest subnormal (~1e-45, e.g. float64 at 1e-200) come back as 0;
    * ``restore(a * x + b) == a * restore(x) + b`` for every ``a > 0`` (up to float32 rounding);
    * where the frame's std is at least the model's floor (CGRDN: 0.1 in the input's units, the authors'
      ``lay_r_em_pp``), the result is the model's own call on the raw frame up to float32 rounding. Below
      it (a frame whose values are small, e.g. scaled to [0, 1e-3]) the floor no longer bites: the frame is
      restored as if its values were large, rather than as a near-copy of the input;
    * a constant frame (std 0) comes back as that constant.

    With **tiles**, the mapping still uses the whole frame's statistics, applied before the frame is cut;
    each tile is then standardised by the network with the tile's own statistics, so the floor applies
    relative to the frame: a tile flatter than 0.1 times the frame's std is floored (the model's call on the
    raw tile would floor it at 0.1 in absolute units). The result stays exactly scale-equivariant.

    Other models (Noise2Atom's fixed training min/max, a SavedModel without its ``.keras``, a callable)
    receive the intensities unchanged as float32, since rescaling would change their answer; a NaN or
    inf in their output is an error, never returned.

    Examples
    --------
    >>> import numpy as np, tfstem
    >>> noisy = np.random.poisson(5.0, (300, 301)).astype("uint16")
    >>> clean = tfstem.restore(noisy)  # doctest: +SKIP
    >>> clean.shape, clean.dtype  # doctest: +SKIP
    ((300, 301), dtype('float32'))
    """
    from tqdm.auto import tqdm

    options = dict(model=model, tile_size=tile_size, tile_overlap=tile_overlap, batch_size=batch_size,
                   verbose=verbose, jit_compile=jit_compile, precision=precision, progress=progress)
    if _is_instance_of(image, "hyperspy.signal", "BaseSignal"):  # HyperSpy imported only when one is passed
        from tfstem.hyperspy import restore_signal

        return restore_signal(image, **options)
    if _is_instance_of(image, "dask.array", "Array"):  # lazy in, lazy out: chunks restored with overlap
        from tfstem.lazy import restore_dask

        return restore_dask(image, **options)
    verbose = optional_bool("verbose", verbose)
    progress = optional_bool("progress", progress, allow_none=True)
    check_jit_compile(jit_compile)
    check_precision(precision)
    if tile_size is not None:
        tile_size = integer_option("tile_size", tile_size, MIN_TILE_SIZE)
    if batch_size is not None:
        batch_size = integer_option("batch_size", batch_size, 1)
    shape = np.shape(image)
    frames = frames_view(image, name="image")  # real, finite, within float32's range; never copied or cast
    _, height, width, _ = frames.shape
    whole = (tile_size is None and height * width <= AUTO_WHOLE_FRAME_PIXELS) or (
        tile_size is not None and tile_size >= height and tile_size >= width
    )
    tile_size = tile_size or AUTO_TILE_SIZE
    tile_overlap = check_overlap(tile_size // 4 if tile_overlap is None else tile_overlap, tile_size, height, width)
    if batch_size is None:
        batch_size = 4 if whole or tile_size > 256 else 8

    network = _resolve_model(model)
    _check_model_channels(frames, shape, model_channels(network))
    layer = _standardisation(network)
    if layer is not None:
        inputs, mean, scale = standardise_frames(frames, network_input_std(layer.std_floor, layer.std_multiplier))
    else:
        inputs = frames.astype(np.float32)  # within float32's range: checked above
    run = _runner(network, jit_compile, precision)

    n = frames.shape[0]
    total = n if whole else n * tile_count(height, width, tile_size, tile_overlap)
    step_pixels = height * width if whole else min(tile_size, height) * min(tile_size, width)
    show = verbose and (progress if progress is not None else total > 1 or step_pixels >= PROGRESS_PIXELS)
    bar = tqdm(total=total, unit="frame" if whole else "tile", desc="restore", disable=not show, leave=False)
    with bar, ElapsedTicker(bar):
        if whole:
            restored = _restore_whole(inputs, run, batch_size, bar)
        else:
            restored = np.stack([_restore_tiled(f, run, tile_size, tile_overlap, batch_size, bar) for f in inputs])
    if layer is not None:
        destandardise_into(restored, restored, mean, scale)
    else:
        for i in range(n):
            check_restored(restored[i], i, standardised=False)
    return restored.reshape(shape)
