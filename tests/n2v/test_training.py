"""Noise2Void masking, data, training loop, transfer training, façade and CLI (tiny tensors)."""

import argparse
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfstem.n2v import training as trainer
from tfstem.n2v.training import (
    N2VConfig, jittered_grid_points, local_mean_excluding_centre, mask_batch, points_to_mask, random_neighbour,
)

TINY = dict(features=4, depth=2, patch_size=32, batch_size=2, epochs=2, steps_per_epoch=2, mask_spacing=8,
            replacement_radius=2, validation_patches=2, learning_rate=1e-3)


def _video(n=6, size=40, channels=2, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    clean = np.sin(yy / 3.0)[None, ..., None] + np.cos(xx / 4.0)[None, ..., None] * np.arange(1, channels + 1)
    return (clean + 0.3 * rng.normal(size=(n, size, size, channels))).astype(np.float32)


# ---------------------------------------------------------------------------------------- masking


def test_masked_positions_lie_on_the_jittered_grid_within_jitter():
    spacing, jitter = 24, 2
    points, origin = jittered_grid_points(16, 64, 80, [5, 6], spacing=spacing, jitter=jitter)
    points, origin = points.numpy(), origin.numpy()
    ny, nx = points.shape[1:3]
    grid_y = origin[:, 0, None, None] + spacing * np.arange(ny)[None, :, None]
    grid_x = origin[:, 1, None, None] + spacing * np.arange(nx)[None, None, :]
    dy, dx = points[..., 0] - grid_y, points[..., 1] - grid_x
    assert np.abs(dy).max() <= jitter and np.abs(dx).max() <= jitter
    assert dy.min() == -jitter and dy.max() == jitter  # the full +-2 px range is used
    assert np.all((origin >= 0) & (origin < spacing))
    mask = points_to_mask(tf.constant(points), 64, 80).numpy()[..., 0]
    for b in range(16):
        inside = [(y, x) for y, x in points[b].reshape(-1, 2) if 0 <= y < 64 and 0 <= x < 80]
        masked = list(zip(*np.nonzero(mask[b])))
        assert sorted(masked) == sorted(map(tuple, inside))  # every masked pixel is a grid point, and back


def test_masks_are_reproducible_from_the_seed_and_change_with_it():
    x = tf.random.stateless_normal([2, 48, 48, 2], seed=[0, 0])
    _, a = mask_batch(x, [1, 2], spacing=24, jitter=2)
    _, b = mask_batch(x, [1, 2], spacing=24, jitter=2)
    _, c = mask_batch(x, [1, 3], spacing=24, jitter=2)
    assert np.array_equal(a.numpy(), b.numpy()) and not np.array_equal(a.numpy(), c.numpy())


def test_local_mean_replacement_excludes_the_centre():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 20, 20, 2)).astype(np.float32)
    r = 3
    out = local_mean_excluding_centre(x, r).numpy()
    for b, y, xx, c in [(0, 10, 10, 0), (1, 5, 12, 1), (0, 0, 0, 1), (1, 19, 2, 0)]:  # interior and border
        window = x[b, max(y - r, 0) : y + r + 1, max(xx - r, 0) : xx + r + 1, c]
        expected = (window.sum() - x[b, y, xx, c]) / (window.size - 1)
        assert np.isclose(out[b, y, xx, c], expected, atol=1e-5)


def test_masked_values_are_the_neighbourhood_mean_in_every_channel_and_nothing_else_changes():
    x = tf.random.stateless_normal([2, 32, 32, 2], seed=[7, 8])
    masked, mask = mask_batch(x, [9, 9], spacing=8, jitter=2, replacement="local_mean", radius=2)
    x, masked, mask = x.numpy(), masked.numpy(), mask.numpy()
    m = np.broadcast_to(mask, x.shape).astype(bool)
    assert mask.shape == (2, 32, 32, 1) and mask.sum() > 0
    np.testing.assert_array_equal(masked[~m], x[~m])  # unmasked pixels untouched
    for b, y, xx in zip(*np.nonzero(mask[..., 0])):  # the same pixels replaced in both channels
        for c in range(2):
            window = x[b, max(y - 2, 0) : y + 3, max(xx - 2, 0) : xx + 3, c]
            assert np.isclose(masked[b, y, xx, c], (window.sum() - x[b, y, xx, c]) / (window.size - 1), atol=1e-5)


def test_random_neighbour_replacement_takes_another_pixel_of_the_window_for_all_channels():
    x = np.arange(2 * 12 * 12 * 2, dtype=np.float32).reshape(2, 12, 12, 2)  # all values distinct
    out = random_neighbour(x, [3, 4], radius=2).numpy()
    for b in range(2):
        for y in range(12):
            for xx in range(12):
                (sb, sy, sx, sc), = np.argwhere(x == out[b, y, xx, 0])
                assert sb == b and sc == 0 and (sy, sx) != (y, xx)
                assert abs(sy - y) <= 2 and abs(sx - xx) <= 2
                assert out[b, y, xx, 1] == x[b, sy, sx, 1]  # same neighbour for the other channel


