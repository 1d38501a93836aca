"""Shared pytest set-up: quiet TensorFlow, deterministic seeds, CPU only."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # tests run on the CPU (CI has no GPU)
os.environ["TFSTEM_RUNTIME"] = "tensorflow"  # the CLI tests check TensorFlow's path; tests/test_ready.py checks the ready copies

import signal  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

# A suite started in the background of a non-interactive shell inherits an ignored SIGINT, and so would every
# subprocess it starts: the Ctrl-C tests would then see their signal dropped. A Python-level handler is reset to
# the default at exec, so the children get a normal Ctrl-C again.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _seed_everything():
    """Same seeds for every test so that failures reproduce."""
    import keras

    keras.utils.set_random_seed(1234)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(20201)


# With ``--dist loadfile`` (``make test``) each test file goes whole to one worker, and pytest-xdist hands out
# the files with the most tests first. The slowest files hold few tests (a golden replay: 3 tests, 5 min), so they
# came last and ran alone at the end while the other worker sat idle. Instead the files go out longest first
# (the classic longest-processing-time rule: the tail is made of short files, so the two workers end together),
# by the seconds each took in a full run on 2 cores (``--durations``; 2026-12-03; a rough order is all it needs).
# A file not listed is short and keeps its place after these. Update the figures when a file grows a slow test.
SLOW_FILES_SECONDS = {
    "tests/training/test_methods.py": 330,
    "tests/golden/test_golden_losses.py": 310,
    "tests/noise2atom/test_training.py": 260,
    "tests/test_examples.py": 200,
    "tests/r_em/test_modalities.py": 180,
    "tests/test_wheel_install.py": 100,
    "tests/r_em/test_authors.py": 90,
    "tests/training/test_collapse.py": 90,
    "tests/r_em/test_training.py": 80,
    "tests/synth/test_pipelines.py": 60,
    "tests/n2v/test_training.py": 60,
    "tests/test_fuzz.py": 50,
    "tests/napari/test_widgets.py": 45,
    "tests/test_export.py": 45,
    "tests/synth/test_noise.py": 40,
    "tests/napari/test_train_jobs.py": 35,
    "tests/test_cli_safety.py": 30,
    "tests/synth/test_cli.py": 25,
    "tests/training/test_cli.py": 22,
}


def pytest_configure(config):
    if hasattr(config.option, "loadscopereorder"):  # pytest-xdist: keep the order set below
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items):
    """Slowest files first (see :data:`SLOW_FILES_SECONDS`); a stable sort keeps each file's tests together and
    in their order."""
    items.sort(key=lambda item: -SLOW_FILES_SECONDS.get(item.nodeid.split("::", 1)[0], 0))
