"""Noise2Void on the training layer: one step, best weights, resume, budget, transfer training, run folder."""

import argparse
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import tfstem.n2v
from tfstem.n2v import training
from tfstem.n2v.config import N2VConfig
from tfstem.n2v.training import N2V
from tfstem.training.fit import build_method
from tfstem.training.loop import train

TINY = dict(features=4, depth=2, patch_size=32, batch_size=2, epochs=2, steps_per_epoch=2, mask_spacing=8,
            replacement_radius=2, validation_patches=2, learning_rate=1e-3)


def _video(n=6, size=40, channels=2, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    clean = np.sin(yy / 3.0)[None, ..., None] + np.cos(xx / 4.0)[None, ..., None] * np.arange(1, channels + 1)
    return (clean + 0.3 * rng.normal(size=(n, size, size, channels))).astype(np.float32)


def _repo_path():
    """PYTHONPATH for a subprocess that must import the same tfstem as this test."""
    import tfstem

    root = os.path.dirname(os.path.dirname(os.path.abspath(tfstem.__file__)))
    return os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])


def test_training_returns_a_contract_model_and_writes_the_run_folder(tmp_path):
    frames = _video()
    result = tfstem.n2v.fit(frames, output_dir=tmp_path, verbose=False, **TINY)
    assert result.steps == 4 and result.stopped == "completed" and result.method == "n2v"
    assert np.isfinite(result.extra["best_val_loss"]) and result.extra["best_epoch"] in (1, 2)
    assert [set(e) >= {"epoch", "loss", "val_loss"} for e in result.history["epochs"]] == [True, True]
    model = result.model
    assert model.inputs[0].name.startswith("image")
    odd = frames[:2, :27, :35]
    y = model.predict(odd, verbose=0)
    assert y.shape == odd.shape and np.all(np.isfinite(y))
    for name in ("model.keras", "config.json", "history.json", "checkpoints"):
        assert (tmp_path / name).exists(), name
    loaded = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(loaded.predict(odd, verbose=0), y, atol=1e-5)
    # a fresh process that imports only the layers (as tfstem.restore / the registry do) can load it
    code = ("import keras, sys, tfstem.n2v.unet; m = keras.models.load_model(sys.argv[1]); "
            "print(m.output_shape)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "model.keras")], capture_output=True,
                          text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": _repo_path()})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "(None, None, None, 2)" in done.stdout
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["mask_spacing"] == 8 and saved["_method"] == "n2v" and saved["_data"][0]["shape"] == [6, 40, 40, 2]


def test_the_model_has_the_weights_of_the_lowest_validation_loss():
    method = build_method("n2v", _video(), **{**TINY, "epochs": 3})
    result = train(method, verbose=False)
    losses = [e["val_loss"] for e in result.history["epochs"]]
    assert result.extra["best_epoch"] == 1 + int(np.argmin(losses))
    assert result.extra["best_val_loss"] == pytest.approx(min(losses), rel=1e-6)
    assert method.validation_loss() == pytest.approx(min(losses), rel=1e-6)  # the core holds the best weights


def test_a_resumed_run_continues_with_the_same_losses_and_best_weights(tmp_path):
    options = {**TINY, "epochs": 3}
    whole = tfstem.n2v.fit(_video(), verbose=False, **options)
    first = tfstem.n2v.fit(_video(), output_dir=tmp_path, steps=3, verbose=False, **options)  # stops mid-epoch 2
    assert first.steps == 3
    with pytest.raises(FileExistsError, match="--resume"):
        tfstem.n2v.fit(_video(), output_dir=tmp_path, verbose=False, **options)
    resumed = tfstem.n2v.fit(_video(), output_dir=tmp_path, resume=True, verbose=False, **options)
    assert resumed.steps == 6 and resumed.history["step"] == list(range(1, 7))
    np.testing.assert_allclose(resumed.history["losses"]["loss"], whole.history["losses"]["loss"], rtol=1e-6)
    assert [e["val_loss"] for e in resumed.history["epochs"]] == pytest.approx(
        [e["val_loss"] for e in whole.history["epochs"]], rel=1e-6)
    assert resumed.extra["best_epoch"] == whole.extra["best_epoch"]
    for a, b in zip(resumed.model.get_weights(), whole.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="seed 0 -> 3"):
        tfstem.n2v.fit(_video(), output_dir=tmp_path, resume=True, verbose=False, seed=3, **options)


def test_time_budget_stops_cleanly_after_one_step_and_validates():
    result = tfstem.n2v.fit(_video(), max_minutes=1e-6, verbose=False, **{**TINY, "epochs": 50})
    assert result.stopped == "max_minutes" and result.steps == 1
    assert result.extra["best_epoch"] == 1 and np.isfinite(result.extra["best_val_loss"])
    assert result.model.predict(_video(n=1), verbose=0).shape == (1, 40, 40, 2)


def test_transfer_training_starts_from_the_given_model_and_leaves_it_unchanged(tmp_path):
    frames = _video()
    first = tfstem.n2v.fit(frames, verbose=False, **TINY).model
    weights = [w.copy() for w in first.get_weights()]
    first.save(tmp_path / "first.keras")
    # the given model's architecture replaces the options' (depth 3, 8 features asked for)
    second = tfstem.n2v.fit(_video(seed=1), from_model=tmp_path / "first.keras", verbose=False,
                            **{**TINY, "depth": 3, "features": 8, "epochs": 1, "steps_per_epoch": 1})
    assert (second.config.depth, second.config.features, second.config.kernel_size) == (2, 4, 3)
    for a, b in zip(weights, first.get_weights()):
        np.testing.assert_array_equal(a, b)  # the caller's model is copied, not trained in place
    moved = [np.abs(a - b).max() for a, b in zip(weights, second.model.get_weights())]
    assert second.steps == 1 and 0 < max(moved) < 0.1  # one small Adam step away from the start
    with pytest.raises(ValueError, match="expects 2 channels; received frames with 1"):
        tfstem.n2v.fit(frames[..., :1], from_model=first, verbose=False, **TINY)


def test_training_reduces_the_masked_loss():
    options = {**TINY, "epochs": 1, "steps_per_epoch": 30, "validation_patches": 4}
    frames = _video(n=8)
    untrained = build_method("n2v", frames, **options).validation_loss()  # same seed: the same initial weights
    result = tfstem.n2v.fit(frames, verbose=False, **options)
    assert result.steps == 30 and result.history["epochs"][-1]["loss"] < 0.9 * untrained


def test_fit_facade_takes_mono_frames_and_refuses_unknown_options():
    result = tfstem.n2v.fit(_video(channels=1)[..., 0], verbose=False, **TINY)  # [N, H, W] mono input
    assert result.model.predict(_video(n=1, channels=1), verbose=0).shape == (1, 40, 40, 1)
    with pytest.raises(ValueError, match="unknown n2v option"):
        tfstem.n2v.fit(_video(), verbose=False, learning_rte=1.0)


@pytest.mark.parametrize("frames, message", [
    (np.zeros((0, 40, 40), np.float32), "empty"),  # was "high <= 0" from the patch sampler
    (np.arange(40.0), r"\[N, H, W\] or \[N, H, W, C\] \(or one frame \[H, W\]\); received 1-D shape \(40,\)"),
    (np.full((4, 40, 40), np.nan), "contain 6400 NaN or inf values"),
    (np.ones((4, 40, 40)) * 1j, "complex"),
    (np.full((4, 40, 40), "a"), "real numbers; received dtype <U1"),
    (np.full((4, 40, 40), 1e300), "beyond float32"),
    (np.random.default_rng(0).random((4, 24, 24)), "patch_size=32 is larger than the frames"),
])
def test_fit_refuses_bad_series_in_one_line_before_building(frames, message, monkeypatch, tmp_path):
    def built(*args, **kwargs):
        raise AssertionError("the U-Net was built before the series was checked")

    monkeypatch.setattr(training, "build_n2v_unet_core", built)
    with pytest.raises(ValueError, match=message) as error:
        tfstem.n2v.fit(frames, verbose=False, output_dir=tmp_path / "run", **TINY)
    assert "\n" not in str(error.value) and not (tmp_path / "run").exists()


def _hashes(folder):
    """{relative path: sha256} of every file under ``folder``."""
    import hashlib

    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_failed_run_leaves_no_record_and_force_replaces_a_finished_one(tmp_path, monkeypatch):
    out = tmp_path / "run"
    options = {**TINY, "epochs": 1, "steps_per_epoch": 1}

    def fail(*args, **kwargs):
        raise RuntimeError("simulated crash in the first epoch")

    with monkeypatch.context() as patch:  # a crash before the first checkpoint: nothing to keep
        patch.setattr(N2V, "train_step", fail)
        with pytest.raises(RuntimeError, match="simulated crash"):
            tfstem.n2v.fit(_video(), output_dir=out, verbose=False, **options)
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file()]
    tfstem.n2v.fit(_video(), output_dir=out, verbose=False, **options)  # the retry needs no force
    before = _hashes(out)
    assert {"config.json", "history.json", "model.keras"} <= set(before)
    with pytest.raises(FileExistsError, match="holds an earlier run .*pass --resume to continue it, --force"):
        tfstem.n2v.fit(_video(), output_dir=out, verbose=False, seed=3, **options)
    assert _hashes(out) == before
    tfstem.n2v.fit(_video(), output_dir=out, force=True, verbose=False, seed=3, **options)
    assert json.loads((out / "config.json").read_text())["seed"] == 3
    assert not [p for p in out.rglob("*") if ".partial-" in p.name]


