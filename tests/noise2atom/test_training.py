"""Noise2Atom trainer: the full 8-pass schedule on a reduced width, checkpoints, budget, CLI, failure guard."""

import argparse
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfstem.noise2atom.xception_unet import build_denoiser
from tfstem.noise2atom import training as n2a

TINY = dict(base_filters=4, num_residual_blocks=1, critic_filters=(4, 4, 8, 8), crop_size=48, batch_size=2,
            steps_per_epoch=2, training_frames=6)


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(5)
    base = np.zeros((6, 64, 64), np.float32) + 1.0
    base[:, 20:24, 30:34] += 4.0
    return rng.poisson(base).astype(np.float32)


@pytest.fixture
def eager():
    """Run the schedule's tf.functions eagerly: tracing the 8-pass graph costs minutes on a shared 2-core CPU,
    executing the tiny networks eagerly takes seconds, and the same Python code runs."""
    tf.config.run_functions_eagerly(True)
    yield
    tf.config.run_functions_eagerly(False)


def _weights(model):
    return [np.array(v) for v in model.weights]


@pytest.mark.slow
def test_schedule_moves_every_trained_group_and_not_ms2b(frames, tmp_path, eager):
    trainer = n2a.Noise2AtomTrainer(n2a.Noise2AtomConfig(**TINY))
    before = {name: _weights(getattr(trainer, name)) for name in ("ms2c", "mc2s", "critic", "lowpass")}
    result = trainer.fit(frames, epochs=1, output_dir=tmp_path, verbose=False)
    assert len(result["history"]["gan"]) == 2 and result["stopped"] == "epochs"
    for name in ("ms2c", "mc2s", "critic"):
        after = _weights(getattr(trainer, name))
        trainable = [v.path for v in getattr(trainer, name).weights]
        moved = [not np.allclose(a, b) for a, b in zip(before[name], after)]
        # every kernel of every trained sub-model moved
        for path, m in zip(trainable, moved):
            if path.endswith("kernel"):
                assert m, f"{name}: {path} did not move"
    for a, b in zip(before["lowpass"], _weights(trainer.lowpass)):
        np.testing.assert_array_equal(a, b)
    for key in ("critic", "gp", "gan", "cycle", "lfc", "anchor"):
        assert np.all(np.isfinite(result["history"][key]))
    assert int(trainer.critic_optimizer.iterations.numpy()) == 2 * 5  # 5 critic updates per batch
    assert int(trainer.generator_optimizer.iterations.numpy()) == 2 * 3  # adversarial + lfc + cycle
    # checkpoint, config and TensorBoard events on disk; a second trainer resumes at iteration 2
    assert (tmp_path / "config.json").exists() and list((tmp_path / "logs").glob("events.*"))
    again = n2a.Noise2AtomTrainer(n2a.Noise2AtomConfig(**TINY))
    again.fit(frames, epochs=1, output_dir=tmp_path, verbose=False)
    assert int(again.iteration.numpy()) == 2
    np.testing.assert_array_equal(_weights(again.ms2c)[0], _weights(trainer.ms2c)[0])
    # the denoiser obeys the model contract and survives a .keras round trip
    model = trainer.denoiser()
    x = frames[:2, :37, :45, None]
    y = model(x).numpy()
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "m.keras")(x).numpy(), y, atol=1e-5)


def test_adversarial_warmup_runs_only_the_cycles_first(frames, eager):
    config = n2a.Noise2AtomConfig(**TINY).replace(adversarial_warmup=2)
    trainer = n2a.Noise2AtomTrainer(config)
    critic_before, ms2c_before = _weights(trainer.critic), _weights(trainer.ms2c)
    scaled, _, _ = n2a.prepare_frames(frames)
    noisy = scaled[:2, :48, :48]
    clean = np.tanh(np.random.default_rng(0).normal(size=noisy.shape)).astype(np.float32)
    for _ in range(2):
        losses = trainer.train_step(noisy, clean)
        assert np.isnan(losses["gan"]) and np.isnan(losses["critic"]) and np.isfinite(losses["lfc"])
    # warm-up: both cycle updates per batch (generators moved), no critic or adversarial update
    assert int(trainer.critic_optimizer.iterations.numpy()) == 0
    assert int(trainer.generator_optimizer.iterations.numpy()) == 2 * 2
    for a, b in zip(critic_before, _weights(trainer.critic)):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(ms2c_before[0], _weights(trainer.ms2c)[0])
    # after it, the paper's whole schedule
    losses = trainer.train_step(noisy, clean)
    assert all(np.isfinite(v) for v in losses.values())
    assert int(trainer.critic_optimizer.iterations.numpy()) == 5
    assert int(trainer.generator_optimizer.iterations.numpy()) == 2 * 2 + 3
    with pytest.raises(ValueError, match="adversarial_warmup"):
        n2a.Noise2AtomConfig(adversarial_warmup=-1)
    assert n2a.load_config("paper").adversarial_warmup == 0


