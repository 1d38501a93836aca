"""The run-folder rule shared by the three trainers: resume only a matching run, replace only with force.

A training run writes its record (the config plus a fingerprint of the data), checkpoints, history and
model into one folder. Before any data is loaded or any network built, :func:`prepare_run_folder` decides:

* a folder that does not exist, or holds none of the trainer's outputs: a new run;
* ``force``: a new run; the earlier run's outputs are removed by :func:`clear_previous_run` only when the
  new run has something to keep (its first checkpoint), so an early failure loses nothing;
* ``resume`` and the saved record matches (same data, seed and options): continue that run;
* otherwise a one-line error that says what differs and to pass ``--force`` or another ``-o``.

The record is written only with the first checkpoint, so a run that fails before it leaves no record
behind and its retry needs no ``--force``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

from tfstem.outputs import check_directory_writable

__all__ = ["data_fingerprint", "prepare_run_folder", "clear_previous_run", "DATA_KEY"]

#: Key of the data fingerprint in a saved config (a leading "_": not a training option).
DATA_KEY = "_data"


def data_fingerprint(*arrays) -> list:
    """Shape, dtype and SHA-256 of each array: what a resumed run must be trained on again.

    Parameters
    ----------
    *arrays : array_like
        The training data as given (any shape and dtype).

    Returns
    -------
    list of dict
        ``{"shape": [...], "dtype": str, "sha256": str}`` per array (JSON-serialisable).
    """
    out = []
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest = hashlib.sha256(array.view(np.uint8).reshape(-1) if array.size else b"").hexdigest()
        out.append({"shape": list(array.shape), "dtype": str(array.dtype), "sha256": digest})
    return out


def _short(value) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _differences(saved: dict, record: dict, ignore=()) -> list[str]:
    """Readable ``name saved -> new`` for every key whose JSON value differs (``ignore``: keys not compared)."""
    normal = lambda v: json.loads(json.dumps(v, default=str))  # noqa: E731  (tuples -> lists, like the file)
    out = []
    for key in sorted((set(saved) | set(record)) - set(ignore)):
        old, new = normal(saved.get(key)), normal(record.get(key))
        if old != new:
            name = "data" if key == DATA_KEY else key
            if key == DATA_KEY:
                out.append("data (another series or pairs)" if old is not None else "data (not recorded)")
            else:
                out.append(f"{name} {_short(old)} -> {_short(new)}")
    return out


def prepare_run_folder(directory, record: dict, *, resume: bool, force: bool, outputs, record_file: str,
                       what: str = "-o/--output", resumable: bool = True, may_change=()) -> bool:
    """Check, before any work, that a training run may use ``directory``; returns True to resume.

    Parameters
    ----------
    directory : str or Path
        The run folder (created later, at the first checkpoint, if missing).
    record : dict
        What the run is: its config as a dict plus :data:`DATA_KEY` (see :func:`data_fingerprint`).
    resume, force : bool
        ``--resume`` (continue a matching run) and ``--force`` (start afresh); not both.
    outputs : sequence of str
        Names (files or folders) the trainer writes in ``directory``; any of them makes it an earlier run.
    record_file : str
        The file among ``outputs`` that holds the earlier run's record.
    what : str
        How the messages name the folder.
    resumable : bool
        False for a trainer that cannot resume: the messages then offer only ``--force``.
    may_change : sequence of str
        Options a resumed run may change (they do not change what is trained: logging and checkpoint
        intervals, XLA compilation).

    Raises
    ------
    ValueError
        ``resume`` and ``force`` together, or a saved record that differs from ``record``.
    FileExistsError
        An earlier run without ``resume`` or ``force``.
    NotADirectoryError, PermissionError
        ``directory`` is a file or cannot be written.
    """
    directory = Path(directory)
    if resume and force:
        raise ValueError("pass --resume (continue the run) or --force (start afresh), not both.")
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"{what} {directory} is a file; pass a folder.")
    check_directory_writable(directory, what=what)
    present = [name for name in outputs if (directory / name).exists()]
    if not present or force:
        return False
    saved_path = directory / record_file
    if not resume:
        offer = "pass --resume to continue it, --force to start afresh," if resumable else "pass --force to replace it"
        raise FileExistsError(f"{what} {directory} holds an earlier run ({', '.join(present)}); {offer} "
                              f"or choose another folder.")
    if not saved_path.exists():
        raise FileExistsError(f"{what} {directory} holds {', '.join(present)} but no {record_file} to resume from; "
                              f"pass --force to start afresh or choose another folder.")
    try:
        saved = json.loads(saved_path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"{saved_path} cannot be read ({type(error).__name__}); pass --force to start afresh "
                         f"or choose another folder.") from None
    differ = _differences(saved, record, may_change)
    if differ:
        raise ValueError(f"{what} {directory} holds a run with other settings: {'; '.join(differ)}; pass --force "
                         f"to start afresh or choose another folder.")
    return True


def clear_previous_run(directory, outputs) -> None:
    """Remove an earlier run's ``outputs`` from ``directory`` (files or folders); nothing else is touched."""
    directory = Path(directory)
    for name in outputs:
        path = directory / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
