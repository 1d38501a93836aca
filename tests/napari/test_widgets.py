"""The Restore and Train widgets in a real napari viewer: runs ``viewer_scenario.py`` in a fresh process.

The scenario needs the order of a napari session -- OpenGL first, then TensorFlow imported by the plugin
(:func:`tfstem.napari.import_tensorflow`) -- while the rest of the suite has imported TensorFlow long
before; Mesa's OpenGL crashes in that order. So it runs in its own ``pytest --noconftest`` process (with
napari's ``make_napari_viewer`` fixture and pytest-qt) and this test reports its outcome. Needs a display
(``make test`` provides one with ``xvfb-run``); skipped with the reason otherwise.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.mark.usefixtures("needs_display")
def test_reader_restore_train_and_screenshot_in_a_viewer(screenshot_dir):
    env = {**os.environ, "TFSTEM_SCREENSHOT_DIR": str(screenshot_dir), "TF_CPP_MIN_LOG_LEVEL": "2",
           "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "")}
    screenshot = screenshot_dir / "napari_restore_train.png"
    screenshot.unlink(missing_ok=True)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--noconftest", "-p", "no:cacheprovider", "-q", "-x", "-W",
         "ignore::DeprecationWarning", str(HERE / "viewer_scenario.py")],
        cwd=HERE.parents[1], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "1 passed" in run.stdout, run.stdout[-6000:] + run.stderr[-3000:]
    assert screenshot.is_file() and screenshot.stat().st_size > 10_000
