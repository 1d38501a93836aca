"""The default preset is sized for the machine: ``cpu`` without a visible GPU (announced in one line with the
``paper`` preset's estimated time), ``paper`` with one; ``tfstem.fit`` and ``tfstem train`` alike. The device
list is faked, and the training itself is replaced by a recorder: what is tested is which config would run."""

import math

import numpy as np
import pytest
import tensorflow as tf

import tfstem
from tfstem.cli import main
from tfstem.config import METHODS, default_preset, load_config
from tfstem.training import fit as fit_module
from tfstem.training import sizing

RATE = 50.0  # GFLOP/s, in place of the timed convolution


@pytest.fixture(params=["no_gpu", "gpu"])
def device(request, monkeypatch):
    """Fakes TensorFlow's device list: no GPU, or one GPU."""
    real = tf.config.list_physical_devices

    def listed(kind=None):
        if kind == "GPU":
            return [] if request.param == "no_gpu" else [tf.config.PhysicalDevice("/physical_device:GPU:0", "GPU")]
        return real(kind)

    monkeypatch.setattr(tf.config, "list_physical_devices", listed)
    monkeypatch.setattr(sizing, "machine_gflops", lambda: RATE)
    return request.param


@pytest.fixture
def recorded(monkeypatch):
    """Replaces the training by a recorder of the built method's config (nothing trains)."""
    runs = []

    class Stop(Exception):
        pass

    def record(built, **kwargs):
        runs.append(built.config)
        raise Stop

    monkeypatch.setattr(fit_module, "train", record)
    return runs, Stop


def _series():
    return np.random.default_rng(0).poisson(2.0, (8, 128, 128)).astype(np.float32)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_default_preset_follows_the_device_list(device, method):
    assert default_preset(method) == ("cpu" if device == "no_gpu" else "paper")
    assert load_config(method) == load_config(method, default_preset(method))


def test_fit_without_preset(device, recorded, capsys):
    runs, stop = recorded
    with pytest.raises(stop):
        tfstem.fit("noise2atom", _series())
    err = capsys.readouterr().err.strip()
    expected = load_config("noise2atom", "cpu" if device == "no_gpu" else "paper")
    assert runs == [expected]
    if device == "gpu":
        assert err == ""
        return
    assert len(err.splitlines()) == 1, err
    steps = 100 * math.ceil(8 * 1 * 1 / 6)  # 100 epochs x the 128 px tiles of 8 frames at batch 6
    assert "'cpu' preset runs" in err and f"{steps:,} steps" in err and "GFLOP/s" in err
    assert 'preset="paper"' in err and "--preset paper" in err
    with pytest.raises(stop):
        tfstem.fit("noise2atom", _series(), preset="paper")
    assert runs[-1] == load_config("noise2atom", "paper") and capsys.readouterr().err == ""


def test_fit_with_verbose_false_is_silent(device, recorded, capsys):
    runs, stop = recorded
    with pytest.raises(stop):
        tfstem.fit("noise2atom", _series(), verbose=False)
    assert capsys.readouterr().err == "" and runs[0].features == (16 if device == "no_gpu" else 64)


def test_command_line_without_preset(device, recorded, tmp_path, capsys):
    runs, stop = recorded
    path = tmp_path / "series.npy"
    np.save(path, _series())
    with pytest.raises(stop):
        main(["train", "noise2atom", str(path), "-o", str(tmp_path / "run"), "--set", "seed=3"])
    err = capsys.readouterr().err.strip()
    preset = "cpu" if device == "no_gpu" else "paper"
    assert runs == [load_config("noise2atom", preset, seed=3)]
    assert len(err.splitlines()) == (1 if device == "no_gpu" else 0), err
    if device == "no_gpu":
        assert "'cpu' preset runs" in err and "--preset paper" in err
    with pytest.raises(stop):
        main(["train", "noise2atom", str(path), "-o", str(tmp_path / "run2"), "--preset", "paper", "--seed", "2"])
    assert runs[-1] == load_config("noise2atom", "paper", seed=2) and capsys.readouterr().err == ""


def test_paper_steps_follow_each_papers_epoch():
    assert sizing.paper_steps("noise2atom", np.zeros((150, 512, 512))) == 100 * (120 * 16 // 6)
    assert sizing.paper_steps("n2v", np.zeros((100, 256, 256, 2))) == 32 * math.ceil(50 / 12)
    assert sizing.paper_steps("r_em") == 1000 * 1000
    with pytest.raises(ValueError, match="shape"):
        sizing.paper_steps("noise2atom", None)


def test_paper_seconds_scale_with_the_measured_rate():
    data = np.zeros((150, 512, 512))
    slow, fast = (sizing.paper_seconds("noise2atom", data, gflops=r) for r in (10.0, 40.0))
    assert slow == pytest.approx(4 * fast) and fast > 0
    assert sizing.machine_gflops() > 0  # the real probe runs (about a second on a CPU)


def test_describe_duration():
    assert [sizing.describe_duration(s) for s in (600, 5400, 10 * 86400, 4 * 365 * 86400)] == [
        "10 min", "1.5 h", "10 days", "4.0 years"]


SHAPES = {"noise2atom": (120, 512, 512), "n2v": (100, 512, 512, 2), "r_em": None}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_cpu_preset_ends_by_itself(method):
    config, paper = load_config(method, "cpu"), load_config(method, "paper")
    cls = tfstem.config.method_class(method)
    cpu_steps = config.epochs * cls.epoch_steps(config, SHAPES[method])
    assert cpu_steps <= 3000  # about an hour at most on 2 busy cores (models/<method>.json), no --max-minutes needed
    assert config.features < paper.features  # the paper's method at a reduced width
