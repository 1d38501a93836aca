"""Where tfstem keeps files: the user cache (converted models), the shipped weights and model configs."""

from __future__ import annotations

import configparser
import os
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent
#: Where a wheel puts the repository's top-level ``models/`` and ``weights/`` (``setup.py``'s build_py copies
#: them there); a checkout or an editable install has no such folder and reads them in place instead.
SHIPPED_DIR = PACKAGE_ROOT / "_shipped"


def is_source_checkout(root) -> bool:
    """Whether ``root`` is tfstem's own source tree: it holds a ``setup.cfg`` whose ``[metadata] name`` is tfstem.

    A ``models/`` or ``weights/`` folder beside the package proves nothing by itself: in site-packages, or
    in another project that vendors tfstem, such a folder belongs to someone else. A ``.git`` folder is no
    proof either (a project that vendors tfstem has one), so only tfstem's own build configuration counts.
    """
    setup_cfg = Path(root) / "setup.cfg"
    if not setup_cfg.is_file():
        return False
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(setup_cfg, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return False
    return parser.get("metadata", "name", fallback="").strip().lower() == "tfstem"


def shipped_dir(name: str, *, checkout_root: Path = PACKAGE_ROOT.parent, installed_root: Path = SHIPPED_DIR) -> Path:
    """The directory of the shipped ``name`` (``"models"`` or ``"weights"``).

    The packaged copy ``tfstem/_shipped/<name>`` when it exists (a wheel install). Otherwise the checkout's
    ``<checkout_root>/<name>``, but only when ``checkout_root`` is tfstem's source tree
    (:func:`is_source_checkout`: a source tree or an editable install); an unrelated ``models/`` or
    ``weights/`` folder beside the package (site-packages) is never read. Returns the packaged path when
    neither applies, so that error messages name where tfstem looked.
    """
    packaged = Path(installed_root) / name
    if packaged.is_dir():
        return packaged
    in_checkout = Path(checkout_root) / name
    if in_checkout.is_dir() and is_source_checkout(checkout_root):
        return in_checkout
    return packaged


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
