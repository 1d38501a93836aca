"""Model names -> where their weights come from; one loader, :func:`load_model`.

Sources, in the order names are looked up:

1. ``r_em/<modality>``: the r_em authors' CGRDN weights imported from the optional ``tk-r-em`` package
   (:mod:`tfstem.r_em`), for hrstem, lrstem, hrtem, lrtem, hrsem and lrsem;
2. ``<name>``: a model shipped by this project under ``weights/<name>/<version>/`` (TF Serving layout,
   a ``<name>.keras`` file beside the SavedModel for Python users; the highest version wins);
3. a path: a ``.keras`` file, a SavedModel directory (its ``.keras`` twin when it has one, else loaded
   with ``tf.saved_model.load`` and called through its ``serving_default`` signature), or a directory
   holding exactly one ``.keras`` file.

A file that is not a valid ``.keras`` archive, an empty name and a directory that is none of these are
each a one-line ``ValueError`` naming the path.
"""

from __future__ import annotations

from pathlib import Path

from tfstem.paths import WEIGHTS_DIR
from tfstem.r_em.authors import R_EM_MODELS

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


def _load_keras_file(path: Path):
    """Load a ``.keras`` file, or say in one line that it is not one (Keras itself says "File not found")."""
    import zipfile

    import keras

    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"{path} is empty (0 bytes); it is not a valid Keras model file.")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path} is not a valid Keras model file: a .keras file is a zip archive and this one ({size} bytes) "
            "is not (truncated or corrupt?); save it again with model.save(path)."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            broken = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ValueError(f"{path} is not a valid Keras model file: {error}.") from None
    if broken is not None or "config.json" not in names:
        what = f"its member {broken} is corrupt" if broken is not None else "it has no config.json"
        raise ValueError(f"{path} is not a valid Keras model file: {what}; save it again with model.save(path).")
    _import_all_nets()  # registers tfstem's custom layers before Keras deserialises them
    try:
        return keras.saving.load_model(path, compile=False)
    except ImportError:
        raise
    except Exception as error:  # Keras raises many kinds; the user needs the file name and the reason
        reason = " ".join(str(error).split())[:300]
        raise ValueError(f"{path} could not be loaded as a Keras model file: {reason}") from error


def _load_saved_model(path: Path):
    try:
        return SavedModelRunner(path)
    except ValueError:
        raise
    except Exception as error:  # a corrupt saved_model.pb or variables/: TensorFlow's own errors
        reason = " ".join(str(error).split())[:300]
        raise ValueError(f"{path} is not a valid SavedModel: {reason}") from error


def _load_directory(path: Path):
    keras_files = sorted(path.glob("*.keras"))
    if (path / "saved_model.pb").is_file():
        return _load_keras_file(keras_files[0]) if keras_files else _load_saved_model(path)
    if len(keras_files) == 1:
        return _load_keras_file(keras_files[0])
    if keras_files:
        raise ValueError(
            f"{path} holds {len(keras_files)} .keras files ({', '.join(p.name for p in keras_files[:5])}); "
            "pass one of them."
        )
    versions = sorted((p.name for p in path.iterdir() if p.is_dir() and (p / "saved_model.pb").is_file()),
                      key=lambda name: (not name.isdigit(), int(name) if name.isdigit() else 0, name))
    hint = f"; its sub-directories {', '.join(versions)} are; pass one of them" if versions else ""
    raise ValueError(
        f"{path} is a directory that is neither a SavedModel (no saved_model.pb) nor holds a .keras file{hint}; "
        "pass a .keras file or a SavedModel directory."
    )


def _load_path(path: Path):
    if path.is_dir():
        return _load_directory(path)
    if path.suffix == ".keras":
        return _load_keras_file(path)
    raise ValueError(f"{path}: unsupported model file; pass a .keras file or a SavedModel directory.")


#: The modules that define tfstem's networks and their custom layers (imported to register them).
NETWORK_MODULES = ("tfstem.layers", "tfstem.r_em.cgrdn", "tfstem.r_em.patch_critic", "tfstem.noise2atom.xception_unet",
                   "tfstem.noise2atom.wgan_critic", "tfstem.noise2atom.lowpass", "tfstem.n2v.unet")


def _import_all_nets():
    """Import every tfstem network module so that their custom layers are registered for deserialisation."""
    import importlib

    for module in NETWORK_MODULES:
        importlib.import_module(module)


def load_model(name_or_path=DEFAULT_MODEL):
    """Load a restoration model by registry name or path.

    Parameters
    ----------
    name_or_path : str or Path
        A name from :func:`list_models` (e.g. ``"r_em/hrstem"``), or a path to a ``.keras`` file, a
        SavedModel directory (its ``.keras`` twin is preferred when it holds one) or a directory
        holding exactly one ``.keras`` file.

    Returns
    -------
    keras.Model or SavedModelRunner
        Takes raw intensities ``float32 [N, H, W, C]`` (any H, W) and returns the same shape.

    Raises
    ------
    ValueError
        An empty name, an unknown name (the message lists the available ones), a file that is not a valid
        ``.keras`` archive, a corrupt SavedModel, or a directory that is neither a SavedModel nor holds
        exactly one ``.keras`` file.
    ImportError
        An ``r_em/`` model without tk-r-em installed (``pip install 'tfstem[r_em]'``).
    """
    if name_or_path is None:
        name_or_path = DEFAULT_MODEL
    if not isinstance(name_or_path, (str, Path)):
        raise ValueError(f"model must be a name, a path or a keras.Model; received {type(name_or_path).__name__}.")
    text = str(name_or_path)
    if not text.strip():
        raise ValueError(
            f"model must name a model or a path; received {text!r}, which is empty. Available: "
            f"{', '.join(list_models())}; or pass a path to a .keras file or SavedModel directory."
        )
    if text.startswith("r_em/"):
        from tfstem.r_em.authors import load_r_em_model

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
