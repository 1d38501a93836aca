"""Model names -> where their weights come from; one loader, :func:`load_model`.

Sources, in the order names are looked up:

1. ``r_em/<modality>``: the r_em authors' CGRDN weights imported from the optional ``tk-r-em`` package
   (:mod:`tfstem.r_em`), for hrstem, lrstem, hrtem, lrtem, hrsem and lrsem;
2. ``<name>``: a model shipped by this project under ``weights/<name>/<version>/`` (TF Serving layout,
   a ``<name>.keras`` file beside the SavedModel for Python users; the highest version wins);
3. a path: a ``.keras`` file, or a SavedModel directory (loaded with ``tf.saved_model.load`` and called
   through its ``serving_default`` signature).
"""

from __future__ import annotations

from pathlib import Path

from tfstem.paths import WEIGHTS_DIR
from tfstem.r_em import R_EM_MODELS

__all__ = ["DEFAULT_MODEL", "list_models", "load_model", "SavedModelRunner"]

#: The model ``tfstem.restore`` uses when none is given (until this project ships its own).
DEFAULT_MODEL = "r_em/hrstem"


def _shipped_models():
    """``{name: newest version directory}`` for ``weights/<name>/<version>/``."""
    found = {}
    if not WEIGHTS_DIR.is_dir():
        return found
    for model_dir in sorted(p for p in WEIGHTS_DIR.iterdir() if p.is_dir()):
        versions = [p for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()]
        if versions:
            found[model_dir.name] = max(versions, key=lambda p: int(p.name))
    return found


def _read_card_summary(model_dir: Path) -> str:
    card = model_dir / "MODEL_CARD.md"
    if card.is_file():
        for line in card.read_text().splitlines():
            line = line.strip().lstrip("#").strip()
            if line:
                return line
    return "model shipped with tfstem"


def list_models(details: bool = False):
    """The models :func:`load_model` can load by name.

    Parameters
    ----------
    details : bool
        Return ``{name: {description, source, input_channels}}`` instead of a list of names.

    Returns
    -------
    list of str, or dict
    """
    models = {}
    for key, (authors_name, description) in R_EM_MODELS.items():
        models[f"r_em/{key}"] = dict(description=description, source=f"tk-r-em package, {authors_name}",
                                     input_channels=1)
    for name, version_dir in _shipped_models().items():
        models[name] = dict(description=_read_card_summary(version_dir.parent), source=str(version_dir),
                            input_channels=None)
    return models if details else list(models)


class SavedModelRunner:
    """Calls a SavedModel's ``serving_default`` signature like a Keras model: ``runner(batch) -> batch``.

    Parameters
    ----------
    path : str or Path
        SavedModel directory whose ``serving_default`` takes ``image`` ``float32 [N, H, W, C]``.
    """

    def __init__(self, path):
        import tensorflow as tf

        self.path = Path(path)
        self._loaded = tf.saved_model.load(str(self.path))
        if "serving_default" not in self._loaded.signatures:
            raise ValueError(f"{self.path} has no 'serving_default' signature; export it with `tfstem export`.")
        self._signature = self._loaded.signatures["serving_default"]
        spec = self._signature.structured_input_signature[1]
        if len(spec) != 1:
            raise ValueError(f"{self.path}: serving_default must take one input; it takes {sorted(spec)}.")
        (self._input_name, input_spec), = spec.items()
        self.input_channels = input_spec.shape[-1]
        self.name = self.path.name

    def __call__(self, batch, training=False):
        outputs = self._signature(**{self._input_name: batch})
        return outputs["denoised"] if "denoised" in outputs else next(iter(outputs.values()))


def _load_path(path: Path):
    import keras

    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            keras_files = sorted(path.glob("*.keras"))
            if keras_files:
                _import_all_nets()  # registers tfstem's custom layers before Keras deserialises them
                return keras.saving.load_model(keras_files[0], compile=False)
            return SavedModelRunner(path)
        raise ValueError(f"{path} is a directory without saved_model.pb; pass a .keras file or a SavedModel.")
    if path.suffix == ".keras":
        if path.stat().st_size == 0:
            raise ValueError(f"{path} is empty; it is not a Keras model file.")
        _import_all_nets()
        return keras.saving.load_model(path, compile=False)
    raise ValueError(f"{path}: unsupported model file; pass a .keras file or a SavedModel directory.")


def _import_all_nets():
    """Import every tfstem network module so that their custom layers are registered for deserialisation."""
    import importlib
    import pkgutil

    import tfstem.nets

    for module in pkgutil.iter_modules(tfstem.nets.__path__):
        importlib.import_module(f"tfstem.nets.{module.name}")


def load_model(name_or_path=DEFAULT_MODEL):
    """Load a restoration model by registry name or path.

    Parameters
    ----------
    name_or_path : str or Path
        A name from :func:`list_models` (e.g. ``"r_em/hrstem"``), or a path to a ``.keras`` file or a
        SavedModel directory.

    Returns
    -------
    keras.Model or SavedModelRunner
        Takes raw intensities ``float32 [N, H, W, C]`` (any H, W) and returns the same shape.

    Raises
    ------
    ValueError
        Unknown name or unusable file; the message lists the available names.
    ImportError
        An ``r_em/`` model without tk-r-em installed (``pip install 'tfstem[r_em]'``).
    """
    if name_or_path is None:
        name_or_path = DEFAULT_MODEL
    if not isinstance(name_or_path, (str, Path)):
        raise ValueError(f"model must be a name, a path or a keras.Model; received {type(name_or_path).__name__}.")
    text = str(name_or_path)
    if text.startswith("r_em/"):
        from tfstem.r_em import load_r_em_model

        return load_r_em_model(text)
    shipped = _shipped_models()
    if text in shipped:
        return _load_path(shipped[text])
    path = Path(text).expanduser()
    if path.exists():
        return _load_path(path)
    raise ValueError(
        f"unknown model {text!r}: not a registered name and no such file. "
        f"Available: {', '.join(list_models())}; or pass a path to a .keras file or SavedModel directory."
    )
