"""TIFF stacks and ImageJ/Fiji hyperstacks (tifffile): reading, writing, and the pixel size in their tags.

The pixel size is stored in the XResolution/YResolution tags (pixels per unit, ResolutionUnit NONE) and the
unit in the ImageJ description, as Fiji writes it: ``unit=micron`` for µm, other non-ASCII characters escaped
as ImageJ's own ``FileSaver`` does (``unit=\\u00C5`` for Å). A TIFF whose ResolutionUnit is CENTIMETER or INCH
(without an ImageJ unit) is read as a metric length. tfstem records the axes it wrote (``tfstem_axes``) so
that frames and channels axes of length 1 come back.
"""

from __future__ import annotations

import logging
import math
from fractions import Fraction

import numpy as np

from tfstem.io.image import Image, as_float32, image_axes
from tfstem.io.units import LENGTH_UNITS, normalize_unit, readable_length

__all__ = ["read_tiff", "write_tiff", "tiff_pixel_size", "tiff_resolution", "imagej_unit", "restore_singleton_axes",
           "LogRecords", "IMAGEJ_AXES", "TFSTEM_AXES"]

#: ImageJ's axes for each tfstem layout: ImageJ stores channels before Y and X (hyperstack order TZCYXS).
IMAGEJ_AXES = {"YX": "YX", "TYX": "TYX", "YXC": "CYX", "TYXC": "TCYX"}
#: The layouts tfstem records in a TIFF it writes (``tfstem_axes``), to give back axes of length 1.
TFSTEM_AXES = tuple(IMAGEJ_AXES)

def tiff_pixel_size(page, imagej: dict, shaped: dict):
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
        return readable_length(size * LENGTH_UNITS["inch" if res_unit == 2 else "cm"])
    return size, normalize_unit(shaped.get("unit"))


def restore_singleton_axes(data: np.ndarray, axes: str, recorded: str) -> np.ndarray:
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


class LogRecords(logging.Handler):
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


def read_tiff(path):
    """``(Image, channels_hint)`` of a TIFF: the shape tfstem wrote, else the first series and Fiji's C axis."""
    import tifffile

    with LogRecords("tifffile") as log, tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        data = np.asarray(series.asarray())
        axes = series.axes
        imagej = tif.imagej_metadata or {}
        shaped = (tif.shaped_metadata[0] if tif.shaped_metadata else None) or {}
        pixel_size, unit = tiff_pixel_size(tif.pages[0], imagej, shaped)
    if log.messages:  # tifffile read past damage (a truncated file gives fewer frames, or zeros)
        raise ValueError(f"{path}: damaged or truncated TIFF ({'; '.join(dict.fromkeys(log.messages))}).")
    recorded = str(imagej.get("tfstem_axes", ""))
    if recorded in TFSTEM_AXES:  # written by write_image: give back its exact shape
        return Image(restore_singleton_axes(data, axes, recorded), pixel_size, unit), None
    hint = axes.index("C") if "C" in axes and data.ndim == len(axes) else None  # Fiji's TCYX, CYX, ZCYX
    return Image(data, pixel_size, unit), hint


def tiff_resolution(pixel_size: float, unit: str | None, path):
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


def imagej_unit(unit: str) -> str:
    """``unit`` as ImageJ spells it in a TIFF description: ``micron`` for µm, other non-ASCII as ``\\uXXXX``."""
    if unit == "µm":
        return "micron"
    return "".join(c if 0x20 <= ord(c) < 0x7F and c != "\\" else f"\\u{ord(c):04X}" for c in unit)


def write_tiff(tmp, array, pixel_size, unit, path):
    """Write ``array`` to ``tmp``: a float32 ImageJ hyperstack, the pixel size in its tags (``path``: for messages)."""
    import tifffile

    axes = image_axes(array.shape)
    # ImageJ stores channels before Y and X (hyperstack order TZCYXS); tfstem keeps them last.
    stored = np.moveaxis(array, -1, -3) if axes.endswith("C") else array
    imagej_axes = IMAGEJ_AXES[axes]
    metadata = {"axes": imagej_axes, "tfstem_axes": axes}
    resolution = None
    if pixel_size is not None:
        resolution, pixel_size, unit = tiff_resolution(pixel_size, unit, path)
        if unit is not None:
            metadata["unit"] = imagej_unit(unit)
        resolution = (resolution, resolution)
    tifffile.imwrite(tmp, as_float32(np.ascontiguousarray(stored), path), imagej=True, resolution=resolution,
                     metadata=metadata)
