"""The napari plugin in a real viewer (napari's ``make_napari_viewer`` fixture, pytest-qt, under xvfb).

Not collected by the main run: ``tests/napari/test_widgets.py`` runs it in a fresh
``pytest --noconftest`` process, in the order a napari session has (the viewer draws before TensorFlow is
imported, see :func:`tfstem.napari.import_tensorflow`), since the suite's other tests import TensorFlow
first, which Mesa's OpenGL does not survive.

One viewer: open a file through the tfstem reader (scale set), dock both widgets from the manifest,
restore the layer with a tiny model, train N2V for two steps (its model then appears in Restore's list),
restore with it, refuse a broken model file with a notification, and save a screenshot of the window.
"""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from tfstem import io

SCREENSHOT_DIR = Path(os.environ.get("TFSTEM_SCREENSHOT_DIR") or Path(__file__).parent / "artifacts")


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TFSTEM_CACHE_DIR", str(tmp_path / "cache"))


def _wait(qtbot, widget, worker, timeout=60_000):
    assert worker is not None, "the widget refused to start"
    qtbot.waitUntil(lambda: not widget.running, timeout=timeout)


def test_open_restore_train_screenshot(make_napari_viewer, qtbot, tmp_path, private_cache):
    from napari.utils.notifications import notification_manager

    from tfstem.napari import import_tensorflow, trained_models

    assert "tensorflow" not in sys.modules  # as in a napari session: the viewer draws first

    rng = np.random.default_rng(0)
    y, x = np.mgrid[:64, :64]
    lattice = (np.cos(2 * np.pi * y / 8) * np.cos(2 * np.pi * x / 8) + 1.5) * 20
    frames = rng.poisson(np.broadcast_to(lattice, (4, 64, 64))).astype(np.uint16)
    path = io.write_image(tmp_path / "series.tif", frames, pixel_size=0.05, unit="nm")

    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(path), plugin="tfstem")
    viewer.screenshot(canvas_only=True, flash=False)  # OpenGL (Mesa's LLVM) is loaded from here on
    import_tensorflow()
    from tfstem.r_em.cgrdn import build_cgrdn

    tiny_model_path = tmp_path / "tiny_cgrdn.keras"  # the smallest CGRDN, as in tests/test_cli_safety.py
    build_cgrdn(features=8, growth=4, layers_per_rdb=2, rdbs_per_grdb=1, grdbs=1).save(tiny_model_path)
    assert layer.data.shape == (4, 64, 64)
    np.testing.assert_allclose(layer.scale, (1, 0.05, 0.05))
    assert [str(unit) for unit in layer.units][1:] == ["nanometer", "nanometer"]

    _, restore = viewer.window.add_plugin_dock_widget("tfstem", "Restore")
    _, train = viewer.window.add_plugin_dock_widget("tfstem", "Train")
    assert restore.image.value.name == "series" and train.image.value.name == "series"
    assert "r_em/hrstem" in [value for value in restore.model.choices]

    # Restore with a .keras file picked in the chooser: it joins the model list and is selected.
    restore.model_file.value = tiny_model_path
    assert restore.model.value == str(tiny_model_path)
    restore.tile_size.value = 32
    _wait(qtbot, restore, restore.run())
    (restored,) = restore.last_result
    assert restored.data.shape == (4, 64, 64) and restored.data.dtype == np.float32
    np.testing.assert_allclose(restored.scale, layer.scale)
    np.testing.assert_allclose(restored.translate, layer.translate)
    assert restored.metadata["tfstem_restore"]["model"] == str(tiny_model_path)
    assert restore.progress.value == restore.progress.max == 4
    import tfstem

    expected = tfstem.restore(frames, model=str(tiny_model_path), tile_size=32, verbose=False)
    np.testing.assert_allclose(restored.data, expected, rtol=1e-5, atol=1e-5 * float(np.ptp(expected)))

    # Train N2V for two steps on the same layer; the model is saved and offered by Restore.
    train.epochs.value, train.features.value, train.patch_size.value = 1, 8, 32
    train.config_overrides = {"steps_per_epoch": 2, "depth": 2, "validation_patches": 2, "batch_size": 2}
    train.image.value = layer
    _wait(qtbot, train, train.run(), timeout=120_000)
    result = train.last_result
    assert "error" not in result, result
    assert result["path"].is_file() and result["path"].parent == trained_models.models_dir()
    assert result["path"].with_suffix(".json").is_file()
    assert [report[:2] for report in train.losses if report[0] == "step"] == [("step", 1), ("step", 2)]
    assert all(np.isfinite(report[2]["loss"]) for report in train.losses)
    assert train.readout.value.startswith("epoch 1: loss")
    assert restore.model.value == str(result["path"])  # announced to the open Restore widget
    _wait(qtbot, restore, restore.run())
    (restored_n2v,) = restore.last_result
    assert restored_n2v.name == "series restored (" + result["path"].stem + ")"
    assert np.isfinite(restored_n2v.data).all()

    # A broken model file: one notification, no layer, no traceback into Qt.
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a zip")
    restore.model_file.value = broken
    count = len(viewer.layers)
    with qtbot.waitSignal(notification_manager.notification_ready, timeout=30_000) as notified:
        restore.run()
    _wait(qtbot, restore, restore.worker)
    assert len(viewer.layers) == count
    assert "broken.keras" in notified.args[0].message and "not a valid Keras model file" in notified.args[0].message

    viewer.layers.selection.active = restored
    viewer.dims.set_point(0, 1)
    viewer.grid.enabled = True  # input, CGRDN and N2V results side by side
    viewer.window.resize(1600, 1000)
    viewer.reset_view()
    screenshot = viewer.screenshot(canvas_only=False, flash=False)
    assert screenshot.ndim == 3 and screenshot.shape[0] > 300 and screenshot.std() > 0
    import imageio.v3 as iio

    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    iio.imwrite(SCREENSHOT_DIR / "napari_restore_train.png", screenshot)
