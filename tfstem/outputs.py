"""One output discipline for everything tfstem writes: check first, write aside, rename into place.

Every command and API that writes a file or a folder goes through these functions, so that

* an unwritable target (read-only folder or filesystem, a file where a folder is needed) is reported
  *before* the work starts, in one line that names the path;
* a file or folder is written under a temporary name in the same directory and renamed into place only
  when complete: an interrupt or a crash never leaves a partial output that looks finished, and an old
  version is replaced only by a complete new one;
* nothing is overwritten unless the caller passed ``force=True`` (``--force`` on the command line);
* two inputs that would be written to one output are refused before any work.

Errors are ``FileExistsError``, ``NotADirectoryError``, ``IsADirectoryError`` or ``PermissionError``
(all ``OSError``), each with a one-line message that says what to do.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

__all__ = [
    "check_directory_writable", "check_new_file", "check_new_directory", "check_distinct_outputs",
    "atomic_file", "atomic_directory", "write_text", "write_json", "partial_name",
]

#: Marker in the names of files and folders being written; a listing that shows it shows unfinished work.
PARTIAL_MARK = ".partial-"


def partial_name(path: Path) -> str:
    """The prefix of temporary names used while ``path`` is written (hidden, marked as partial)."""
    return f".{Path(path).name}{PARTIAL_MARK}"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _give_default_mode(path: Path, *, folder: bool) -> None:
    """``mkstemp``/``mkdtemp`` create owner-only entries; give the final output the mode ``open`` would."""
    os.chmod(path, (0o777 if folder else 0o666) & ~_umask())


def _nearest_existing(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists():
        if path.parent == path:
            break
        path = path.parent
    return path


def check_directory_writable(directory, *, what: str = "output") -> None:
    """Raise an ``OSError`` unless files can be created in ``directory`` (created later if missing).

    The nearest existing ancestor must be a folder in which a file can be created: the check writes and
    removes a probe file there, which catches read-only folders and read-only filesystems even for root.

    Parameters
    ----------
    directory : str or Path
        The folder that will receive the output.
    what : str
        How the message names the target (e.g. ``"--output"``).
    """
    directory = Path(directory)
    existing = _nearest_existing(directory)
    if not existing.is_dir():
        raise NotADirectoryError(f"{what} {directory}: {existing} is a file, not a folder; choose another path.")
    try:
        handle, probe = tempfile.mkstemp(prefix=".tfstem-write-probe-", dir=existing)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise PermissionError(f"{what} {directory}: cannot write in {existing} ({reason}); "
                              f"choose a writable location.") from None
    os.close(handle)
    os.unlink(probe)


def check_new_file(path, *, force: bool = False, what: str = "output") -> Path:
    """Check, before any work, that ``path`` can be written as a file; returns it as a ``Path``.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``force`` is False.
    IsADirectoryError
        ``path`` is a folder.
    NotADirectoryError, PermissionError
        Its folder cannot receive files (see :func:`check_directory_writable`).
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{what} {path} is a folder; pass a file name.")
    if path.exists() and not force:
        raise FileExistsError(f"{what} {path} exists; pass --force (force=True) to replace it or choose another.")
    check_directory_writable(path.parent, what=what)
    return path


def check_new_directory(path, *, force: bool = False, what: str = "output") -> Path:
    """Check, before any work, that the folder ``path`` can be written (replaced only with ``force``)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{what} {path} is a file; pass a folder.")
    if path.is_dir() and not force:
        raise FileExistsError(f"{what} {path} exists; pass --force (force=True) to replace it or choose another.")
    check_directory_writable(path.parent, what=what)
    return path


def check_distinct_outputs(sources, targets, *, what: str = "inputs") -> None:
    """Raise ValueError if two of ``sources`` map to one of ``targets`` (compared as absolute paths)."""
    seen = {}
    for source, target in zip(sources, targets):
        key = os.path.normcase(os.path.abspath(target))
        if key in seen:
            raise ValueError(f"{what} {seen[key]} and {source} would both be written to {target}; "
                             f"rename one or restore them into separate folders.")
        seen[key] = source


@contextlib.contextmanager
def atomic_file(path, *, force: bool = False):
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block completes.

    The temporary file keeps ``path``'s suffix (writers pick the format from it). If the block raises
    (KeyboardInterrupt included) the temporary file is removed and ``path`` is untouched.

    Examples
    --------
    >>> with atomic_file("out.npy") as tmp:  # doctest: +SKIP
    ...     np.save(tmp, array)
    """
    path = Path(path)
    check_new_file(path, force=force)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=partial_name(path), suffix=path.suffix, dir=path.parent)
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        if path.exists() and not force:  # appeared while we worked: never clobber it
            raise FileExistsError(f"{path} appeared while it was being written; the new copy was discarded.")
        _give_default_mode(tmp, folder=False)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_directory(path, *, force: bool = False):
    """Yield an empty staging folder beside ``path``; swap it in for ``path`` when the block completes.

    An existing ``path`` (allowed only with ``force``) is renamed aside, the staging folder renamed into
    its place, and only then is the old one deleted: at every moment either the old or the new complete
    folder is at ``path``. If the block raises, the staging folder is deleted and ``path`` is untouched.
    """
    path = Path(path)
    check_new_directory(path, force=force)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=partial_name(path), dir=path.parent))
    try:
        yield staging
        if path.exists() and not force:
            raise FileExistsError(f"{path} appeared while it was being written; the new copy was discarded.")
        _give_default_mode(staging, folder=True)
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            old.rmdir()
            os.rename(path, old)
        try:
            os.rename(staging, path)
        except BaseException:
            if old is not None:
                os.rename(old, path)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def write_text(path, text: str, *, force: bool = False) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; an existing file is replaced only with ``force``."""
    with atomic_file(path, force=force) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path, value, *, force: bool = False, indent: int = 2) -> Path:
    """Write ``value`` as JSON to ``path`` atomically (``default=str`` for paths and the like)."""
    return write_text(path, json.dumps(value, indent=indent, default=str) + "\n", force=force)
