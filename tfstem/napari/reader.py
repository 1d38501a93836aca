"""napari reader: EM files through :func:`tfstem.io.read_image`, with the pixel size as the layer scale.

napari calls :func:`get_reader` with a path (or a list of paths); it returns :func:`read_layers` for the
suffixes :data:`tfstem.io.READ_FORMATS` lists and None for any other, so that napari tries another reader.
Nothing here imports napari: a layer is returned as napari's plain ``(data, kwargs, "image")`` tuple.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfstem import io

__all__ = ["get_reader", "read_layers", "layer_data", "napari_units", "AXIS_LABELS"]

#: napari axis labels of the leading axes of ``[N, H, W]`` and ``[H, W]`` layers.
AXIS_LABELS = ("frame", "y", "x")


def napari_units(unit: str | None) -> str:
    """The unit napari (pint) understands for ``unit``: itself if pint parses it, else ``"pixel"``.

    tfstem's units (``nm``, ``Å``, ``µm``, ``pm``, ``mm``, ...) all parse; a unit only a file knows
    (e.g. ``"counts"``) falls back to ``"pixel"`` and stays in the layer's ``metadata``.
    """
    if not unit:
        return "pixel"
    try:
        import pint

        pint.get_application_registry().parse_expression(unit)
    except Exception:  # pint raises several kinds for text it cannot read; napari would refuse them all
        return "pixel"
    return unit


def layer_data(image: io.Image, name: str, source: str | None = None, channel_names=None) -> list[tuple]:
    """napari layer tuples for an :class:`tfstem.io.Image`.

    Parameters
    ----------
    image : tfstem.io.Image
        ``data`` ``[H, W]``, ``[N, H, W]``, ``[H, W, C]`` or ``[N, H, W, C]`` (any real dtype, kept), with
        ``pixel_size`` in ``unit`` or None.
    name : str
        Layer name; channels become ``"<name> [c]"`` (``c`` from 0).
    source : str, optional
        Where the image came from (recorded in ``metadata["tfstem"]["source"]``).
    channel_names : sequence of str, optional
        Names of the channels (e.g. ``("ADF", "BF")``) used instead of their indices.

    Returns
    -------
    list of (numpy.ndarray, dict, str)
        One ``"image"`` layer per channel, each ``[H, W]`` or ``[N, H, W]``, with ``scale`` (1 along the
        frame axis, the pixel size along y and x; 1 without one), ``units`` (``"pixel"`` along the frame
        axis), ``axis_labels`` and ``metadata["tfstem"] = {"pixel_size", "unit", "source", "channel",
        "channels"}``.
    """
    data = np.asarray(image.data)
    channels_last = data.ndim == 4 or (data.ndim == 3 and data.shape[-1] <= 4)
    planes = [data[..., c] for c in range(data.shape[-1])] if channels_last else [data]
    size = image.pixel_size if image.pixel_size is not None else 1.0
    unit = napari_units(image.unit) if image.pixel_size is not None else "pixel"
    layers = []
    for channel, plane in enumerate(planes):
        leading = plane.ndim - 2
        metadata = {"tfstem": {"pixel_size": image.pixel_size, "unit": image.unit, "source": source,
                               "channel": channel if channels_last else None, "channels": len(planes)}}
        kwargs = dict(
            name=(f"{name} [{channel_names[channel] if channel_names else channel}]" if channels_last else name),
            scale=(1.0,) * leading + (size, size),
            units=("pixel",) * leading + (unit, unit),
            axis_labels=AXIS_LABELS[-plane.ndim:],
            metadata=metadata,
        )
        if channels_last and len(planes) > 1:
            kwargs.update(blending="additive", colormap=("magenta", "green", "cyan", "yellow")[channel])
        layers.append((plane, kwargs, "image"))
    return layers


def read_layers(path) -> list[tuple]:
    """Read one file or several into napari layer tuples (see :func:`layer_data`).

    Raises
    ------
    FileNotFoundError, ValueError, ImportError
        As :func:`tfstem.io.read_image`; napari shows the one-line message as a notification.
    """
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    layers = []
    for one in paths:
        one = Path(one)
        layers += layer_data(io.read_image(one), one.stem, str(one))
    return layers


def get_reader(path):
    """napari's reader hook: :func:`read_layers` if every path has a suffix tfstem reads, else None.

    Parameters
    ----------
    path : str or list of str
        What napari was asked to open.
    """
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    if not paths or any(Path(p).suffix.lower() not in io.READ_FORMATS for p in paths):
        return None
    return read_layers
