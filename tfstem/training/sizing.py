"""The default preset sized for the machine: ``paper`` with a visible GPU, ``cpu`` without, announced in one line
with the time the ``paper`` preset would take here.

The estimate costs no training. ``models/<method>.json`` holds ``paper_cost``: ``gflop_per_step``, the
floating-point operations of one step of the ``paper`` preset (forward FLOPs of its networks counted by the
TensorFlow profiler, times the passes of one step), and ``rate_vs_probe``, the FLOP rate a real training step of
the method reached when its ``cpu`` preset was timed, over the rate of the probe below timed right after each
step (``benchmarks/paper_cost.py --calibrate``): normalisation, element-wise ops, losses and data make a step
slower than its FLOPs suggest, batched convolutions faster than the batch-1 probe (Noise2Atom 0.25, r_em 0.44,
N2V 1.5). At
start-up a 3x3 convolution of 64 to 64 channels on a 128x128 image (1.2 GFLOP) is timed three times after a
warm-up (about a second on a CPU), which gives this machine's rate in GFLOP/s. The estimate is
``steps x gflop_per_step / (rate x rate_vs_probe)`` with the ``paper`` preset's step count on the given data
(``Method.epoch_steps``). It assumes the paper-size networks reach the ratio measured at the cpu size (larger
convolutions usually do better, so it leans long) and is good to a factor of about two.
"""

from __future__ import annotations

import functools
import math
import time

import numpy as np

from tfstem.config import load_config, method_class, method_name, read_method_file

__all__ = ["gpu_visible", "default_preset", "machine_gflops", "convolution_rate", "paper_steps", "paper_seconds", "describe_duration",
           "default_preset_announcement"]

#: The timed convolution of :func:`machine_gflops`: input ``[1, 128, 128, 64]``, kernel ``[3, 3, 64, 64]``.
_PROBE_SHAPE = (1, 128, 128, 64)
_PROBE_KERNEL = (3, 3, 64, 64)


def gpu_visible() -> bool:
    """True when TensorFlow sees a GPU (``tf.config.list_physical_devices("GPU")`` not empty)."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def default_preset(method: str) -> str:
    """``"paper"`` where a GPU is visible, ``"cpu"`` (the paper's method at a reduced size) otherwise."""
    method_name(method)
    return "paper" if gpu_visible() else "cpu"


@functools.lru_cache(maxsize=1)
def machine_gflops() -> float:
    """This machine's rate on a dense 3x3 convolution, GFLOP/s, measured once per process
    (:func:`convolution_rate`)."""
    return convolution_rate()


def convolution_rate(repeats: int = 3) -> float:
    """GFLOP/s of a 3x3, 64 -> 64 channel convolution of a 128x128 image (best of ``repeats`` after a warm-up)."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    image = tf.constant(rng.standard_normal(_PROBE_SHAPE, dtype=np.float32))
    kernel = tf.constant(rng.standard_normal(_PROBE_KERNEL, dtype=np.float32))
    flop = 2.0 * np.prod(_PROBE_KERNEL) * _PROBE_SHAPE[1] * _PROBE_SHAPE[2]
    tf.nn.conv2d(image, kernel, 1, "SAME").numpy()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        tf.nn.conv2d(image, kernel, 1, "SAME").numpy()
        best = min(best, time.perf_counter() - start)
    return flop / best / 1e9


def _data_shape(data):
    try:
        return tuple(np.shape(data))
    except (ValueError, TypeError):  # e.g. r_em's (distorted, clean) pairs of different types
        return None


def paper_steps(method: str, data=None) -> int:
    """Steps of the ``paper`` preset on ``data`` (array or None): ``epochs x Method.epoch_steps``."""
    name = method_name(method)
    config = load_config(name, "paper")
    return int(config.epochs) * int(method_class(name).epoch_steps(config, _data_shape(data)))


def paper_seconds(method: str, data=None, *, gflops: float | None = None) -> float:
    """Estimated seconds of the ``paper`` preset on this machine (a lower bound; see the module docstring)."""
    cost = read_method_file(method)["paper_cost"]
    rate = machine_gflops() if gflops is None else gflops
    return paper_steps(method, data) * float(cost["gflop_per_step"]) / (rate * float(cost["rate_vs_probe"]))


def describe_duration(seconds: float) -> str:
    """``"40 min"``, ``"7.5 h"``, ``"12 days"``, ``"3.1 years"``."""
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    if seconds < 2 * 365 * 86400:
        return f"{seconds / 86400:.0f} days"
    return f"{seconds / (365 * 86400):.1f} years"


def default_preset_announcement(method: str, data=None) -> str | None:
    """The one line that says the default preset is ``cpu`` here (no GPU) and what ``paper`` would cost; None
    where a GPU is visible (the default is then ``paper`` and nothing needs saying)."""
    name = method_name(method)
    if default_preset(name) == "paper":
        return None
    steps = paper_steps(name, data)
    cost = read_method_file(name)["paper_cost"]
    rate = machine_gflops()
    seconds = paper_seconds(name, data, gflops=rate)
    return (f"{name}: no GPU visible, so the 'cpu' preset runs (the paper's method at a reduced size); the paper "
            f"preset would take about {describe_duration(seconds)} here ({steps:,} steps of "
            f"{float(cost['gflop_per_step']):,.0f} GFLOP at {float(cost['rate_vs_probe']):.2g} x the {rate:.0f} GFLOP/s "
            f"of a convolution timed just now); preset=\"paper\" / --preset paper runs the paper's method.")
