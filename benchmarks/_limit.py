"""This machine's compute limit, shared by the speed benchmarks (``compute_limit.py`` prints it in full).

The limit of a network on a frame is its multiply-adds (:func:`tfstem.profiling.multiply_adds`) over the
sustained multiply-add rate of a large dense convolution in the precision the network runs in. The rate is
measured here, in ``tf.function``, on TensorFlow's current thread count, as the median of a few repeats after a
warm-up; each speed benchmark measures it in its own process right before its timings (a shared machine's
load changes from minute to minute), or reads the JSON that ``compute_limit.py --json`` wrote (``--limit``).

A "fraction of the compute limit" is ``useful MAC / (seconds x MAC/s)``: useful MAC are the network's
multiply-adds on the frame itself (padding to a multiple and tile overlap are cost, not work).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

#: The shapes timed: name -> (kind, shape description). Rates are reported in GFLOP/s = 2 x GMAC/s.
#: ``conv64`` is the reference: 3x3, 64 -> 64 channels, one 256x256 image (the issue's figure). ``conv_growth``
#: is a densely connected CGRDN convolution in the middle of a residual dense block (64 + 3 x 32 = 160 channels
#: in, growth 32 out, at the half resolution 128x128 of a 256x256 frame).
SHAPES = {
    "matmul4096": ("matmul", (4096, 4096, 4096)),
    "conv64": ("conv", (1, 256, 256, 64, 3, 64)),
    "conv_growth": ("conv", (1, 128, 128, 160, 3, 32)),
}
PRECISIONS = ("float32", "bfloat16")
#: The shape whose rate is "the" limit of a precision.
REFERENCE = "conv64"


def thread_count() -> int:
    """Threads TensorFlow's intra-op pool uses (its setting, or the CPUs this process may run on)."""
    import tensorflow as tf

    threads = tf.config.threading.get_intra_op_parallelism_threads()
    if threads:
        return threads
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _mac(kind, shape):
    if kind == "matmul":
        m, k, n = shape
        return m * k * n
    batch, height, width, channels_in, kernel, channels_out = shape
    return batch * height * width * kernel * kernel * channels_in * channels_out


def time_shape(kind, shape, dtype, *, repeats=5, min_seconds=0.2):
    """Median seconds of one ``kind`` op of ``shape`` in ``dtype`` after a warm-up, inside ``tf.function``.

    Each timed sample loops the op enough times to last about ``min_seconds`` (the result of each call is
    reduced to a scalar and fetched, so no call is skipped).
    """
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    if kind == "matmul":
        m, k, n = shape
        a = tf.cast(tf.constant(rng.standard_normal((m, k), dtype=np.float32)), dtype)
        b = tf.cast(tf.constant(rng.standard_normal((k, n), dtype=np.float32)), dtype)
        op = tf.function(lambda a, b: tf.reduce_sum(tf.cast(tf.matmul(a, b)[:1, :1], tf.float32)))
    else:
        batch, height, width, channels_in, kernel, channels_out = shape
        a = tf.cast(tf.constant(rng.standard_normal((batch, height, width, channels_in), dtype=np.float32)), dtype)
        b = tf.cast(tf.constant(rng.standard_normal((kernel, kernel, channels_in, channels_out),
                                                    dtype=np.float32) * 0.05), dtype)
        op = tf.function(lambda a, b: tf.reduce_sum(tf.cast(tf.nn.conv2d(a, b, 1, "SAME")[:, :1, :1], tf.float32)))
    op(a, b).numpy()  # trace, oneDNN primitive creation
    start = time.perf_counter()
    op(a, b).numpy()
    once = time.perf_counter() - start
    loops = max(1, int(min_seconds / max(once, 1e-6)))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(loops):
            op(a, b).numpy()
        samples.append((time.perf_counter() - start) / loops)
    return statistics.median(samples)


