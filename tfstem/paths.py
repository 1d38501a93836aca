"""Where tfstem keeps files: the user cache (converted models), the shipped weights and model configs."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent
#: Where a wheel puts the repository's top-level ``models/`` and ``weights/`` (``setup.py``'s build_py copies
#: them there); a checkout or an editable install reads them in place instead.
SHIPPED_DIR = PACKAGE_ROOT / "_shipped"


def shipped_dir(name: str, *, checkout_root: Path = PACKAGE_ROOT.parent, installed_root: Path = SHIPPED_DIR) -> Path:
    """The directory of the shipped ``name`` (``"models"`` or ``"weights"``).

    The repository checkout's ``<root>/<name>`` when it exists (source tree, editable install), else the copy
    inside the installed package, ``tfstem/_shipped/<name>`` (wheel). Returns the latter path even when
    neither exists, so that error messages name where tfstem looked.
    """
    in_checkout = Path(checkout_root) / name
    return in_checkout if in_checkout.is_dir() else Path(installed_root) / name


#: Shipped SavedModels in TF Serving layout, ``weights/<name>/<version>/``.
WEIGHTS_DIR = shipped_dir("weights")
#: Model configurations with every hyperparameter and its source (``noise2atom.json``, ``cgrdn_*.json``, ...).
MODELS_DIR = shipped_dir("models")


def cache_dir() -> Path:
    """The cache directory: ``$TFSTEM_CACHE_DIR``, else ``$XDG_CACHE_HOME/tfstem``, else ``~/.cache/tfstem``."""
    override = os.environ.get("TFSTEM_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "tfstem"
