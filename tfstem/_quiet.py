"""Keep TensorFlow's start-up lines (absl, oneDNN, CUDA probing) off the terminal.

TensorFlow's C++ runtime writes them to file descriptor 2 before any Python or ``TF_CPP_MIN_LOG_LEVEL``
setting applies (the lines "All log messages before absl::InitializeLog()", "oneDNN custom operations
are on", "Could not find cuda drivers", and "failed call to cuInit" at the first device query). A user
of a denoiser has no use for them, so tfstem imports TensorFlow with descriptor 2 redirected to a
temporary file, queries the devices inside the same redirection, and replays the captured text only if
the import fails, so that a broken installation still explains itself.

``TFSTEM_VERBOSE=1`` in the environment (or ``tfstem --verbose``) lets every line through.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys
import tempfile

VERBOSE_VARIABLE = "TFSTEM_VERBOSE"


def verbose() -> bool:
    """True when ``$TFSTEM_VERBOSE`` asks for TensorFlow's own log lines."""
    return os.environ.get(VERBOSE_VARIABLE, "").strip().lower() not in ("", "0", "false", "no")


def run_with_stderr_captured(function):
    """Call ``function()`` with file descriptor 2 sent to a temporary file; replay the file if it raises."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            return function()
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _query_devices(module):
    try:
        module.config.list_physical_devices()  # CUDA probing prints here, inside the capture
    except Exception:  # noqa: BLE001  (a device problem is reported by the first real op instead)
        pass


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        if verbose():
            self._loader.exec_module(module)
            return

        def load():
            self._loader.exec_module(module)
            _query_devices(module)

        run_with_stderr_captured(load)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` with the normal finders and wraps its loader in :class:`_QuietLoader`."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        uninstall()
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _QuietLoader(spec.loader)
        return spec


_FINDER = _QuietTensorFlowFinder()
#: Whether :func:`install` set ``TF_CPP_MIN_LOG_LEVEL`` (so that ``--verbose`` may take it back).
_SET_LOG_LEVEL = False


def install() -> None:
    """Make the next ``import tensorflow`` in this process quiet (no-op once TensorFlow is imported)."""
    global _SET_LOG_LEVEL
    if not verbose() and "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
        _SET_LOG_LEVEL = True
    if "tensorflow" not in sys.modules and _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def make_verbose() -> None:
    """Let TensorFlow's log lines through from now on (``tfstem --verbose``)."""
    os.environ[VERBOSE_VARIABLE] = "1"
    if _SET_LOG_LEVEL and os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "2":
        del os.environ["TF_CPP_MIN_LOG_LEVEL"]
    uninstall()


def uninstall() -> None:
    """Remove the import hook (it removes itself after its one use)."""
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