def measure(*, repeats=5, shapes=None, precisions=PRECISIONS) -> dict:
    """Measure the sustained rates here: ``{"rates": {shape: {precision: MAC/s}}, "threads", "load", ...}``.

    A precision the CPU cannot run (an op error) is left out of that shape's entry. Takes about 10-30 s.
    """
    import tensorflow as tf

    rates = {}
    for name in shapes or SHAPES:
        kind, shape = SHAPES[name]
        rates[name] = {}
        for precision in precisions:
            try:
                seconds = time_shape(kind, shape, precision, repeats=repeats)
            except (tf.errors.OpError, TypeError, ValueError) as error:  # no kernel for this dtype here
                print(f"{name} {precision}: not measured ({type(error).__name__})")
                continue
            rates[name][precision] = _mac(kind, shape) / seconds
    return {"rates": rates, "reference": REFERENCE, "threads": thread_count(), "tensorflow": tf.__version__,
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
            "measured": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}


def load(path=None, **kwargs) -> dict:
    """The measurement in the JSON at ``path`` (written by ``compute_limit.py --json``), else a fresh one."""
    if path:
        return json.loads(Path(path).read_text())
    return measure(**kwargs)


def mac_rate(limit: dict, precision: str = "float32") -> float | None:
    """MAC/s of the reference convolution in ``precision``, or None where it was not measured."""
    return limit["rates"].get(limit.get("reference", REFERENCE), {}).get(precision)


def fraction(useful_mac: float, seconds: float, limit: dict, precision: str = "float32") -> float | None:
    """``useful_mac / (seconds x rate)``: the fraction of the compute limit a timed run reached."""
    rate = mac_rate(limit, precision)
    return useful_mac / (seconds * rate) if rate and seconds > 0 else None


def describe(limit: dict) -> str:
    """One line for a table's header: the reference rates, threads and load when measured."""
    parts = [f"{p} {2 * mac_rate(limit, p) / 1e9:,.0f} GFLOP/s" for p in PRECISIONS if mac_rate(limit, p)]
    load = limit.get("load_average")
    load_text = f", load average {load[0]:.2f} when measured" if load else ""
    return (f"compute limit ({limit.get('reference', REFERENCE)}: 3x3 conv 64->64 at 256x256): "
            + ", ".join(parts) + f" on {limit['threads']} threads{load_text}")


def format_fraction(value) -> str:
    return "n/a" if value is None else f"{100 * value:.0f} %"


# ---------------------------------------------------------------------------------------------------
# the networks at the papers' sizes (deployable models: raw frames in, any size)


def paper_networks() -> dict:
    """``{label: (keras.Model, channels)}``: the CGRDN (r_em), the N2V U-Net (dual channel) and the Noise2Atom
    generator Ms2c as deployed, each at its ``paper`` preset's widths (weights random: MAC do not depend on them)."""
    from tfstem.config import load_config
    from tfstem.n2v.unet import build_n2v_unet
    from tfstem.noise2atom.xception_unet import build_denoiser, build_xception_unet
    from tfstem.r_em.cgrdn import build_cgrdn

    r_em = load_config("r_em", "paper")
    n2v = load_config("n2v", "paper")
    n2a = load_config("noise2atom", "paper")
    cgrdn = build_cgrdn(channels=1, features=r_em.features, growth=r_em.growth, layers_per_rdb=r_em.layers_per_rdb,
                        rdbs_per_grdb=r_em.rdbs_per_grdb, grdbs=r_em.grdbs)
    unet = build_n2v_unet(channels=2, depth=n2v.depth, features=n2v.features, first_kernel_size=n2v.first_kernel_size,
                          kernel_size=n2v.kernel_size)
    generator = build_xception_unet(features=n2a.features, num_residual_blocks=n2a.num_residual_blocks,
                                    full_resolution_kernels=n2a.full_resolution_kernels,
                                    low_resolution_kernels=n2a.low_resolution_kernels, normalization=n2a.normalization)
    return {
        f"CGRDN (r_em; features {r_em.features}, growth {r_em.growth})": (cgrdn, 1),
        f"N2V U-Net (depth {n2v.depth}, {n2v.features} features, 2 channels)": (unet, 2),
        f"Noise2Atom generator (features {n2a.features}, {n2a.num_residual_blocks} residual blocks)": (
            build_denoiser(generator, minimum=0.0, maximum=1.0), 1),
    }


def useful_mac(model, height, width, channels, frames=1) -> int:
    """MAC of ``model`` on ``frames`` frames of ``height x width`` at their own size (no tiling, no overlap);
    the model's own padding to a multiple is counted (it is part of one call on the frame)."""
    from tfstem.profiling import multiply_adds

    return frames * multiply_adds(model, (1, height, width, channels))
