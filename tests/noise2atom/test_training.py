"""Noise2Atom on the training layer: the 8-pass schedule on a reduced width, its optimizers, the run folder
(checkpoints, config, TensorBoard, resume, the resume-or-force rule), the warm-ups, the sign anchor, presets,
the budget, bad series and the reverted-mapping check."""

import hashlib
import json
import re
import shutil
import warnings
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfstem
from tfstem.config import load_config, paper_values, preset_names
from tfstem.noise2atom import training
from tfstem.noise2atom.checks import check_reverted_mapping, mapping_correlation
from tfstem.noise2atom.config import Noise2AtomConfig
from tfstem.noise2atom.data import noisy_dataset, prepare_frames
from tfstem.noise2atom.training import Noise2Atom
from tfstem.noise2atom.xception_unet import build_denoiser
from tfstem.training import train

#: The paper's schedule (5 critic updates, separate cycle updates, shared RMSprop) on tiny networks: 2 iterations
#: of batch 2 and 48 px patches make one epoch, and one epoch is the run.
TINY = dict(features=4, num_residual_blocks=1, critic_filters=(4, 4, 8, 8), patch_size=48, batch_size=2,
            steps_per_epoch=2, epochs=1, training_frames=6)


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(5)
    base = np.zeros((6, 64, 64), np.float32) + 1.0
    base[:, 20:24, 30:34] += 4.0
    return rng.poisson(base).astype(np.float32)


@pytest.fixture
def eager():
    """Run the schedule's tf.functions eagerly: tracing the 8-pass graph costs minutes on a shared 2-core CPU,
    executing the tiny networks eagerly takes seconds, and the same Python code runs (the traced schedule is
    covered by the golden-loss replay, tests/golden/)."""
    tf.config.run_functions_eagerly(True)
    yield
    tf.config.run_functions_eagerly(False)


def _weights(model):
    return [np.array(v) for v in model.weights]


def _batches(method, count):
    """``count`` times the same (noisy, clean) batch: the first 48 px of two frames and a random clean-like one."""
    noisy = method.scaled[:2, :48, :48]
    clean = np.tanh(np.random.default_rng(0).normal(size=noisy.shape)).astype(np.float32)
    return iter([(noisy, clean)] * count)