def test_warmup_critic_trains_the_critic_but_not_the_adversarial_update(frames, eager):
    config = n2a.Noise2AtomConfig(**TINY).replace(adversarial_warmup=1, warmup_critic=True)
    trainer = n2a.Noise2AtomTrainer(config)
    critic_before = _weights(trainer.critic)
    scaled, _, _ = n2a.prepare_frames(frames)
    noisy = scaled[:2, :48, :48]
    clean = np.tanh(np.random.default_rng(0).normal(size=noisy.shape)).astype(np.float32)
    losses = trainer.train_step(noisy, clean)
    # critic x5 and both cycle updates ran; Ms2c's adversarial update did not
    assert np.isnan(losses["gan"]) and np.isfinite(losses["critic"]) and np.isfinite(losses["gp"])
    assert int(trainer.critic_optimizer.iterations.numpy()) == 5
    assert int(trainer.generator_optimizer.iterations.numpy()) == 2
    assert not np.allclose(critic_before[0], _weights(trainer.critic)[0])
    losses = trainer.train_step(noisy, clean)
    assert np.isfinite(losses["gan"])
    assert int(trainer.generator_optimizer.iterations.numpy()) == 2 + 3
    with pytest.raises(ValueError, match="warmup_critic must be true or false"):
        n2a.Noise2AtomConfig(warmup_critic="yes")


def test_per_update_optimizers_are_separate_and_checkpointed(frames, tmp_path, eager):
    config = n2a.Noise2AtomConfig(**TINY).replace(generator_optimizers="per_update")
    trainer = n2a.Noise2AtomTrainer(config)
    scaled, _, _ = n2a.prepare_frames(frames)
    noisy = scaled[:2, :48, :48]
    trainer.train_step(noisy, noisy)
    counts = {name: int(opt.iterations.numpy()) for name, opt in trainer.update_optimizers.items()}
    assert counts == {"adversarial": 1, "lfc": 1, "cycle": 1}
    assert len({id(opt) for opt in trainer.update_optimizers.values()}) == 3
    trainer.checkpoint().write(str(tmp_path / "ckpt"))
    again = n2a.Noise2AtomTrainer(config)
    again.checkpoint().read(str(tmp_path / "ckpt")).assert_consumed()
    for name in ("lfc", "cycle"):
        assert int(again.update_optimizers[name].iterations.numpy()) == 1
        np.testing.assert_array_equal(again.update_optimizers[name].variables[-1].numpy(),
                                      trainer.update_optimizers[name].variables[-1].numpy())
    shared = n2a.Noise2AtomTrainer(n2a.Noise2AtomConfig(**TINY))
    assert len({id(opt) for opt in shared.update_optimizers.values()}) == 1
    with pytest.raises(ValueError, match="generator_optimizers"):
        n2a.Noise2AtomConfig(generator_optimizers="each")
    # the adversarial update's own rate; the cycle updates keep learning_rate
    slow = n2a.Noise2AtomTrainer(config.replace(adversarial_learning_rate=config.learning_rate / 10))
    rates = {name: float(opt.learning_rate.numpy()) for name, opt in slow.update_optimizers.items()}
    assert rates == pytest.approx({"adversarial": config.learning_rate / 10, "lfc": config.learning_rate,
                                   "cycle": config.learning_rate})
    with pytest.raises(ValueError, match="needs generator_optimizers='per_update'"):
        n2a.Noise2AtomConfig(adversarial_learning_rate=1e-5)


