"""HyperSpy signals in and out of :func:`tfstem.restore`.

``tfstem.restore(signal)`` calls :func:`restore_signal` when ``signal`` is a HyperSpy signal; HyperSpy
itself (the optional extra ``pip install 'tfstem[hyperspy]'``) is imported only then, never by
``import tfstem`` nor by importing this module.

What comes back
---------------
A signal of the same class (``Signal2D`` -> ``Signal2D``, ``LazySignal2D`` -> ``LazySignal2D``, a
subclass such as an extension's ``Signal2D`` -> that subclass), made the way HyperSpy makes its own
derived signals (``signal.fft()``, ``signal.get_current_signal()``): every axis is copied (size, scale,
offset, units, name, navigate flag, non-uniform axes too), and so are ``metadata`` and
``original_metadata`` (deep copies: editing the result never touches the input). Then, as HyperSpy does
for ``fft`` (title ``"FFT of ..."``, node ``metadata.Signal.FFT``):

* ``metadata.General.title`` becomes ``"Restored <title>"`` (``"Restored"`` for an untitled signal);
* ``metadata.Signal.Restoration`` records ``package`` (``"tfstem"``), ``version``, ``model`` (the
  registry name, the path, or the class and name of a model object), the ``tile_size``,
  ``tile_overlap``, ``batch_size`` and ``channels_axis`` that were given (options left at their default
  are not written: HDF5 cannot store None) and ``timestamp`` (ISO 8601 with the time zone, as HyperSpy's
  own ``General.FileIO`` entries).

Three things describe the input's data, not the restored one, and are not copied, as in every HyperSpy
derived signal: ``metadata.Signal.Noise_properties`` (the input's noise variance; a fit on the restored
signal must not be weighted with it), the cached navigator image, and ``learning_results``
(decomposition of the input). ``tmp_parameters`` (the file the input was loaded from) is cleared too, so
that ``restored.save()`` without a file name cannot overwrite the raw data; ``metadata.General.
original_filename`` still names it.

The input signal is never modified: the result's data is new (float32) and its axes and metadata are
copies.

Navigation axes and channels
----------------------------
Every navigation position (a time series ``[N | H, W]``, a scan grid ``[Y, X | H, W]``, any number of
navigation axes) is restored as a frame of its own, with the same result as
``tfstem.restore(signal.data)`` for a ``[N, H, W]`` series. A navigation axis is never taken for
channels by its name or length: a model with several input channels (the dual-channel N2V model) needs
``channels_axis=``, the name of the navigation axis that holds them (or its index in
``signal.axes_manager.navigation_axes``); its length must be the model's channel count, and each
position of the other navigation axes is one multichannel frame. ``tfstem.restore(signal)`` takes only
the options of :func:`tfstem.restore`; call :func:`restore_signal` for ``channels_axis``.

Lazy signals
------------
A ``LazySignal2D`` (``hs.load(..., lazy=True)``, ``signal.as_lazy()``) comes back lazy: its dask array
is handed to ``tfstem.restore``, which restores it chunk by chunk through :mod:`tfstem.lazy` when the
result is computed (``restored.compute()``, ``restored.save(...)``). The navigation axes are merged
into one frame axis for that call and split again afterwards; the result has the input's chunks.
"""

from __future__ import annotations

import os
from datetime import datetime

import numpy as np

from tfstem.io.series import check_real_dtype

__all__ = ["restore_signal", "RESTORED_TITLE_PREFIX", "METADATA_NODE"]

#: ``metadata.General.title`` of a restored signal is this prefix followed by the input's title.
RESTORED_TITLE_PREFIX = "Restored "
#: Where the restoration is recorded in the restored signal's metadata.
METADATA_NODE = "Signal.Restoration"

_ACCEPTED = ("a HyperSpy Signal2D or LazySignal2D (real images in its two signal axes, any navigation axes)")


def _hyperspy_signal_class():
    try:
        from hyperspy.signal import BaseSignal
    except ImportError as error:  # pragma: no cover - only without the extra
        raise ImportError("HyperSpy signals need HyperSpy: pip install 'tfstem[hyperspy]'") from error
    return BaseSignal


def _describe(signal) -> str:
    """``"Signal1D with axes (5, 4|30)"``: the class and HyperSpy's own ``(navigation|signal)`` shape."""
    manager = signal.axes_manager
    navigation = ", ".join(str(size) for size in manager.navigation_shape)
    shape = ", ".join(str(size) for size in manager.signal_shape)
    return f"{type(signal).__name__} with axes ({navigation}|{shape})"


