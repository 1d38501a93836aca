"""The Train widget's job without a viewer: Noise2Atom's per-iteration callback, Stop, and the saved model."""

import json
import queue
import threading

import numpy as np
import pytest

from tfstem.napari import trained_models
from tfstem.napari.train_widget import fit_patch_size, format_losses, train_job


def test_fit_patch_size():
    assert fit_patch_size(256, 128, 140) == 128 and fit_patch_size(100, 512, 512) == 96
    with pytest.raises(ValueError, match="too small"):
        fit_patch_size(256, 40, 300, minimum=48)


@pytest.fixture
def eager():
    """Run Noise2Atom's tf.functions eagerly: tracing its 8-pass schedule costs far more than 2 tiny iterations
    (the job's plumbing is what is tested here; tests/noise2atom/test_training.py covers the traced schedule)."""
    import tensorflow as tf

    tf.config.run_functions_eagerly(True)
    yield
    tf.config.run_functions_eagerly(False)


@pytest.mark.slow
def test_noise2atom_job_reports_every_iteration_stops_and_saves(private_cache, eager):
    frames = np.random.default_rng(0).poisson(3.0, (3, 64, 64, 1)).astype(np.float32)
    updates, stop = queue.Queue(), threading.Event()
    seen = []

    class StopAfterTwo(queue.Queue):  # the Stop button, pressed when the second loss arrives
        def put(self, item, *args, **kwargs):
            seen.append(item)
            if len(seen) == 2:
                stop.set()
            super().put(item, *args, **kwargs)

    updates = StopAfterTwo()
    settings = dict(epochs=3, max_minutes=5.0, features=4, patch_size=64,
                    options=dict(num_residual_blocks=0, critic_filters=(4, 4, 8, 8), steps_per_epoch=5,
                                 batch_size=2, adversarial_warmup=1, critic_steps=1))
    result = train_job(frames, "noise2atom", settings, updates=updates, stop=stop, source="my series",
                       record={"pixel_size": 0.04, "unit": "nm"})
    assert "error" not in result, result
    assert [item[:2] for item in seen] == [("step", 1), ("step", 2)]
    # iteration 1 is the cpu preset's warm-up (shrunk to 1): no adversarial update, so no gan in the readout
    assert set(seen[0][2]) >= {"critic", "cycle", "lfc"} and "gan" not in seen[0][2]
    assert set(seen[1][2]) >= {"critic", "gan", "cycle", "lfc"} and all(np.isfinite(list(seen[1][2].values())))
    assert result["stopped"] == "callback" and result["steps"] == 2
    path = result["path"]
    assert path.parent == trained_models.models_dir() and path.name.startswith("noise2atom_my_series_")
    assert trained_models.list_trained_models() == [path]
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["method"] == "noise2atom" and record["pixel_size"] == 0.04 and record["channels"] == 1
    assert format_losses(*seen[1]).startswith("step 2: ")


def test_job_errors_are_one_line_results_not_exceptions(private_cache):
    frames = np.zeros((2, 64, 64, 2), np.float32)
    settings = dict(epochs=1, max_minutes=1.0, features=4, patch_size=64)
    result = train_job(frames, "noise2atom", settings, updates=queue.Queue(), stop=threading.Event(), source="x")
    assert "one channel" in result["error"] and "\n" not in result["error"]
    result = train_job(frames[:, :12, :12], "n2v", settings, updates=queue.Queue(), stop=threading.Event(), source="x")
    assert "too small" in result["error"]
    assert trained_models.list_trained_models() == []


def test_n2v_job_reports_steps_and_epochs_stops_and_saves(private_cache):
    frames = np.random.default_rng(0).normal(10.0, 1.0, (6, 32, 32, 2)).astype(np.float32)
    stop, seen = threading.Event(), []

    class StopAtThree(queue.Queue):  # the Stop button, pressed when the third step's loss arrives
        def put(self, item, *args, **kwargs):
            seen.append(item)
            if item[:2] == ("step", 3):
                stop.set()
            super().put(item, *args, **kwargs)

    settings = dict(epochs=5, max_minutes=5.0, features=4, patch_size=32,
                    options=dict(steps_per_epoch=2, depth=2, validation_patches=2, batch_size=2))
    result = train_job(frames, "n2v", settings, updates=StopAtThree(), stop=stop, source="video")
    assert "error" not in result, result
    assert [item[:2] for item in seen] == [("step", 1), ("step", 2), ("epoch", 1), ("step", 3)]
    assert set(seen[2][2]) == {"loss", "val_loss"} and all(np.isfinite(list(seen[2][2].values())))
    assert result["stopped"] == "callback" and result["steps"] == 3 and np.isfinite(result["best_val_loss"])
    assert format_losses(*seen[2]).startswith("epoch 1: loss")
    record = json.loads(result["path"].with_suffix(".json").read_text())
    assert record["method"] == "n2v" and record["channels"] == 2
