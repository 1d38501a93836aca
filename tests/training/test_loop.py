"""The shared training loop on a small method of its own: epochs/steps, budget, callback, Ctrl-C, the
non-finite guard, checkpoints and resume, history, TensorBoard, the run-folder rule and export."""

import json
import os
import signal

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfstem.config import ConfigMixin
from tfstem.training import FitResult, Method, train
from tfstem.training.run_folder import data_fingerprint

import dataclasses


@dataclasses.dataclass(frozen=True)
class LineConfig(ConfigMixin):
    method = "line"
    learning_rate: float = 0.1
    epochs: int = 3
    steps_per_epoch: int = 4
    seed: int = 0
    poison_step: int = 0  # the step whose loss is NaN (0: none)
    checkpoint_every: int = 0


class Line(Method):
    """Fits y = w x + b (a 1x1 convolution of images) to a seeded stream of noisy points with SGD (momentum, so optimizer state matters)."""

    name = "line"
    config_class = LineConfig
    progress_keys = ("loss",)
    log_every = 1

    def __init__(self, config, data=None):
        self.config = config
        keras.utils.set_random_seed(config.seed)
        self.model = keras.Sequential([keras.Input((None, None, 1)), keras.layers.Conv2D(1, 1)])
        self.optimizer = keras.optimizers.SGD(config.learning_rate, momentum=0.9)
        self.optimizer.build(self.model.trainable_variables)
        self.counter = tf.Variable(0, dtype=tf.int64, trainable=False)

    @property
    def step(self):
        return int(self.counter.numpy())

    def steps_per_epoch(self):
        return self.config.steps_per_epoch

    def batches(self, start_step):
        def batch(i):
            rng = np.random.default_rng([self.config.seed, i])
            x = rng.uniform(-1, 1, (2, 4, 4, 1)).astype(np.float32)
            return x, (3 * x + 1 + rng.normal(0, 0.1, x.shape)).astype(np.float32)

        return (batch(i) for i in range(start_step, 10**9))

    def train_step(self, batches):
        x, y = next(batches)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((self.model(x) - y) ** 2)
        grads = tape.gradient(loss, self.model.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables))
        self.counter.assign_add(1)
        value = float(loss)
        return {"loss": math_nan() if self.step == self.config.poison_step else value, "skipped": None}

    def trackables(self):
        return {"model": self.model, "optimizer": self.optimizer, "counter": self.counter}

    def deployable(self):
        return self.model

    def data_record(self):
        return data_fingerprint(np.zeros(1))


def math_nan():
    return float("nan")


def losses(result):
    return result.history["losses"]["loss"]


def test_epochs_steps_history_and_run_folder(tmp_path):
    result = train(Line(LineConfig()), output_dir=tmp_path / "run", verbose=False)
    assert isinstance(result, FitResult) and result.stopped == "completed" and result.steps == 12
    assert result.history["step"] == list(range(1, 13)) and len(result.history["epochs"]) == 3
    assert result.history["losses"]["skipped"] == [None] * 12
    assert losses(result)[-1] < losses(result)[0] / 4  # it learns
    folder = tmp_path / "run"
    assert {p.name for p in folder.iterdir()} >= {"config.json", "history.json", "checkpoints", "logs", "model.keras"}
    saved = json.loads((folder / "history.json").read_text())
    assert saved["stopped"] == "completed" and saved["losses"]["loss"] == losses(result)
    assert json.loads((folder / "config.json").read_text())["_method"] == "line"
    assert list((folder / "logs").glob("events.*"))
    assert train(Line(LineConfig()), steps=5, verbose=False).steps == 5


