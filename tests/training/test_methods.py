"""Every method through the one training layer: the contract (build -> one step -> .keras round trip ->
export -> reload in a process without tfstem), the `quick` preset through the command line and through
``tfstem.fit``, the same common flags, and a Ctrl-C resumed to the losses of an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import tfstem
from tfstem.config import METHODS, load_config, preset_names

pytestmark = pytest.mark.slow


def _lattice(count, size, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images = []
    for _ in range(count):
        dy, dx = rng.uniform(0, 8, 2)
        images.append(np.cos(2 * np.pi * (yy + dy) / 8) ** 2 * np.cos(2 * np.pi * (xx + dx) / 8) ** 2)
    return np.stack(images)


def method_data(method):
    """Small training data of each method (raw-count scales like the real inputs)."""
    rng = np.random.default_rng(3)
    if method == "r_em":
        clean = (100.0 * (0.1 + _lattice(4, 64, 1)))[..., None].astype(np.float32)
        return rng.poisson(clean).astype(np.float32), clean
    if method == "n2v":
        clean = _lattice(8, 64, 2)
        return np.stack([rng.poisson(20 * (0.05 + clean)), rng.poisson(20 * (1 - 0.7 * clean))], -1).astype(np.float32)
    return rng.poisson(5.0 * (0.2 + _lattice(4, 96, 4))).astype(np.float32)


def write_data(method, folder):
    data = method_data(method)
    if method == "r_em":
        path = folder / "pairs.npz"
        np.savez(path, x=data[0], y=data[1])
    else:
        path = folder / "series.npy"
        np.save(path, data)
    return path


def example_input(method):
    channels = 2 if method == "n2v" else 1
    return np.random.default_rng(9).poisson(20.0, (1, 48, 56, channels)).astype(np.float32)


@pytest.fixture
def eager():
    """Tiny networks run eagerly: tracing a GAN's graph costs more than the steps themselves on 2 cores."""
    tf.config.run_functions_eagerly(True)
    yield
    tf.config.run_functions_eagerly(False)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_contract_fit_quick_keras_round_trip_export_and_reload_without_tfstem(method, tmp_path, eager):
    """tfstem.fit(quick) -> model.keras round trip -> serving/1 -> reload in a process without tfstem."""
    result = tfstem.fit(method, method_data(method), preset="quick", steps=1, output_dir=tmp_path / "run",
                        export=True, verbose=False)
    assert result.method == method and result.stopped == "completed" and result.steps == 1
    first = [values[0] for values in result.history["losses"].values()]
    assert first and all(v is None or np.isfinite(v) for v in first)
    image = example_input(method)
    expected = np.asarray(result.model(image))
    assert expected.shape == image.shape
    reloaded = tfstem.load_model(tmp_path / "run" / "model.keras")
    np.testing.assert_allclose(np.asarray(reloaded(image)), expected, rtol=1e-5, atol=1e-5)
    version = tmp_path / "run" / "serving" / "1"
    assert result.extra["serving"] == str(version)
    np.save(tmp_path / "image.npy", image)
    script = textwrap.dedent(f"""
        import sys, numpy as np, tensorflow as tf
        served = tf.saved_model.load({str(version)!r}).signatures["serving_default"]
        out = served(image=tf.constant(np.load({str(tmp_path / 'image.npy')!r})))["denoised"].numpy()
        assert not any(name.startswith("tfstem") for name in sys.modules), "tfstem was imported"
        np.save({str(tmp_path / 'served.npy')!r}, out)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": ""}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "served.npy"), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_has_the_four_presets_and_one_config_loader(method):
    names = preset_names(method)
    assert names[0] == "paper" and {"paper", "cpu", "quick"} <= set(names)
    paper = load_config(method, "paper")
    assert paper == type(paper)()  # the dataclass defaults are the paper's numbers of models/<method>.json
    with pytest.raises(ValueError, match="unknown .* option"):
        load_config(method, "quick", no_such_option=1)
    with pytest.raises(ValueError, match="unknown .*preset"):
        load_config(method, "fastest")


def _help(method):
    done = subprocess.run([sys.executable, "-m", "tfstem.cli", "train", method, "--help"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


COMMON_FLAGS = ("-o OUTPUT", "--preset", "--set KEY=VALUE", "--config", "--resume", "--force", "--epochs", "--steps",
                "--max-minutes", "--seed", "--strategy", "--channels-axis", "--export", "--quiet")


def test_train_help_shows_the_same_common_flags_for_every_method():
    helps = {method: _help(method) for method in sorted(METHODS)}
    for method, text in helps.items():
        for flag in COMMON_FLAGS:
            assert flag in text, f"tfstem train {method} --help lacks {flag}"
        assert "DATA" in text


#: ``python -m tfstem.cli`` with TensorFlow's functions run eagerly (the same module run as ``__main__``).
EAGER_CLI = ("-c", "import runpy, tensorflow as tf; tf.config.run_functions_eagerly(True); "
                   "runpy.run_module('tfstem.cli', run_name='__main__', alter_sys=True)")


@pytest.mark.parametrize("method", sorted(METHODS))
def test_quick_preset_through_the_command_line(method, tmp_path):
    """The command line's part (flags, run folder, history, model.keras, the refusal) is under test. Noise2Atom's
    two steps run eagerly: tracing its GAN schedule's graphs took ~70 s of the suite's 15 minutes on 2 cores, and
    the traced schedule is checked by tests/golden (losses) and the example's --quick run (test_examples)."""
    data = write_data(method, tmp_path)
    run = tmp_path / "cli_run"
    entry = EAGER_CLI if method == "noise2atom" else ("-m", "tfstem.cli")
    done = subprocess.run([sys.executable, *entry, "train", method, str(data), "-o", str(run),
                           "--preset", "quick", "--steps", "2", "--quiet"], capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{method}: completed after 2 steps" in done.stdout
    history = json.loads((run / "history.json").read_text())
    assert history["step"] == [1, 2] and (run / "model.keras").exists()
    again = subprocess.run([sys.executable, "-m", "tfstem.cli", "train", method, str(data), "-o", str(run),
                            "--preset", "quick", "--steps", "2"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 2 and "--resume" in again.stderr and "Traceback" not in again.stderr


def test_ctrl_c_then_resume_gives_the_losses_of_an_uninterrupted_run(tmp_path, eager):
    frames = method_data("noise2atom")
    options = dict(preset="quick", steps_per_epoch=2, epochs=2, verbose=False)
    whole = tfstem.fit("noise2atom", frames, **options)

    def ctrl_c_at_step_3(step, losses):
        if step == 3:
            os.kill(os.getpid(), signal.SIGINT)

    first = tfstem.fit("noise2atom", frames, output_dir=tmp_path, callback=ctrl_c_at_step_3, **options)
    assert first.stopped == "interrupted" and first.steps == 3
    resumed = tfstem.fit("noise2atom", frames, output_dir=tmp_path, resume=True, **options)
    assert resumed.stopped == "completed" and resumed.history["step"] == [1, 2, 3, 4]
    for name, values in whole.history["losses"].items():
        np.testing.assert_allclose(np.asarray(resumed.history["losses"][name], float), np.asarray(values, float),
                                   rtol=1e-5, err_msg=name)
