"""One config schema for every method: the paper's defaults with their sources, named presets, overrides.

Each method has one file ``models/<method>.json`` (``r_em``, ``noise2atom``, ``n2v``) with this layout::

    {
      "method": "noise2atom",
      "title": "...", "reference": "paper, journal, year",
      "options": {"<name>": {"value": <the paper's value>, "source": "equation / section / released code"}, ...},
      "presets": {
        "paper":    {"description": "...", "set": {}},
        "released": {"description": "...", "set": {"<name>": <value>, ...}},
        "cpu":      {...}, "quick": {...}
      }
    }

``options`` is the one place that holds the paper's numbers: each method's config dataclass takes its field
defaults from it (:func:`paper_values`), so ``Noise2AtomConfig()`` *is* the ``paper`` preset. A preset is data:
the options it changes. :func:`load_config` applies a preset, then ``KEY=VALUE`` overrides (from Python or
``tfstem train ... --set KEY=VALUE``), and validates the result through the dataclass.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
from pathlib import Path

from tfstem.paths import MODELS_DIR

__all__ = ["METHODS", "ALIASES", "method_name", "method_class", "model_file", "read_method_file",
           "paper_values", "preset_names",
           "describe_presets", "default_preset", "load_config", "parse_overrides", "ConfigMixin", "method_config"]

#: Method name -> the module that defines its :class:`~tfstem.training.method.Method` (attribute ``METHOD``).
METHODS = {"r_em": "tfstem.r_em.training", "noise2atom": "tfstem.noise2atom.training", "n2v": "tfstem.n2v.training"}

#: Other accepted spellings (the command line of earlier versions: ``tfstem train cgrdn``).
ALIASES = {"cgrdn": "r_em", "noise2void": "n2v"}


def method_name(method: str) -> str:
    """The canonical name of ``method`` (an alias is accepted); ValueError for an unknown one."""
    name = ALIASES.get(str(method).lower(), str(method).lower())
    if name not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(METHODS)}.")
    return name


def method_class(method: str):
    """The :class:`~tfstem.training.method.Method` subclass of ``method`` (imports its module)."""
    return importlib.import_module(METHODS[method_name(method)]).METHOD


def model_file(method: str) -> Path:
    """``models/<method>.json``."""
    return MODELS_DIR / f"{method_name(method)}.json"


@functools.lru_cache(maxsize=None)
def _read(method: str) -> dict:
    path = model_file(method)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing: the {method} method's defaults and presets live there; "
                                "reinstall tfstem.") from None
    for key in ("method", "options", "presets"):
        if key not in data:
            raise ValueError(f"{path} has no {key!r} entry; it is not a tfstem method file.")
    return data


def read_method_file(method: str) -> dict:
    """The parsed ``models/<method>.json`` (cached; do not modify it)."""
    return _read(method_name(method))


def paper_values(method: str) -> dict:
    """The paper's value of every option of ``method`` (``options.*.value`` of its model file)."""
    return {name: spec["value"] for name, spec in _read(method_name(method))["options"].items()}


def preset_names(method: str) -> tuple:
    """The presets of ``method``, ``paper`` first."""
    return tuple(_read(method_name(method))["presets"])


def describe_presets(method: str) -> dict:
    """Preset name -> its one-line description."""
    return {name: spec.get("description", "") for name, spec in _read(method_name(method))["presets"].items()}


def default_preset(method: str) -> str:
    """The preset a call without ``preset`` runs: ``paper`` (the paper's method) where TensorFlow sees a GPU,
    ``cpu`` (the paper's method at a reduced size) where it does not
    (:func:`tfstem.training.sizing.default_preset`; ``fit`` and ``tfstem train`` announce the ``cpu`` choice in
    one line with the ``paper`` preset's estimated time on the machine)."""
    from tfstem.training.sizing import default_preset as sized_for_this_machine

    return sized_for_this_machine(method)


def _preset_values(method: str, preset: str) -> dict:
    presets = _read(method)["presets"]
    if preset not in presets:
        raise ValueError(f"unknown {method} preset {preset!r}; choose one of {list(presets)}.")
    return {**paper_values(method), **presets[preset].get("set", {})}


def load_config(method: str, preset: str | None = None, *, path=None, **overrides):
    """The config of ``method``: a preset of its model file, or a saved run's ``config.json``, plus overrides.

    Parameters
    ----------
    method : str
        ``"r_em"``, ``"noise2atom"`` or ``"n2v"``.
    preset : str, optional
        Default :func:`default_preset`. Ignored when ``path`` is a saved config.
    path : path-like, optional
        A ``config.json`` written by a run (its options are used; keys that start with ``_`` are records).
    **overrides
        Options that replace the preset's values (names as in the model file's ``options``).

    Returns
    -------
    The method's frozen config dataclass, validated.

    Raises
    ------
    ValueError
        An unknown method, preset or option, or a value the method refuses (the message names it).
    """
    name = method_name(method)
    cls = method_class(name).config_class
    if path is not None:
        saved = json.loads(Path(path).read_text())
        values = {k: v for k, v in saved.items() if not k.startswith("_")}
    else:
        values = _preset_values(name, preset or default_preset(name))
    values.update(overrides)
    return cls.from_dict(values)


def _parse_value(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text  # a bare word: a string option such as replacement=neighbour


def parse_overrides(items) -> dict:
    """``["KEY=VALUE", ...]`` -> dict; VALUE is read as JSON (``3``, ``1e-4``, ``true``, ``null``, ``[1,3]``)
    and otherwise kept as a string."""
    out = {}
    for item in items or ():
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set takes KEY=VALUE; received {item!r}.")
        out[key.strip()] = _parse_value(value.strip())
    return out


def method_config(method: str):
    """Class decorator: a frozen dataclass whose field defaults are the paper's values of ``models/<method>.json``.

    Fields are declared with their type only (``depth: int``); each takes its default from the model file's
    ``options`` (lists become tuples), so the paper's numbers live in one place. A field the file lacks is
    an error at import, naming the file.
    """

    def decorate(cls):
        values = paper_values(method)
        fields = [name for name in cls.__dict__.get("__annotations__", {}) if name not in cls.__dict__]
        missing = [name for name in fields if name not in values]
        if missing:
            raise KeyError(f"models/{method}.json has no value for option(s) {missing}.")
        for name in fields:
            value = values[name]
            setattr(cls, name, tuple(value) if isinstance(value, list) else value)
        cls.method = method
        return dataclasses.dataclass(frozen=True)(cls)

    return decorate


class ConfigMixin:
    """``from_dict``, ``to_dict`` and ``replace`` for a method's frozen config dataclass."""

    #: The method name (for messages).
    method = ""

    @classmethod
    def from_dict(cls, values: dict):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(k for k in values if k not in names and not str(k).startswith("_"))
        if unknown:
            raise ValueError(f"unknown {cls.method} option(s) {unknown}; the options are listed in "
                             f"models/{cls.method}.json: {sorted(names)}.")
        return cls(**{k: v for k, v in values.items() if k in names})

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    def replace(self, **changes):
        """A copy with ``changes`` applied (validated)."""
        return type(self).from_dict({**self.to_dict(), **changes})