def test_an_earlier_run_needs_resume_or_force(tmp_path):
    train(Line(LineConfig(epochs=1)), output_dir=tmp_path, verbose=False)
    with pytest.raises(FileExistsError, match="--resume.*--force"):
        train(Line(LineConfig(epochs=1)), output_dir=tmp_path, verbose=False)
    with pytest.raises(ValueError, match="learning_rate 0.1 -> 0.2"):
        train(Line(LineConfig(epochs=1, learning_rate=0.2)), output_dir=tmp_path, resume=True, verbose=False)
    with pytest.raises(ValueError, match="not both"):
        train(Line(LineConfig(epochs=1)), output_dir=tmp_path, resume=True, force=True, verbose=False)
    more = train(Line(LineConfig(epochs=2, checkpoint_every=1)), output_dir=tmp_path, resume=True, epochs=2,
                 verbose=False)  # the length and the intervals may change on resume
    assert more.history["step"] == list(range(1, 9))
    fresh = train(Line(LineConfig(epochs=1, learning_rate=0.2)), output_dir=tmp_path, force=True, verbose=False)
    assert fresh.steps == 4 and json.loads((tmp_path / "config.json").read_text())["learning_rate"] == 0.2


def test_ctrl_c_finishes_the_step_saves_and_resumes_to_the_uninterrupted_losses(tmp_path):
    whole = train(Line(LineConfig()), verbose=False)

    def interrupt_at_5(step, values):
        if step == 5:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C: the handler only sets a flag

    before = signal.getsignal(signal.SIGINT)
    first = train(Line(LineConfig()), output_dir=tmp_path, callback=interrupt_at_5, verbose=False)
    assert first.stopped == "interrupted" and first.steps == 5
    assert signal.getsignal(signal.SIGINT) is before  # handler put back
    resumed = train(Line(LineConfig()), output_dir=tmp_path, resume=True, verbose=False)
    assert resumed.stopped == "completed" and resumed.history["step"] == list(range(1, 13))
    np.testing.assert_allclose(losses(resumed), losses(whole), rtol=1e-6)


def test_an_ignored_sigint_stays_ignored(tmp_path):
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as under nohup
    try:
        def interrupt_at_2(step, values):
            if step == 2:
                os.kill(os.getpid(), signal.SIGINT)

        run = train(Line(LineConfig(epochs=1)), callback=interrupt_at_2, verbose=False)
        assert run.stopped == "completed" and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_budget_and_callback_stop_cleanly(tmp_path):
    budget = train(Line(LineConfig(epochs=1000)), max_minutes=1e-4, output_dir=tmp_path / "b", verbose=False)
    assert budget.stopped == "max_minutes" and 1 <= budget.steps < 4000
    assert (tmp_path / "b" / "model.keras").exists()
    stopped = train(Line(LineConfig()), callback=lambda step, values: step == 2, verbose=False)
    assert stopped.stopped == "callback" and stopped.steps == 2
    with pytest.raises(ValueError, match="max_minutes"):
        train(Line(LineConfig()), max_minutes=0, verbose=False)
    with pytest.raises(ValueError, match="resume needs output_dir"):
        train(Line(LineConfig()), resume=True, verbose=False)


def test_non_finite_loss_goes_back_to_the_last_good_checkpoint(tmp_path):
    with pytest.warns(RuntimeWarning, match="non-finite loss at step 6.*step 4"):
        result = train(Line(LineConfig(poison_step=6)), output_dir=tmp_path, verbose=False)
    assert result.stopped == "non_finite" and result.model is not None
    method_step = json.loads((tmp_path / "history.json").read_text())
    assert method_step["stopped"] == "non_finite"
    assert any("went back to the checkpoint of step 4" in e["event"] for e in method_step["events"])
    with pytest.raises(FloatingPointError, match="no checkpoint to go back to"):
        train(Line(LineConfig(poison_step=2)), verbose=False)


def test_export_writes_a_new_serving_version_each_session(tmp_path):
    first = train(Line(LineConfig(epochs=1)), output_dir=tmp_path, export=True, verbose=False)
    assert first.extra["serving"] == str(tmp_path / "serving" / "1")
    assert (tmp_path / "serving" / "1" / "saved_model.pb").exists()
    train(Line(LineConfig(epochs=1)), output_dir=tmp_path, resume=True, epochs=2, export=True, verbose=False)
    assert sorted(p.name for p in (tmp_path / "serving").iterdir()) == ["1", "2"]
    train(Line(LineConfig(epochs=1)), output_dir=tmp_path, force=True, export=True, verbose=False)
    assert sorted(p.name for p in (tmp_path / "serving").iterdir()) == ["1"]  # force: the old run is gone