def _check_signal(signal):
    """The ``[..., H, W]`` data axes of ``signal``'s images, or a one-line ``ValueError`` saying what is accepted."""
    base_signal = _hyperspy_signal_class()
    if not isinstance(signal, base_signal):
        raise ValueError(f"signal must be {_ACCEPTED}; received {type(signal).__name__}.")
    manager = signal.axes_manager
    if getattr(signal, "ragged", False):
        raise ValueError(f"signal must be {_ACCEPTED}; received a ragged {_describe(signal)}.")
    if manager.signal_dimension != 2:
        if manager.signal_dimension == 1 and manager.navigation_dimension >= 2:
            hint = ("a spectrum image cannot be restored as images; to restore its energy-filtered images, make "
                    "the two scan axes the signal axes with signal.as_signal2D((0, 1))")
        else:
            hint = ("make two axes the image axes with signal.as_signal2D((x_axis, y_axis)), e.g. "
                    "signal.as_signal2D((0, 1)) when the images are the last two axes of its data")
        raise ValueError(
            f"signal must be {_ACCEPTED}; received {_describe(signal)} (signal dimension "
            f"{manager.signal_dimension}): {hint}."
        )
    dtype = signal.data.dtype
    if dtype.names is not None:
        raise ValueError(
            f"signal must be {_ACCEPTED}; received an RGB {_describe(signal)} (dtype {dtype}): pass one "
            "grey-scale channel."
        )
    if np.issubdtype(dtype, np.complexfloating):
        raise ValueError(
            f"signal must be {_ACCEPTED}; received a complex {_describe(signal)} (dtype {dtype}): pass real "
            "intensities, e.g. signal.amplitude or signal.real."
        )
    try:  # the dtype rule of every series (tfstem.io.series): real numbers
        check_real_dtype(dtype, name="its data")
    except ValueError as error:
        raise ValueError(f"signal must be {_ACCEPTED}; received {_describe(signal)}: {error}") from None
    ndim = len(signal.data.shape)
    # HyperSpy keeps the signal axes last in the data array ([..., y, x]); checked, since everything
    # below relies on it
    if sorted(axis.index_in_array for axis in manager.signal_axes) != [ndim - 2, ndim - 1]:
        raise ValueError(
            f"signal must be {_ACCEPTED} whose signal axes are the last two of its data; received "
            f"{_describe(signal)} with signal axes at data positions "
            f"{[axis.index_in_array for axis in manager.signal_axes]}: use signal.as_signal2D((x_axis, y_axis))."
        )


def _channel_position(signal, channels_axis) -> int | None:
    """The data-array position of the navigation axis ``channels_axis`` names (None for None)."""
    if channels_axis is None:
        return None
    navigation = signal.axes_manager.navigation_axes
    names = [axis.name for axis in navigation]
    if isinstance(channels_axis, str):
        matches = [axis for axis in navigation if axis.name == channels_axis]
    elif isinstance(channels_axis, (int, np.integer)) and not isinstance(channels_axis, (bool, np.bool_)):
        matches = [navigation[channels_axis]] if -len(navigation) <= channels_axis < len(navigation) else []
    else:
        matches = []
    if len(matches) != 1:
        raise ValueError(
            f"channels_axis must name one navigation axis of the signal (its name, or its index in "
            f"signal.axes_manager.navigation_axes); received channels_axis={channels_axis!r}, navigation axes "
            f"{names}."
        )
    return matches[0].index_in_array


def _model_note(model) -> str:
    """What ``model`` was, as text for the metadata: the registry name, the path, or class and name."""
    if model is None:
        from tfstem.registry import DEFAULT_MODEL

        return DEFAULT_MODEL
    if isinstance(model, str):
        return model
    if hasattr(model, "__fspath__"):
        return os.fspath(model)
    name = getattr(model, "name", None)
    kind = type(model).__name__
    return f"{kind} {name!r}" if isinstance(name, str) and name else kind


def _as_frames(data, channel_position):
    """``data`` ``[..., H, W]`` (NumPy or dask) as ``[N, H, W, C]`` and the function that puts it back.

    Only the layout: the frames' values are checked by :func:`tfstem.restore` (:func:`tfstem.io.series.frames_view`).
    """
    import_module = np
    if not isinstance(data, np.ndarray):
        import dask.array as import_module  # a lazy signal's data
    height, width = data.shape[-2:]
    if channel_position is None:
        navigation = data.shape[:-2]

        def back(frames):
            return frames.reshape(navigation + (height, width))

        return data.reshape((-1, height, width, 1)), back
    moved = import_module.moveaxis(data, channel_position, -1)  # [..., H, W, C]
    if import_module is not np:
        moved = moved.rechunk({moved.ndim - 1: -1})  # a frame's channels in one chunk
    channels = moved.shape[-1]
    others = moved.shape[:-3]

    def back(frames):
        return import_module.moveaxis(frames.reshape(others + (height, width, channels)), -1, channel_position)

    return moved.reshape((-1, height, width, channels)), back