def test_sign_anchor_enters_the_lfc_update_only_while_its_hinge_is_active(frames, eager):
    scaled, _, _ = n2a.prepare_frames(frames)
    noisy = scaled[:2, :48, :48]
    clean = np.tanh(np.random.default_rng(0).normal(size=noisy.shape)).astype(np.float32)
    config = n2a.Noise2AtomConfig(**TINY).replace(generator_optimizers="per_update", adversarial_warmup=1)

    def ms2c_after_one_step(**changes):
        trainer = n2a.Noise2AtomTrainer(config.replace(**changes))
        losses = trainer.train_step(noisy, clean)
        return _weights(trainer.ms2c), losses

    paper, losses = ms2c_after_one_step()
    assert losses["anchor"] >= 0  # recorded even with weight 0
    inactive, _ = ms2c_after_one_step(sign_anchor_weight=10.0, sign_anchor_margin=-0.999)
    active, active_losses = ms2c_after_one_step(sign_anchor_weight=10.0, sign_anchor_margin=1.0)
    assert active_losses["anchor"] > 0
    for a, b in zip(paper, inactive):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert not all(np.allclose(a, b, atol=1e-6) for a, b in zip(paper, active))
    assert n2a.load_config("paper").sign_anchor_weight == 0.0
    for bad in (dict(sign_anchor_weight=-1.0), dict(sign_anchor_margin=1.5), dict(sign_anchor_margin=-1.0)):
        with pytest.raises(ValueError, match="sign_anchor"):
            n2a.Noise2AtomConfig(**bad)


def test_reverted_mapping_is_detected(frames):
    inputs = keras.Input((None, None, 1))
    inverter = keras.Model(inputs, keras.layers.Lambda(lambda t: -t * 0.9)(inputs))
    model = build_denoiser(inverter, minimum=0.0, maximum=float(frames.max()))
    with pytest.warns(UserWarning, match="reverted"):
        corr = n2a.check_reverted_mapping(model, frames)
    assert corr < -0.2
    keeper = build_denoiser(keras.Model(inputs, keras.layers.Lambda(lambda t: t * 0.9)(inputs)),
                            minimum=0.0, maximum=float(frames.max()))
    assert n2a.mapping_correlation(keeper, frames) > 0.2


def test_config_presets_and_validation(tmp_path):
    paper = n2a.load_config("paper")
    assert (paper.batch_size, paper.learning_rate, paper.critic_steps, paper.gp_weight, paper.alpha, paper.beta) == (
        6, 5e-5, 5, 10.0, 5.0, 1.0)
    released = n2a.load_config("released")
    assert released.batch_size == 3 and released.cycle_updates == "joint" and released.gp_interpolation == "per_pixel"
    assert paper.critic_grid == "alternating" and released.critic_grid == "even"
    with pytest.raises(ValueError, match="critic_grid"):
        n2a.Noise2AtomConfig(critic_grid="odd")
    with pytest.raises(ValueError, match="unknown preset"):
        n2a.load_config("fast")
    with pytest.raises(ValueError, match="cycle_updates"):
        n2a.Noise2AtomConfig(cycle_updates="both")
    with pytest.raises(ValueError, match="unknown Noise2Atom option"):
        paper.replace(widht=3)
    saved = tmp_path / "config.json"
    saved.write_text(json.dumps(released.to_dict()))
    assert n2a.load_config(path=saved) == released


def test_prepare_frames_and_bad_input():
    scaled, lo, hi = n2a.prepare_frames(np.arange(2 * 4 * 4).reshape(2, 4, 4), training_frames=120)
    assert (lo, hi) == (0.0, 31.0) and scaled.shape == (2, 4, 4, 1)
    assert scaled.min() == -1 and scaled.max() == 1
    with pytest.raises(ValueError, match="constant"):
        n2a.prepare_frames(np.ones((2, 4, 4)))
    with pytest.raises(ValueError, match="T, H, W"):
        n2a.prepare_frames(np.ones((2, 4, 4, 3)))
    trainer_cfg = n2a.Noise2AtomConfig(**{**TINY, "crop_size": 128})
    with pytest.raises(ValueError, match="smaller than crop_size"):
        n2a._noisy_dataset(np.zeros((4, 64, 64, 1), np.float32), batch_size=2, crop_size=trainer_cfg.crop_size,
                           sampling="random", seed=0)


@pytest.mark.slow
def test_cli_and_max_minutes(frames, tmp_path, eager):
    path = tmp_path / "series.npy"
    np.save(path, frames)
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({**n2a.Noise2AtomConfig(**TINY).to_dict(), "cycle_updates": "joint",
                                  "gp_interpolation": "per_pixel"}))
    parser = argparse.ArgumentParser()
    n2a.add_cli_arguments(parser)
    args = parser.parse_args([str(path), "-o", str(tmp_path / "out"), "--config", str(config), "--epochs", "3",
                              "--max-minutes", "0.0001", "--quiet"])
    assert n2a.run_cli(args) == 0
    history = json.loads((tmp_path / "out" / "history.json").read_text())
    assert len(history["iterations"]["gan"]) == 1  # the budget stops after the first iteration
    assert (tmp_path / "out" / "noise2atom.keras").exists()
    with pytest.raises(FileNotFoundError):
        n2a.run_cli(parser.parse_args([str(tmp_path / "nope.npy"), "-o", str(tmp_path / "o2")]))