def test_config_validates_with_a_clear_message():
    with pytest.raises(ValueError, match="mask_jitter"):
        N2VConfig(mask_spacing=4, mask_jitter=2)
    with pytest.raises(ValueError, match="patch_size"):
        N2VConfig(patch_size=100)
    with pytest.raises(ValueError, match="unknown"):
        N2VConfig.from_dict({"learning_rte": 1e-3})


def test_paper_config_file_matches_the_defaults():
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "models" / "n2v_stem.json"
    config = N2VConfig.from_json(path)
    assert config == N2VConfig()
    assert (config.depth, config.features, config.learning_rate, config.batch_size, config.epochs,
            config.mask_spacing, config.mask_jitter) == (4, 64, 1e-5, 12, 32, 24, 2)


def test_frames_are_checked_and_not_modified():
    with pytest.raises(ValueError, match="channels last"):
        trainer.as_frames(np.zeros((2, 10, 32, 32)))
    frames = _video(n=2)
    before = frames.copy()
    normalised = trainer.normalise_frames(frames)
    np.testing.assert_array_equal(frames, before)
    np.testing.assert_allclose(normalised.mean(axis=(1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(normalised.std(axis=(1, 2)), 0.2, atol=1e-4)  # 1 / (5 std)


# ---------------------------------------------------------------------------------------- training


def _repo_path():
    """PYTHONPATH for a subprocess that must import the same tfstem as this test."""
    import tfstem

    root = os.path.dirname(os.path.dirname(os.path.abspath(tfstem.__file__)))
    return os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])


def test_training_returns_a_contract_model_and_writes_checkpoints(tmp_path):
    frames = _video()
    model, info = trainer.train(frames, N2VConfig(**TINY), output_dir=tmp_path, verbose=False)
    assert info["steps"] == 4 and np.isfinite(info["best_val_loss"]) and info["best_epoch"] in (1, 2)
    assert model.inputs[0].name.startswith("image")
    odd = frames[:2, :27, :35]
    y = model.predict(odd, verbose=0)
    assert y.shape == odd.shape and np.all(np.isfinite(y))
    for name in ("model.keras", "config.json", "history.json", "checkpoints/best.keras", "checkpoints/last.keras"):
        assert (tmp_path / name).exists(), name
    loaded = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(loaded.predict(odd, verbose=0), y, atol=1e-5)
    # a fresh process that imports only the layers (as tfstem.restore / the registry do) can load it
    code = ("import keras, sys, tfstem.n2v.unet; m = keras.models.load_model(sys.argv[1]); "
            "print(m.output_shape)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "checkpoints" / "best.keras")],
                          capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": _repo_path()})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "(None, None, None, 2)" in done.stdout
    assert json.loads((tmp_path / "config.json").read_text())["mask_spacing"] == 8


def test_time_budget_stops_cleanly_after_one_step():
    config = N2VConfig(**{**TINY, "epochs": 50})
    model, info = trainer.train(_video(), config, max_minutes=1e-6, verbose=False)
    assert info["stopped_by_budget"] and info["steps"] == 1
    assert model.predict(_video(n=1), verbose=0).shape == (1, 40, 40, 2)


def test_transfer_training_starts_from_the_given_model_and_leaves_it_unchanged():
    frames = _video()
    first, _ = trainer.train(frames, N2VConfig(**TINY), verbose=False)
    weights = [w.copy() for w in first.get_weights()]
    second, info = trainer.train(_video(seed=1), N2VConfig(**{**TINY, "epochs": 1, "steps_per_epoch": 1}),
                                 model=first, verbose=False)
    for a, b in zip(weights, first.get_weights()):
        np.testing.assert_array_equal(a, b)  # the caller's model is copied, not trained in place
    moved = [np.abs(a - b).max() for a, b in zip(weights, second.get_weights())]
    assert info["steps"] == 1 and 0 < max(moved) < 0.1  # one small Adam step away from the start
    with pytest.raises(ValueError, match="channels"):
        trainer.train(frames[..., :1], N2VConfig(**TINY), model=first, verbose=False)


def test_training_reduces_the_masked_loss():
    config = N2VConfig(**{**TINY, "epochs": 1, "steps_per_epoch": 30, "validation_patches": 4})
    _, info = trainer.train(_video(n=8), config, verbose=False)
    losses = info["keras_history"]["loss"]
    assert info["steps"] == 30 and losses[-1] < 0.9 * trainer_initial_loss(config)


def trainer_initial_loss(config):
    """Masked MSE of an untrained network on the same validation patches (the bar to beat)."""
    frames_n = trainer.normalise_frames(_video(n=8))
    _, validation = trainer._split(frames_n, config.frame_step)
    masked, packed = trainer.validation_batch(validation, config)
    from tfstem.n2v.losses import packed_masked_mse
    from tfstem.n2v.unet import build_n2v_unet_core

    core = build_n2v_unet_core(channels=2, features=config.features, depth=config.depth)
    return float(packed_masked_mse(packed, core(masked)))


def test_fit_facade_and_unknown_settings():
    import tfstem.n2v

    model = tfstem.n2v.fit(_video(channels=1)[..., 0], verbose=False, **TINY)  # [N, H, W] mono input
    assert model.predict(_video(n=1, channels=1), verbose=0).shape == (1, 40, 40, 1)
    with pytest.raises(ValueError, match="unknown"):
        tfstem.n2v.fit(_video(), verbose=False, learning_rte=1.0)


def test_cli_trains_from_a_npy_series(tmp_path):
    series = tmp_path / "series.npy"
    np.save(series, _video())
    parser = argparse.ArgumentParser()
    trainer.add_cli_arguments(parser)
    out = tmp_path / "run"
    args = parser.parse_args([str(series), "-o", str(out), "--epochs", "1", "--steps-per-epoch", "1", "--features",
                              "4", "--depth", "2", "--patch-size", "32", "--batch-size", "2", "--mask-spacing", "8",
                              "--replacement-radius", "2", "--quiet"])
    assert trainer.run_cli(args) == 0
    assert (out / "model.keras").exists()
    with pytest.raises(FileExistsError):
        trainer.run_cli(args)
    with pytest.raises(FileNotFoundError):
        trainer.run_cli(parser.parse_args([str(tmp_path / "missing.npy"), "-o", str(tmp_path / "x")]))


def _hashes(folder):
    """{relative path: sha256} of every file under ``folder``."""
    import hashlib

    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("frames, message", [
    (np.zeros((0, 40, 40), np.float32), "at least one frame"),  # was "high <= 0" from the patch sampler
    (np.arange(40.0), r"\[N, H, W\] or \[N, H, W, C\]; received shape \(40,\)"),
    (np.full((4, 40, 40), np.nan), "contain 6400 NaN or inf values"),
    (np.ones((4, 40, 40)) * 1j, "complex"),
    (np.full((4, 40, 40), "a"), "real numbers; received dtype <U1"),
    (np.full((4, 40, 40), 1e300), "beyond float32"),
    (np.random.default_rng(0).random((4, 24, 24)), "patch_size=32 is larger than the frames"),
])
def test_fit_refuses_bad_series_in_one_line_before_building(frames, message, monkeypatch, tmp_path):
    import tfstem.n2v

    def built(*args, **kwargs):
        raise AssertionError("the U-Net was built before the series was checked")

    monkeypatch.setattr(trainer, "build_n2v_unet_core", built)
    with pytest.raises(ValueError, match=message) as error:
        tfstem.n2v.fit(frames, verbose=False, output_dir=tmp_path / "run", **TINY)
    assert "\n" not in str(error.value) and not (tmp_path / "run").exists()


def test_cli_failed_run_leaves_no_record_and_force_replaces_a_finished_one(tmp_path, monkeypatch, capsys):
    from tfstem.cli import main

    series = tmp_path / "series.npy"
    np.save(series, _video())
    out = tmp_path / "run"
    command = ["train", "n2v", str(series), "-o", str(out), "--epochs", "1", "--steps-per-epoch", "1", "--features",
               "4", "--depth", "2", "--patch-size", "32", "--batch-size", "2", "--mask-spacing", "8",
               "--replacement-radius", "2", "--quiet"]

    def fail(*args, **kwargs):
        raise RuntimeError("simulated crash in the first epoch")

    with monkeypatch.context() as patch:  # a crash before the first checkpoint: nothing to keep
        patch.setattr(keras.Model, "fit", fail)
        with pytest.raises(RuntimeError, match="simulated crash"):
            main(command)
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file()]
    assert main(command) == 0  # the retry needs no --force
    before = _hashes(out)
    assert {"config.json", "history.json", "model.keras", "checkpoints/last.keras"} <= set(before)
    assert json.loads((out / "config.json").read_text())["_data"][0]["shape"] == [6, 40, 40, 2]
    capsys.readouterr()
    assert main(command + ["--seed", "3"]) == 2
    err = capsys.readouterr().err
    assert "holds an earlier run (config.json, checkpoints, history.json, model.keras); pass --force" in err
    assert err.count("\n") == 1 and _hashes(out) == before
    assert main(command + ["--seed", "3", "--force"]) == 0
    assert json.loads((out / "config.json").read_text())["seed"] == 3
    assert not [p for p in out.rglob("*") if ".partial-" in p.name]


def test_series_reader_keeps_channels_last_for_a_tfstem_tiff_and_the_shipped_npz(tmp_path):
    from tfstem import io
    from tfstem.paths import PACKAGE_ROOT
    from tfstem.n2v.training import _read_series

    video = np.random.default_rng(0).random((3, 16, 20, 2)).astype(np.float32)
    io.write_image(tmp_path / "video.tif", video)  # stored as an ImageJ TCYX hyperstack
    np.testing.assert_array_equal(_read_series(tmp_path / "video.tif"), video)
    shipped = _read_series(PACKAGE_ROOT.parent / "examples" / "data" / "n2v_dual_channel_video.npz")
    assert shipped.ndim == 4 and shipped.shape[-1] == 2
