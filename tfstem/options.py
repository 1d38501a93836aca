"""Checks of the keyword options that :func:`tfstem.restore` and :func:`tfstem.lazy.restore_dask` share.

Each returns the checked value or raises a one-line ``ValueError`` that names the option and echoes the value.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["integer_option", "optional_bool"]


def integer_option(name: str, value, minimum: int) -> int:
    """``value`` as an int >= ``minimum``; a ``ValueError`` naming the option otherwise (bool, NaN, inf, text)."""
    if (isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or int(value) != value or value < minimum):
        raise ValueError(f"{name} must be an integer >= {minimum}; received {name}={value!r}.")
    return int(value)


def optional_bool(name: str, value, allow_none: bool = False):
    if (value is None and allow_none) or isinstance(value, (bool, np.bool_)):
        return None if value is None else bool(value)
    accepted = "True, False or None" if allow_none else "True or False"
    raise ValueError(f"{name} must be {accepted}; received {name}={value!r}.")
