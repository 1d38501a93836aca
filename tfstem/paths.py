"""Where tfstem keeps files: the user cache (converted models) and the shipped weights."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent
#: Shipped SavedModels in TF Serving layout, ``weights/<name>/<version>/`` (repository checkout).
WEIGHTS_DIR = PACKAGE_ROOT.parent / "weights"


def cache_dir() -> Path:
    """The cache directory: ``$TFSTEM_CACHE_DIR``, else ``$XDG_CACHE_HOME/tfstem``, else ``~/.cache/tfstem``."""
    override = os.environ.get("TFSTEM_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "tfstem"
