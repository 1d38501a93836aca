"""Models trained in napari: where they are saved, how the Restore widget finds them.

The Train widget saves each model as ``<name>.keras`` with ``<name>.json`` beside it (method, source
layer, channels, pixel size, steps, seconds, last losses) in :func:`models_dir` -- ``<cache>/napari/models``
under :func:`tfstem.paths.cache_dir` (``$TFSTEM_CACHE_DIR``, else ``$XDG_CACHE_HOME/tfstem``, else
``~/.cache/tfstem``) -- or in a folder the user chose. Every file goes through :mod:`tfstem.outputs`
(written aside, renamed into place, never overwritten). :func:`list_trained_models` lists that folder and
the chosen folders of this session; :func:`announce` tells the Restore widgets registered with :func:`on_change` that it grew.
Nothing here imports napari or Qt.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

from tfstem import outputs, paths

__all__ = ["models_dir", "save_trained_model", "list_trained_models", "on_change", "model_file_name", "announce"]

_chosen_folders: list[Path] = []
_listeners: list = []


def models_dir() -> Path:
    """The default folder of models trained in napari: ``tfstem.paths.cache_dir() / "napari" / "models"``."""
    return paths.cache_dir() / "napari" / "models"


def model_file_name(method: str, source: str, *, now: datetime.datetime | None = None) -> str:
    """``<method>_<source>_<YYYYmmdd-HHMMSS>.keras`` with every run of other characters than ``[A-Za-z0-9.-]`` as ``_``."""
    stamp = (now or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^A-Za-z0-9.-]+", "_", f"{method}_{source}").strip("_.") or "model"
    return f"{slug[:80]}_{stamp}.keras"


def save_trained_model(model, *, method: str, source: str, record: dict, output_dir=None) -> Path:
    """Save ``model`` as a new ``.keras`` file with its record as JSON beside it; return the ``.keras`` path.

    Parameters
    ----------
    model : keras.Model
        The trained model (tfstem's model contract: ``image`` float32 ``[N, H, W, C]`` in and out).
    method : str
        ``"n2v"`` or ``"noise2atom"`` (the start of the file name).
    source : str
        Name of the layer it was trained on.
    record : dict
        JSON-serialisable facts saved as ``<name>.json``.
    output_dir : str or Path, optional
        Folder to save into (created if missing); default :func:`models_dir`. Listed by
        :func:`list_trained_models` from then on.

    Raises
    ------
    OSError
        The folder cannot receive files, or the file exists (a second save within the same second).
    """
    folder = Path(output_dir).expanduser() if output_dir else models_dir()
    path = folder / model_file_name(method, source)
    outputs.check_new_file(path, what="trained model")
    with outputs.atomic_file(path) as partial:
        model.save(partial)
    outputs.write_json(path.with_suffix(".json"), {"method": method, "source": source, **record})
    if output_dir and folder.resolve() != models_dir().resolve() and folder.resolve() not in _chosen_folders:
        _chosen_folders.append(folder.resolve())
    return path


def announce(path) -> None:
    """Tell the listeners (:func:`on_change`) that ``path`` was saved; call it from the GUI thread."""
    for listener in list(_listeners):
        listener(Path(path))


def list_trained_models() -> list[Path]:
    """``.keras`` files in :func:`models_dir` and the folders chosen this session, newest first."""
    found = {}
    for folder in [models_dir(), *_chosen_folders]:
        if folder.is_dir():
            for path in folder.glob("*.keras"):
                if not path.name.startswith("."):  # a partial write (tfstem.outputs) is hidden
                    found[path.resolve()] = path
    return sorted(found.values(), key=lambda p: p.stat().st_mtime, reverse=True)


def on_change(listener, *, remove: bool = False) -> None:
    """Register ``listener(path)``, called when a trained model was saved (or remove it).

    Listeners are called by :func:`announce` (the Train widget calls it in the GUI thread once the
    worker thread has saved the model), never from a worker thread.
    """
    if remove:
        if listener in _listeners:
            _listeners.remove(listener)
    elif listener not in _listeners:
        _listeners.append(listener)