def _hashes(folder):
    """{relative path: sha256} of every file under ``folder``: a changed or new file changes the dict."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def run(frames, tmp_path_factory):
    """One epoch (2 iterations) of the paper's schedule on TINY networks in a run folder, run eagerly once for
    the tests that inspect its networks, optimizers, history and folder."""
    tf.config.run_functions_eagerly(True)
    try:
        method = Noise2Atom(Noise2AtomConfig(**TINY), frames)
        before = {name: _weights(getattr(method, name)) for name in ("ms2c", "mc2s", "critic", "lowpass")}
        folder = tmp_path_factory.mktemp("noise2atom") / "run"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = train(method, output_dir=folder, verbose=False)
    finally:
        tf.config.run_functions_eagerly(False)
    reverted = [w for w in caught if "mapping looks reverted" in str(w.message)]
    return SimpleNamespace(method=method, before=before, folder=folder, result=result, reverted=reverted)


# ---------------------------------------------------------------------------------------------- the schedule
def test_schedule_moves_every_trained_group_and_not_ms2b(run):
    method, result = run.method, run.result
    assert result.stopped == "completed" and result.steps == 2 and result.method == "noise2atom"
    assert result.history["step"] == [1, 2] and len(result.history["losses"]["gan"]) == 2
    for name in ("ms2c", "mc2s", "critic"):
        model = getattr(method, name)
        for variable, old, new in zip(model.weights, run.before[name], _weights(model)):
            if variable.path.endswith("kernel"):  # every kernel of every trained sub-model moved
                assert not np.array_equal(old, new), f"{name}: {variable.path} did not move"  # RMSprop without momentum: tiny steps
    for old, new in zip(run.before["lowpass"], _weights(method.lowpass)):
        np.testing.assert_array_equal(old, new)
    for name in training.LOSS_NAMES:
        assert all(v is not None and np.isfinite(v) for v in result.history["losses"][name]), name
    assert int(method.critic_optimizer.iterations.numpy()) == 2 * 5  # 5 critic updates per batch
    assert int(method.generator_optimizer.iterations.numpy()) == 2 * 3  # adversarial + lfc + cycle
    assert len(result.history["epochs"]) == 1 and result.history["epochs"][0]["step"] == 2


def test_paper_convergence_rule_is_an_event_and_stops_only_with_early_stop(run):
    rule = run.method.end_of_epoch
    assert rule(1, {"cycle": 0.04, "lfc": 0.2}) == {} and rule(1, {"cycle": None, "lfc": 0.01}) == {}
    met = rule(1, {"cycle": 0.04, "lfc": 0.09})  # L_cycle < 0.05 and L_lfc < 0.1: the paper's description
    assert set(met) == {"event"} and met["event"].startswith("converged: epoch 1") and "goes on" in met["event"]
    assert rule(2, {"cycle": 0.03, "lfc": 0.08}) == {}  # logged once
    stopping = SimpleNamespace(config=run.method.config.replace(early_stop=True), _converged_logged=True)
    assert Noise2Atom.end_of_epoch(stopping, 3, {"cycle": 0.04, "lfc": 0.09}) == {"stop": "early_stop"}
    with pytest.raises(ValueError, match="early_stop=true needs both thresholds"):
        Noise2AtomConfig(early_stop=True, early_stop_lfc=None)


def test_converged_event_lands_in_the_history(frames):
    config = Noise2AtomConfig(**{**TINY, "early_stop_cycle": 10.0, "early_stop_lfc": 10.0})  # met at epoch 1
    tf.config.run_functions_eagerly(True)  # tiny networks: eager is faster than tracing
    try:
        result = train(Noise2Atom(config, frames), steps=4, verbose=False)
    finally:
        tf.config.run_functions_eagerly(False)
    assert result.stopped == "completed" and result.steps == 4  # the paper preset trains on
    events = [e for e in result.history["events"] if e["event"].startswith("converged")]
    assert len(events) == 1 and events[0]["step"] == config.steps_per_epoch


def test_reverted_mapping_is_checked_at_the_end(run):
    corr = run.result.extra["mapping_correlation"]
    assert -1.0 <= corr <= 1.0
    assert len(run.reverted) == (1 if corr < 0 else 0)  # the warning is issued exactly when it is negative


def test_run_folder_holds_config_history_checkpoints_logs_and_the_model(run, frames):
    folder = run.folder
    assert run.result.run_folder == folder
    record = json.loads((folder / "config.json").read_text())
    assert record["_method"] == "noise2atom" and record["features"] == 4 and record["patch_size"] == 48
    assert record["_data"][0]["shape"] == [6, 64, 64]
    history = json.loads((folder / "history.json").read_text())
    assert history["stopped"] == "completed" and history["losses"] == run.result.history["losses"]
    assert (folder / "checkpoints" / "ckpt-2.index").exists() and list((folder / "logs").glob("events.*"))
    # the deployable model obeys the model contract and is the one saved as model.keras
    x = frames[:2, :37, :45, None]
    y = run.result.model(x).numpy()
    assert run.result.model.inputs[0].name.startswith("image")
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    np.testing.assert_allclose(keras.models.load_model(folder / "model.keras")(x).numpy(), y, atol=1e-5)


def test_resume_continues_to_the_same_state(run, frames, tmp_path, eager):
    """1 iteration, then --resume for the second: the same losses and weights as the 2 uninterrupted ones."""
    folder = tmp_path / "run"
    first = train(Noise2Atom(Noise2AtomConfig(**TINY), frames), output_dir=folder, steps=1, verbose=False)
    assert first.stopped == "completed" and first.steps == 1
    again = Noise2Atom(Noise2AtomConfig(**TINY), frames)
    resumed = train(again, output_dir=folder, resume=True, verbose=False)
    assert again.step == 2 and resumed.history["step"] == [1, 2]
    for name in training.LOSS_NAMES:
        np.testing.assert_allclose(resumed.history["losses"][name], run.result.history["losses"][name], rtol=1e-5,
                                   err_msg=name)
    for name in ("ms2c", "mc2s", "critic"):
        for new, old in zip(_weights(getattr(again, name)), _weights(getattr(run.method, name))):
            np.testing.assert_allclose(new, old, rtol=1e-5, atol=1e-7, err_msg=name)
    assert int(again.critic_optimizer.iterations.numpy()) == 2 * 5
    assert sorted(p.name for p in (folder / "checkpoints").glob("*.index")) == ["ckpt-1.index", "ckpt-2.index"]


def test_run_folder_needs_resume_with_the_same_settings_or_force(run, frames, tmp_path, eager):
    """An earlier run is never silently replaced: resume checks series, seed and options; force starts afresh."""
    folder = tmp_path / "run"
    shutil.copytree(run.folder, folder)
    before = _hashes(folder)
    fit, config = tfstem.noise2atom.fit, run.method.config  # config: fit(epochs=...) is the run's length, not an option
    cases = [
        (dict(), FileExistsError, "holds an earlier run (config.json, history.json, checkpoints, model.keras, logs); "
                                  "pass --resume to continue it, --force to start afresh"),
        (dict(resume=True, seed=1), ValueError, "holds a run with other settings: seed 0 -> 1; pass --force"),
        (dict(resume=True, features=8), ValueError, "other settings: features 4 -> 8"),
        (dict(resume=True, data=frames[::-1]), ValueError, "other settings: data (another series or pairs)"),
        (dict(resume=True, force=True), ValueError, "not both"),
    ]
    for changes, error, message in cases:
        kwargs = {"config": config, "output_dir": folder, "verbose": False, **changes}
        with pytest.raises(error, match=re.escape(message)):
            fit(kwargs.pop("data", frames), **kwargs)
        assert _hashes(folder) == before, changes
    # resume with the same settings: the 2 of 2 iterations are done, nothing is trained and the record is kept
    resumed = fit(frames, config=config, output_dir=folder, resume=True, verbose=False)
    assert resumed.stopped == "completed" and resumed.steps == 2
    after = _hashes(folder)
    assert all(after[name] == before[name] for name in ("config.json", "history.json", "checkpoints/checkpoint"))
    # force: a new run from iteration 0 with the new seed; the earlier run's checkpoints are gone
    fresh = fit(frames, config=config, output_dir=folder, force=True, seed=1, steps=1, verbose=False)
    assert fresh.steps == 1 and json.loads((folder / "config.json").read_text())["seed"] == 1
    assert len(json.loads((folder / "history.json").read_text())["losses"]["gan"]) == 1
    assert sorted(p.name for p in (folder / "checkpoints").glob("*.index")) == ["ckpt-1.index"]
    assert not [p for p in folder.rglob("*") if ".partial-" in p.name]


# ---------------------------------------------------------------------------------------------- options
def test_adversarial_warmup_runs_only_the_cycles_first(frames, eager):
    method = Noise2Atom(Noise2AtomConfig(**TINY).replace(adversarial_warmup=2), frames)
    critic_before, ms2c_before = _weights(method.critic), _weights(method.ms2c)
    batches = _batches(method, 3)
    for _ in range(2):
        losses = method.train_step(batches)
        assert losses["gan"] is None and losses["critic"] is None and losses["gp"] is None
        assert np.isfinite(losses["lfc"]) and np.isfinite(losses["cycle"])
    # warm-up: both cycle updates per batch (generators moved), no critic or adversarial update
    assert method.step == 2
    assert int(method.critic_optimizer.iterations.numpy()) == 0
    assert int(method.generator_optimizer.iterations.numpy()) == 2 * 2
    for old, new in zip(critic_before, _weights(method.critic)):
        np.testing.assert_array_equal(old, new)
    assert not np.allclose(ms2c_before[0], _weights(method.ms2c)[0])
    # after it, the paper's whole schedule
    losses = method.train_step(batches)
    assert all(v is not None and np.isfinite(v) for v in losses.values())
    assert int(method.critic_optimizer.iterations.numpy()) == 5
    assert int(method.generator_optimizer.iterations.numpy()) == 2 * 2 + 3
    with pytest.raises(ValueError, match="adversarial_warmup must be >= 0 iterations; received -1"):
        Noise2AtomConfig(adversarial_warmup=-1)
    assert load_config("noise2atom", "paper").adversarial_warmup == 0


def test_warmup_critic_trains_the_critic_but_not_the_adversarial_update(frames, eager):
    method = Noise2Atom(Noise2AtomConfig(**TINY).replace(adversarial_warmup=1, warmup_critic=True), frames)
    critic_before = _weights(method.critic)
    batches = _batches(method, 2)
    losses = method.train_step(batches)
    # critic x5 and both cycle updates ran; Ms2c's adversarial update did not
    assert losses["gan"] is None and np.isfinite(losses["critic"]) and np.isfinite(losses["gp"])
    assert int(method.critic_optimizer.iterations.numpy()) == 5
    assert int(method.generator_optimizer.iterations.numpy()) == 2
    assert not np.allclose(critic_before[0], _weights(method.critic)[0])
    losses = method.train_step(batches)
    assert losses["gan"] is not None and np.isfinite(losses["gan"])
    assert int(method.generator_optimizer.iterations.numpy()) == 2 + 3
    with pytest.raises(ValueError, match="warmup_critic must be true or false; received warmup_critic='yes'"):
        Noise2AtomConfig(warmup_critic="yes")


def test_per_update_optimizers_are_separate_and_checkpointed(run, frames, tmp_path, eager):
    config = Noise2AtomConfig(**TINY).replace(generator_optimizers="per_update")
    method = Noise2Atom(config, frames)
    method.train_step(_batches(method, 1))
    counts = {name: int(opt.iterations.numpy()) for name, opt in method.update_optimizers.items()}
    assert counts == {"adversarial": 1, "lfc": 1, "cycle": 1}
    assert len({id(opt) for opt in method.update_optimizers.values()}) == 3
    assert {"lfc_optimizer", "cycle_optimizer"} <= set(method.trackables())
    tf.train.Checkpoint(**method.trackables()).write(str(tmp_path / "ckpt"))
    again = Noise2Atom(config, frames)
    tf.train.Checkpoint(**again.trackables()).read(str(tmp_path / "ckpt")).assert_consumed()
    assert again.step == 1
    for name in ("lfc", "cycle"):
        assert int(again.update_optimizers[name].iterations.numpy()) == 1
        np.testing.assert_array_equal(again.update_optimizers[name].variables[-1].numpy(),
                                      method.update_optimizers[name].variables[-1].numpy())
    assert len({id(opt) for opt in run.method.update_optimizers.values()}) == 1  # the paper's "shared"
    with pytest.raises(ValueError, match="generator_optimizers must be one of"):
        Noise2AtomConfig(generator_optimizers="each")
    # the adversarial update's own rate; the cycle updates keep learning_rate
    slow = Noise2Atom(config.replace(adversarial_learning_rate=config.learning_rate / 10), frames)
    rates = {name: float(opt.learning_rate.numpy()) for name, opt in slow.update_optimizers.items()}
    assert rates == pytest.approx({"adversarial": config.learning_rate / 10, "lfc": config.learning_rate,
                                   "cycle": config.learning_rate})
    with pytest.raises(ValueError, match="needs generator_optimizers='per_update'"):
        Noise2AtomConfig(adversarial_learning_rate=1e-5)


def test_sign_anchor_enters_the_lfc_update_only_while_its_hinge_is_active(frames, eager):
    config = Noise2AtomConfig(**TINY).replace(generator_optimizers="per_update", adversarial_warmup=1)

    def ms2c_after_one_step(**changes):
        method = Noise2Atom(config.replace(**changes), frames)
        losses = method.train_step(_batches(method, 1))
        return _weights(method.ms2c), losses

    paper, losses = ms2c_after_one_step()
    assert losses["anchor"] >= 0  # recorded even with weight 0
    inactive, _ = ms2c_after_one_step(sign_anchor_weight=10.0, sign_anchor_margin=-0.999)
    active, active_losses = ms2c_after_one_step(sign_anchor_weight=10.0, sign_anchor_margin=1.0)
    assert active_losses["anchor"] > 0
    for a, b in zip(paper, inactive):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert not all(np.allclose(a, b, atol=1e-6) for a, b in zip(paper, active))
    assert load_config("noise2atom", "paper").sign_anchor_weight == 0.0
    for bad in (dict(sign_anchor_weight=-1.0), dict(sign_anchor_margin=1.5), dict(sign_anchor_margin=-1.0)):
        with pytest.raises(ValueError, match="sign_anchor"):
            Noise2AtomConfig(**bad)


def test_reverted_mapping_is_detected(frames):
    inputs = keras.Input((None, None, 1))
    inverter = keras.Model(inputs, keras.layers.Lambda(lambda t: -t * 0.9)(inputs))
    model = build_denoiser(inverter, minimum=0.0, maximum=float(frames.max()))
    with pytest.warns(UserWarning, match="reverted"):
        corr = check_reverted_mapping(model, frames)
    assert corr < -0.2
    keeper = build_denoiser(keras.Model(inputs, keras.layers.Lambda(lambda t: t * 0.9)(inputs)),
                            minimum=0.0, maximum=float(frames.max()))
    assert mapping_correlation(keeper, frames) > 0.2


# ---------------------------------------------------------------------------------------------- config
def test_config_presets_and_validation(tmp_path):
    paper = load_config("noise2atom", "paper")
    assert paper == Noise2AtomConfig()  # the dataclass defaults are the paper's
    assert (paper.batch_size, paper.learning_rate, paper.critic_steps, paper.gp_weight, paper.alpha, paper.beta) == (
        6, 5e-5, 5, 10.0, 5.0, 1.0)
    assert set(paper_values("noise2atom")) == set(paper.to_dict())  # every option has its source in the JSON
    assert preset_names("noise2atom") == ("paper", "released", "cpu", "quick")
    released = load_config("noise2atom", "released")
    assert released.batch_size == 3 and released.cycle_updates == "joint" and released.gp_interpolation == "per_pixel"
    assert paper.critic_grid == released.critic_grid == "even"  # the released code's (the paper is silent)
    assert paper.gp_interpolation == "per_pixel"  # Eq. 4: u is a tensor, multiplied elementwise
    assert (paper.rmsprop_rho, paper.rmsprop_momentum) == (released.rmsprop_rho, released.rmsprop_momentum) == (0.9, 0)
    assert (paper.epochs, paper.early_stop, released.epochs, released.steps_per_epoch) == (100, False, 1024, 64)
    assert (paper.generator_optimizers, paper.adversarial_warmup, paper.adversarial_learning_rate,
            paper.sign_anchor_weight) == ("shared", 0, None, 0.0)  # the cpu preset's departures are off
    cpu = load_config("noise2atom", "cpu")
    assert (cpu.features, cpu.patch_size, cpu.generator_optimizers, cpu.adversarial_warmup, cpu.sign_anchor_weight,
            cpu.early_stop) == (16, 128, "per_update", 150, 1.0, False)
    assert (cpu.critic_grid, cpu.gp_interpolation, cpu.rmsprop_momentum) == ("alternating", "per_sample", 0.9)
    quick = load_config("noise2atom", "quick", seed=3)
    assert (quick.features, quick.patch_size, quick.steps_per_epoch, quick.epochs, quick.seed) == (4, 64, 2, 1, 3)
    with pytest.raises(ValueError, match="critic_grid must be one of"):
        Noise2AtomConfig(critic_grid="odd")
    with pytest.raises(ValueError, match="unknown noise2atom preset 'cpu_budget'; choose one of"):
        load_config("noise2atom", "cpu_budget")
    with pytest.raises(ValueError, match="cycle_updates must be one of"):
        Noise2AtomConfig(cycle_updates="both")
    with pytest.raises(ValueError, match="patch_size must be a multiple of 16"):
        Noise2AtomConfig(patch_size=50)
    for old_name in ("widht", "base_filters", "crop_size"):  # renamed options are refused, not ignored
        with pytest.raises(ValueError, match=rf"unknown noise2atom option\(s\) \['{old_name}'\]"):
            paper.replace(**{old_name: 3})
    saved = tmp_path / "config.json"
    saved.write_text(json.dumps({**released.to_dict(), "_method": "noise2atom", "_data": []}))
    assert load_config("noise2atom", path=saved) == released


def test_prepare_frames_and_bad_input():
    scaled, lo, hi = prepare_frames(np.arange(2 * 4 * 4).reshape(2, 4, 4), training_frames=120)
    assert (lo, hi) == (0.0, 31.0) and scaled.shape == (2, 4, 4, 1)
    assert scaled.min() == -1 and scaled.max() == 1
    with pytest.raises(ValueError, match="constant"):
        prepare_frames(np.ones((2, 4, 4)))
    with pytest.raises(ValueError, match="received 3 on the channels axis .* train one model per channel"):
        prepare_frames(np.ones((2, 4, 4, 3)))
    with pytest.raises(ValueError, match="smaller than patch_size=128"):
        noisy_dataset(np.zeros((4, 64, 64, 1), np.float32), batch_size=2, patch_size=128, sampling="random", seed=0)


def test_read_data_reads_the_series_as_stored(frames, tmp_path):
    np.save(tmp_path / "series.npy", frames)
    np.testing.assert_array_equal(Noise2Atom.read_data(tmp_path / "series.npy"), frames)
    with pytest.raises(FileNotFoundError):
        Noise2Atom.read_data(tmp_path / "nope.npy")


# ---------------------------------------------------------------------------------------------- the façade
@pytest.mark.slow
def test_fit_stops_on_the_budget_and_returns_a_contract_model(frames, tmp_path, eager):
    result = tfstem.noise2atom.fit(frames, preset="paper", max_minutes=0.0001, seed=3, verbose=False,
                                   output_dir=tmp_path / "run", **{**TINY, "epochs": 3})
    assert result.stopped == "max_minutes" and result.steps == 1  # the budget stops after the first iteration
    assert result.config.seed == 3 and isinstance(result.extra["mapping_correlation"], float)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history["stopped"] == "max_minutes" and len(history["losses"]["gan"]) == 1
    assert (tmp_path / "run" / "model.keras").exists()
    model = result.model
    assert model.inputs[0].name.startswith("image")
    y = model(frames[:1, :50, :41, None]).numpy()
    assert y.shape == (1, 50, 41, 1) and 0 <= y.min() and y.max() <= 1
    with pytest.raises(ValueError, match=r"unknown noise2atom option\(s\) \['widht'\]"):
        tfstem.fit("noise2atom", frames, widht=3)


@pytest.mark.parametrize("frames_in, message", [
    (np.zeros((0, 64, 64), np.float32), r"frames are empty: they hold no pixels \(shape \(0, 64, 64\)\)"),
    (np.arange(64.0), r"\[N, H, W\] or \[N, H, W, C\] \(or one frame \[H, W\]\); received 1-D shape \(64,\)"),
    (np.ones((2, 64, 64, 2)), "received 2 on the channels axis"),
    (np.full((2, 64, 64), np.nan), "contain 8192 NaN or inf values"),
    (np.ones((2, 64, 64)) * (1 + 1j), "real numbers; received dtype complex128"),
    (np.full((2, 64, 64), "a"), "real numbers; received dtype <U1"),
    (np.random.default_rng(0).random((2, 32, 32)), "32x32 px are smaller than patch_size=48"),
])
def test_fit_refuses_bad_series_in_one_line_before_building(frames_in, message, monkeypatch):
    def built(*args, **kwargs):  # the networks must not be built for a series that cannot train
        raise AssertionError("a Noise2Atom network was built before the series was checked")

    for builder in ("build_xception_unet", "build_wgan_critic", "build_lowpass"):
        monkeypatch.setattr(training, builder, built)
    with pytest.raises(ValueError, match=message) as error:
        tfstem.noise2atom.fit(frames_in, preset="paper", verbose=False, **TINY)
    assert "\n" not in str(error.value)


def test_collapse_is_checked_at_the_end(run):
    from tfstem.training.collapse import STRUCTURE_THRESHOLD

    verdict = run.result.extra["collapse"]  # the shared check, input and output compared on [0, 1]
    assert run.result.collapsed == verdict["collapsed"] == (verdict["structure"] < STRUCTURE_THRESHOLD)
    assert verdict["contrast"] >= 0 and -1 <= verdict["correlation"] <= 1