def test_strategies_are_refused_and_the_command_line_hook_gives_from_model():
    with pytest.raises(ValueError, match="one device.*received strategy='mirrored'"):
        N2V(N2VConfig(**TINY), _video(), strategy="mirrored")
    parser = argparse.ArgumentParser()
    N2V.add_arguments(parser)
    assert N2V.cli_options(parser.parse_args(["--from-model", "run/model.keras"])) == {"from_model": "run/model.keras"}
    assert N2V.cli_options(parser.parse_args([])) == {}
    assert training.METHOD is N2V


def test_bfloat16_training_computes_in_bfloat16_and_saves_a_float32_model(tmp_path):
    result = tfstem.n2v.fit(_video(), output_dir=tmp_path, verbose=False, **{**TINY, "precision": "bfloat16"})
    assert all(np.isfinite(e["loss"]) and np.isfinite(e["val_loss"]) for e in result.history["epochs"])
    policies = {layer.dtype_policy.name for layer in result.model.get_layer("n2v_unet_core").layers}
    assert policies == {"float32"}  # loaded anywhere, the saved network computes in float32
    reloaded = keras.models.load_model(tmp_path / "model.keras")
    frames = _video()[:2]
    np.testing.assert_allclose(reloaded(frames), result.model(frames), rtol=1e-5, atol=1e-5)


def test_auto_precision_follows_the_hardware(monkeypatch):
    monkeypatch.setattr(training, "has_fast_bfloat16", lambda: True)
    assert training.training_precision("auto") == "bfloat16"
    monkeypatch.setattr(training, "has_fast_bfloat16", lambda: False)
    assert training.training_precision("auto") == "float32"
    assert training.training_precision("bfloat16") == "bfloat16"
    with pytest.raises(ValueError, match="precision must be one of"):
        tfstem.n2v.fit(_video(), verbose=False, **{**TINY, "precision": "half"})