def restore_signal(signal, *, model=None, tile_size=None, tile_overlap=None, batch_size=None, verbose=True,
                   jit_compile="auto", precision="auto", progress=None, channels_axis=None):
    """Restore every image of a HyperSpy ``Signal2D`` (lazy or not); return a signal of the same class.

    ``tfstem.restore(signal, ...)`` calls this function; the options are those of :func:`tfstem.restore`.

    Parameters
    ----------
    signal : hyperspy.signals.Signal2D or LazySignal2D
        Real images (any real dtype, in any units) in its two signal axes ``(x, y)``, data
        ``[..., H, W]``; any navigation axes (none, a time series ``[N | H, W]``, a scan grid
        ``[Y, X | H, W]``, more). Never modified.
    model, tile_size, tile_overlap, batch_size, verbose, jit_compile, precision, progress
        As in :func:`tfstem.restore`, which restores the images (a lazy signal's when it is computed).
    channels_axis : str or int, optional
        For a model with several input channels: the navigation axis holding them (its name, or its
        index in ``signal.axes_manager.navigation_axes``); its length must be the model's channel count.
        None (default): every navigation position is a single-channel frame.

    Returns
    -------
    signal : same class as ``signal``
        Data float32 ``[..., H, W]`` (the input's shape), in the model's output units (the input's for
        CGRDN and N2V); lazy (a dask array) if the input was. The same axes (scale, offset, units,
        name, navigate) and a deep copy of ``metadata`` and ``original_metadata``, with
        ``metadata.General.title`` ``"Restored <title>"`` and ``metadata.Signal.Restoration`` recording
        the package, version, model, the options given and a timestamp. Not copied, as for every
        HyperSpy derived signal: ``metadata.Signal.Noise_properties``, the navigator, learning results
        and ``tmp_parameters`` (so ``save()`` needs a new file name).

    Raises
    ------
    ValueError
        A signal that is not a real 2-D signal (``Signal1D``, a spectrum image, ``ComplexSignal2D``,
        RGB, ragged) or whose signal axes are not the last two of its data; a ``channels_axis`` that is
        not a navigation axis; every error of :func:`tfstem.restore` (a channel count the model does
        not take says to pass ``channels_axis``). One line, saying what is accepted.
    ImportError
        HyperSpy is not installed (``pip install 'tfstem[hyperspy]'``).

    Examples
    --------
    >>> import hyperspy.api as hs, numpy as np, tfstem  # doctest: +SKIP
    >>> series = hs.signals.Signal2D(np.random.poisson(5.0, (10, 256, 256)).astype("float32"))  # doctest: +SKIP
    >>> restored = tfstem.restore(series)  # doctest: +SKIP
    >>> restored.metadata.General.title, restored.metadata.Signal.Restoration.model  # doctest: +SKIP
    ('Restored', 'r_em/hrstem')
    """
    from tfstem import __version__
    from tfstem.restore import restore

    _check_signal(signal)
    channel_position = _channel_position(signal, channels_axis)
    frames, back = _as_frames(signal.data, channel_position)
    try:
        restored = restore(frames, model=model, tile_size=tile_size, tile_overlap=tile_overlap,
                           batch_size=batch_size, verbose=verbose, jit_compile=jit_compile, precision=precision,
                           progress=progress)
    except ValueError as error:
        if "channel(s)" not in str(error):
            raise
        where = ("each navigation position is one single-channel frame; name the navigation axis that holds the "
                 "channels with tfstem.hyperspy.restore_signal(signal, channels_axis=NAME)" if channels_axis is None
                 else f"channels_axis={channels_axis!r} holds the channels")
        raise ValueError(f"{error} ({_describe(signal)}: {where}.)") from None
    data = back(restored)
    if not isinstance(data, np.ndarray) and data.chunks != signal.data.chunks:
        data = data.rechunk(signal.data.chunks)

    result = signal._deepcopy_with_new_data(data)  # HyperSpy's own way to derive a signal (fft, map, ...)
    result.tmp_parameters = type(result.tmp_parameters)()
    metadata = result.metadata
    title = str(metadata.get_item("General.title", ""))
    metadata.General.title = RESTORED_TITLE_PREFIX + title if title else RESTORED_TITLE_PREFIX.strip()
    note = {"package": "tfstem", "version": str(__version__), "model": _model_note(model)}
    given = dict(tile_size=tile_size, tile_overlap=tile_overlap, batch_size=batch_size, channels_axis=channels_axis,
                 precision=None if precision == "auto" else precision)
    note.update({key: value for key, value in given.items() if value is not None})
    note["timestamp"] = datetime.now().astimezone().isoformat()
    metadata.set_item(METADATA_NODE, note)
    return result
