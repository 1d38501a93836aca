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
