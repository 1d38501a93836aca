"""Pixel sizes and their units: canonical spellings, length conversion, and the checks of a pixel size.

Units are normalised by :func:`normalize_unit`: ``"um"``, ``"μm"`` (Greek mu), ``"micron"``,
``"\\u00B5m"`` -> ``"µm"`` (micro sign, as ImageJ spells it); ``"A"``, ``"angstrom"``, ``"Å"`` (Angstrom
sign) -> ``"Å"``; other length units to ``pm``, ``nm``, ``mm``, ``cm``, ``m``, ``inch``; anything else is
kept as written. A pixel size without a unit is kept without one; a unit without a pixel size is refused.
"""

from __future__ import annotations

import math
import re

import numpy as np

__all__ = ["LENGTH_UNITS", "normalize_unit", "convert_length", "readable_length", "positive_size", "size_from_keys",
           "check_pixel_size", "check_unit"]

#: Length units and their size in metres.
LENGTH_UNITS = {"pm": 1e-12, "Å": 1e-10, "nm": 1e-9, "µm": 1e-6, "mm": 1e-3, "cm": 1e-2, "m": 1.0,
                "inch": 0.0254}

_UNIT_SPELLINGS = {
    "µm": ("µm", "μm", "um", "micron", "microns", "micrometer", "micrometers", "micrometre", "micrometres"),
    "Å": ("å", "a", "angstrom", "angstroms", "ångström", "ångströms", "angstroem"),
    "nm": ("nm", "nanometer", "nanometers", "nanometre", "nanometres"),
    "pm": ("pm", "picometer", "picometers", "picometre", "picometres"),
    "mm": ("mm", "millimeter", "millimeters", "millimetre", "millimetres"),
    "cm": ("cm", "centimeter", "centimeters", "centimetre", "centimetres"),
    "m": ("m", "meter", "meters", "metre", "metres"),
    "inch": ("inch", "inches", "in"),
}
_UNIT_BY_SPELLING = {spelling: unit for unit, spellings in _UNIT_SPELLINGS.items() for spelling in spellings}
_NO_UNIT = ("", "[]", "<undefined>", "undefined", "none", "pixel", "pixels", "px")


def _decode_imagej_escapes(text: str) -> str:
    """Undo ImageJ's ``\\uXXXX`` escapes of non-ASCII characters (``java.util.Properties`` style)."""
    return re.sub(r"\\u([0-9A-Fa-f]{4})", lambda match: chr(int(match.group(1), 16)), text)


def normalize_unit(unit) -> str | None:
    """Return the canonical spelling of a pixel-size unit, or None when ``unit`` names no unit.

    ``"um"``, ``"μm"`` (Greek mu), ``"micron"``, ``"\\u00B5m"`` give ``"µm"`` (micro sign);
    ``"A"``, ``"angstrom"``, ``"Å"`` (Angstrom sign U+212B) give ``"Å"`` (U+00C5); other length
    units give ``pm``, ``nm``, ``mm``, ``cm``, ``m`` or ``inch``; ``""``, ``"[]"``, ``"<undefined>"`` and
    ``"pixel"`` give None; any other text is returned stripped, as written.

    Examples
    --------
    >>> normalize_unit("micron"), normalize_unit("A"), normalize_unit(" nm ")
    ('µm', 'Å', 'nm')
    """
    if unit is None:
        return None
    if isinstance(unit, bytes):
        unit = unit.decode("utf-8", "replace")
    if isinstance(unit, np.ndarray) and unit.ndim == 0:
        unit = unit[()]
    text = _decode_imagej_escapes(str(unit)).strip()
    if text.lower() in _NO_UNIT:
        return None
    return _UNIT_BY_SPELLING.get(text.lower().replace("\u212b", "å"), text)


def convert_length(value: float, unit: str, to: str) -> float:
    """Convert ``value`` from the length ``unit`` to the length unit ``to`` (both in :data:`LENGTH_UNITS`)."""
    source, target = normalize_unit(unit), normalize_unit(to)
    for name, given in ((source, unit), (target, to)):
        if name not in LENGTH_UNITS:
            raise ValueError(f"{given!r} is not a length unit; known: {', '.join(LENGTH_UNITS)}.")
    return float(value) * LENGTH_UNITS[source] / LENGTH_UNITS[target]


def readable_length(metres: float) -> tuple[float, str]:
    """A length in the largest of nm, µm, mm in which it is at least 1 (else nm)."""
    for unit in ("mm", "µm"):
        if metres / LENGTH_UNITS[unit] >= 1:
            return metres / LENGTH_UNITS[unit], unit
    return metres / LENGTH_UNITS["nm"], "nm"


def positive_size(value) -> float | None:
    """``value`` as a float if it is a finite number > 0, else None (a file's 'no pixel size')."""
    try:
        scalar = np.asarray(value).reshape(-1)[0]
        # float32/float16 as their shortest decimal (0.025, not 0.02500000037), which is what was stored
        size = float(str(scalar)) if scalar.dtype in (np.float32, np.float16) else float(scalar)
    except (TypeError, ValueError, IndexError):
        return None
    return size if math.isfinite(size) and size > 0 else None


def size_from_keys(values: dict):
    """Pixel size and unit from ``pixel_size`` + ``unit`` or from ``pixel_size_<unit>`` entries."""
    if "pixel_size" in values:
        size = positive_size(values["pixel_size"])
        unit = normalize_unit(values.get("unit"))
        return (size, unit) if size is not None else (None, None)
    for key, value in values.items():
        match = re.fullmatch(r"pixel_size_(.+)", str(key))
        size = positive_size(value) if match else None
        if size is not None:
            return size, normalize_unit(match.group(1))
    return None, None


def check_pixel_size(pixel_size) -> float | None:
    """``pixel_size`` as a float (None stays None); a ValueError unless it is a finite number > 0."""
    if pixel_size is None:
        return None
    message = (f"pixel_size must be a finite number > 0 (in the given unit); received "
               f"pixel_size={pixel_size!r}.")
    if isinstance(pixel_size, (bool, np.bool_, str, bytes)):
        raise ValueError(message)
    try:
        size = float(pixel_size)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if not math.isfinite(size) or size <= 0:
        raise ValueError(message)
    return size


def check_unit(unit, pixel_size) -> str | None:
    """``unit`` normalised (:func:`normalize_unit`); a ValueError for a non-string or a unit without ``pixel_size``."""
    if unit is not None and not isinstance(unit, str):
        raise ValueError(f"unit must be a string such as 'nm', 'Å' or 'µm'; received unit={unit!r}.")
    normalized = normalize_unit(unit)
    if normalized is not None and pixel_size is None:
        raise ValueError(f"unit={unit!r} was given without pixel_size; pass both or neither.")
    return normalized
