"""tfstem: restoration and denoising of electron-microscopy images with TensorFlow/Keras 3.

Public API::

    import tfstem
    clean = tfstem.restore(image)                 # r_em/hrstem CGRDN by default
    result = tfstem.fit("n2v", frames)            # train any method: "r_em", "noise2atom", "n2v"
    model = tfstem.load_model("r_em/hrtem")      # a keras.Model, raw intensities in and out
    tfstem.list_models()                          # what can be loaded

Sub-packages are imported on first use (``tfstem.synth``, ``tfstem.r_em``, ``tfstem.noise2atom``, ``tfstem.n2v``,
``tfstem.metrics``, ``tfstem.baselines``) so that ``import tfstem`` stays light.
"""

from __future__ import annotations

import importlib

from tfstem import _quiet
from tfstem._version import __version__
# Imported eagerly (it only needs numpy at import time): a lazy attribute would be shadowed by the
# submodule of the same name as soon as anything imports ``tfstem.restore``, making
# ``tfstem.restore(image)`` fail with "'module' object is not callable".
from tfstem.restore import restore

# TensorFlow's start-up lines (absl, oneDNN, CUDA probing) stay off the terminal; TFSTEM_VERBOSE=1 shows them.
_quiet.install()

__all__ = ["__version__", "restore", "fit", "load_model", "list_models"]

_LAZY_ATTRIBUTES = {
    "load_model": ("tfstem.registry", "load_model"),
    "list_models": ("tfstem.registry", "list_models"),
    "fit": ("tfstem.training.fit", "fit"),
}
_LAZY_MODULES = {
    "baselines", "cli", "config", "export", "io", "layers", "metrics", "ops", "registry", "synth", "training",
    "r_em", "noise2atom", "n2v", "outputs", "lazy", "hyperspy", "profiling", "ready", "precision",
}


def __getattr__(name):
    if name in _LAZY_ATTRIBUTES:
        module_name, attribute = _LAZY_ATTRIBUTES[name]
        value = getattr(importlib.import_module(module_name), attribute)
        globals()[name] = value
        return value
    if name in _LAZY_MODULES:
        module = importlib.import_module(f"tfstem.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'tfstem' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_ATTRIBUTES) | _LAZY_MODULES)