@pytest.mark.slow
def test_facade_fit_returns_contract_model(frames, eager):
    from tfstem import noise2atom

    model = noise2atom.fit(frames, epochs=1, max_minutes=0.0001, seed=3, verbose=False, check_mapping=False, **TINY)
    assert model.training_result["stopped"] == "max_minutes"
    assert model.inputs[0].name.startswith("image")
    y = model(frames[:1, :50, :41, None]).numpy()
    assert y.shape == (1, 50, 41, 1) and 0 <= y.min() and y.max() <= 1
    with pytest.raises(ValueError, match="unknown Noise2Atom option"):
        noise2atom.fit(frames, epochs=1, widht=3)


def _hashes(folder):
    """{relative path: sha256} of every file under ``folder``: a changed or new file changes the dict."""
    import hashlib

    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("frames_in, message", [
    (np.zeros((0, 64, 64), np.float32), "at least one frame"),
    (np.arange(64.0), r"\[T, H, W\] or \[T, H, W, 1\]; received shape \(64,\)"),
    (np.full((2, 64, 64), np.nan), "contain 8192 NaN or inf values"),
    (np.ones((2, 64, 64)) * (1 + 1j), "real numbers; received dtype complex128"),
    (np.full((2, 64, 64), "a"), "real numbers; received dtype <U1"),
    (np.random.default_rng(0).random((2, 32, 32)), "32x32 px are smaller than crop_size=48"),
])
def test_facade_refuses_bad_series_in_one_line_before_building(frames_in, message, monkeypatch):
    from tfstem import noise2atom

    def built(*args, **kwargs):  # the networks must not be built for a series that cannot train
        raise AssertionError("Noise2AtomTrainer built before the series was checked")

    monkeypatch.setattr(noise2atom, "Noise2AtomTrainer", built)
    with pytest.raises(ValueError, match=message) as error:
        noise2atom.fit(frames_in, epochs=1, verbose=False, **TINY)
    assert "\n" not in str(error.value)


@pytest.mark.slow
def test_cli_run_folder_needs_resume_with_the_same_settings_or_force(frames, tmp_path, eager, capsys):
    """An earlier run is never silently replaced: --resume checks series/seed/options, --force starts afresh."""
    from tfstem.cli import main

    series, other = tmp_path / "series.npy", tmp_path / "other.npy"
    np.save(series, frames)
    np.save(other, frames[::-1])
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(n2a.Noise2AtomConfig(**TINY).to_dict()))
    out = tmp_path / "run"
    common = ["train", "noise2atom", "-o", str(out), "--config", str(config), "--epochs", "1", "--quiet"]
    assert main(common + [str(series)]) == 0
    before = _hashes(out)
    assert {"config.json", "history.json", "noise2atom.keras", "checkpoints/checkpoint"} <= set(before)
    assert json.loads((out / "config.json").read_text())["_data"][0]["shape"] == [6, 64, 64]
    capsys.readouterr()
    cases = [
        ([str(series)], "holds an earlier run (config.json, checkpoints, history.json, logs, noise2atom.keras); "
                        "pass --resume to continue it, --force to start afresh"),
        ([str(series), "--no-resume"], "pass --resume to continue it"),  # deprecated flag: a no-op
        ([str(series), "--resume", "--seed", "1"], "holds a run with other settings: seed 0 -> 1; pass --force"),
        ([str(other), "--resume"], "other settings: data (another series or pairs); pass --force"),
        ([str(series), "--resume", "--force"], "not both"),
    ]
    for extra, message in cases:
        assert main(common + extra) == 2, extra
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
        assert _hashes(out) == before, extra
    # --resume with the same settings continues (1 of 1 epochs done: nothing to train, the record is kept)
    assert main(common + [str(series), "--resume"]) == 0
    after = _hashes(out)
    assert all(after[name] == before[name] for name in ("config.json", "history.json", "checkpoints/checkpoint"))
    # --force: a new run from iteration 0 with the new seed (a resumed one would have nothing left to train)
    assert main(common + [str(series), "--force", "--seed", "1"]) == 0
    assert json.loads((out / "config.json").read_text())["seed"] == 1
    history = json.loads((out / "history.json").read_text())
    assert len(history["iterations"]["gan"]) == TINY["steps_per_epoch"]
    assert _hashes(out)["history.json"] != before["history.json"]
    assert sorted(p.name for p in (out / "checkpoints").glob("*.index")) == [f"ckpt-{TINY['steps_per_epoch']}.index"]
    assert not [p for p in out.rglob("*") if ".partial-" in p.name]
