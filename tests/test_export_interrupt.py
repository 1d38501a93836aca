"""Ctrl-C (SIGINT) during `tfstem export --force` over an existing version keeps the old version intact.

Issue 15, point 8: `export --force` deleted the old version folder before writing the new one, so an
interrupt left an empty model folder and the old model gone. The test exports a tiny model, then runs
the command line in a subprocess over that version and sends SIGINT while the new version is being
traced. For the signal to land there every time (not before, not after the rename), the model holds a
layer that, once the staging folder of the new version exists, touches a marker file and waits; the test
sends SIGINT when the marker appears.
"""

import hashlib
import importlib.util
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest


# A pass-through layer that waits while the export it belongs to is writing its new version: it runs in
# the subprocess (imported before the CLI) and in this process (to build the model); it waits only where
# EXPORT_TEST_MODEL_FOLDER is set and that folder holds a hidden (staging) entry.
WAITING_LAYER = '''
import os, time
from pathlib import Path
import keras

@keras.saving.register_keras_serializable(package="export_interrupt_test")
class WaitWhileExporting(keras.layers.Layer):
    def call(self, x):
        folder = os.environ.get("EXPORT_TEST_MODEL_FOLDER")
        if folder and any(p.name.startswith(".") for p in Path(folder).iterdir()):
            Path(os.environ["EXPORT_TEST_MARKER"]).touch()
            time.sleep(120)
        return x
'''

RUN_CLI = ("import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); import waiting_layer; "
           "runpy.run_module('tfstem.cli', run_name='__main__', alter_sys=True)")


def _hashes(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _tiny_model(tmp_path):
    """A 2-conv model (21 weights) with the waiting layer between them, saved as ``tiny.keras``."""
    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "waiting_layer.py").write_text(WAITING_LAYER)
    spec = importlib.util.spec_from_file_location("waiting_layer", tmp_path / "hook" / "waiting_layer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import keras

    image = keras.Input(shape=(None, None, 1), name="image")
    features = keras.layers.Conv2D(2, 3, padding="same")(image)
    features = module.WaitWhileExporting()(features)
    model = keras.Model(image, keras.layers.Conv2D(1, 1)(features), name="tiny")
    model.save(tmp_path / "tiny.keras")
    return tmp_path / "tiny.keras"


@pytest.fixture(scope="module")
def interrupted_export(tmp_path_factory):
    """Export version 1, then SIGINT `export --force` over it mid-trace; returns what the test checks."""
    from tfstem.export import export_model

    tmp_path = tmp_path_factory.mktemp("interrupt")
    model_file = _tiny_model(tmp_path)
    serving = tmp_path / "serving"
    version_dir = export_model(str(model_file), serving, name="m", version=1)
    before = _hashes(version_dir)
    marker = tmp_path / "tracing"
    env = dict(os.environ, EXPORT_TEST_MODEL_FOLDER=str(serving / "m"), EXPORT_TEST_MARKER=str(marker),
               TF_CPP_MIN_LOG_LEVEL="2")
    command = [sys.executable, "-c", RUN_CLI, str(tmp_path / "hook"),
               "export", str(model_file), str(serving), "--name", "m", "--version", "1", "--force"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not marker.exists():
            if process.poll() is not None:
                pytest.fail(f"export ended (exit {process.returncode}) before it traced the new version:\n"
                            f"{process.stderr.read()[-3000:]}")
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return {"serving": serving, "version_dir": version_dir, "before": before,
            "returncode": process.returncode, "stdout": stdout, "stderr": stderr}


def test_sigint_during_forced_export_keeps_the_old_version(interrupted_export):
    assert _hashes(interrupted_export["version_dir"]) == interrupted_export["before"]
    # no staging, no renamed-aside old copy, no partial file anywhere
    assert sorted(p.name for p in interrupted_export["serving"].iterdir()) == ["m"]
    assert sorted(p.name for p in (interrupted_export["serving"] / "m").iterdir()) == ["1"]
    assert interrupted_export["returncode"] != 0
    assert "exported" not in interrupted_export["stdout"]


def test_old_version_still_serves_after_the_interrupt(interrupted_export):
    import tensorflow as tf

    served = tf.saved_model.load(str(interrupted_export["version_dir"])).signatures["serving_default"]
    out = served(image=tf.constant(np.ones((1, 8, 8, 1), np.float32)))["denoised"]
    assert out.shape == (1, 8, 8, 1)


def test_sigint_during_export_exits_130_without_traceback(interrupted_export):
    assert interrupted_export["returncode"] == 130, interrupted_export["stderr"][-3000:]
    stderr = interrupted_export["stderr"]
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr[-3000:]
    # one line from tfstem (TensorFlow's own start-up lines, printed because the waiting layer imports
    # keras before the CLI can quieten it, are not the CLI's to count)
    assert len([line for line in stderr.splitlines() if line.startswith("tfstem")]) == 1, stderr[-3000:]
