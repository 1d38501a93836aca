"""Set-up of the napari plugin tests: a display for the widget tests, a tiny model, a private cache.

The widget tests need a real X display: napari draws its canvas with vispy through OpenGL, which Qt's
``offscreen`` platform does not give it. ``make test`` runs pytest under ``xvfb-run`` when ``DISPLAY`` is
unset; without a display they are skipped with that reason. Screenshots go to ``$TFSTEM_SCREENSHOT_DIR``,
else ``tests/napari/artifacts/`` (ignored by git).
"""

import os
import shutil
from pathlib import Path

import pytest

ARTIFACTS = Path(os.environ.get("TFSTEM_SCREENSHOT_DIR") or Path(__file__).parent / "artifacts")


def display_problem():
    """Why the widget tests cannot run here (None when they can)."""
    for module in ("napari", "pytestqt", "qtpy"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (pip install 'tfstem[napari]' pytest-qt)"
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform == "offscreen":
        return "QT_QPA_PLATFORM=offscreen gives vispy no OpenGL context; run under xvfb-run (make test does)"
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) and os.name == "posix":
        hint = "xvfb-run -a pytest" if shutil.which("xvfb-run") else "apt-get install xvfb, then xvfb-run -a pytest"
        return f"no display (DISPLAY is unset): napari needs one; run `{hint}` (make test does)"
    return None


@pytest.fixture
def needs_display():
    problem = display_problem()
    if problem:
        pytest.skip(problem)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Trained models go to a temporary cache, never the user's."""
    monkeypatch.setenv("TFSTEM_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    """The smallest CGRDN (as in tests/test_cli_safety.py), saved as .keras."""
    from tfstem.r_em.cgrdn import build_cgrdn

    path = tmp_path_factory.mktemp("model") / "tiny_cgrdn.keras"
    build_cgrdn(features=8, growth=4, layers_per_rdb=2, rdbs_per_grdb=1, grdbs=1).save(path)
    return path


@pytest.fixture(scope="session")
def screenshot_dir():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
