"""Seconds per Noise2Atom training iteration (the whole 8-pass schedule of one batch).

One iteration = Ms2c forward for the critic, 5 critic updates with gradient penalty, 1 adversarial update of
Ms2c, 1 low-frequency cycle update and 1 clean cycle update of both generators (Wang et al. 2020,
Training Details), on the batches the training stream gives (seeded crops of a Poisson series and clean-domain
images, drawn before the clock starts): :class:`tfstem.noise2atom.training.Noise2Atom` ``train_step``, as
``tfstem.fit("noise2atom", ...)`` runs it, in graph mode (its ``tf.function`` s; ``--eager`` for comparison). The
first call traces the tf.functions and is timed separately. A preset's adversarial warm-up (the ``cpu`` preset's
first 150 iterations leave out the adversarial update) is switched off here so that the whole schedule is timed.

    python benchmarks/noise2atom_step.py [--preset paper|released|cpu|quick] [--iterations 3] [--warmup 1]
                                         [--features N] [--residual-blocks N] [--batch-size N] [--patch-size N]
                                         [--limit limit.json]

Prints one table row: device, mode, preset, widths, batch, patch, parameters, trace time, seconds per iteration,
the multiply-adds of one iteration and the fraction of the compute limit they reach. MAC per iteration
(:func:`tfstem.profiling.multiply_adds` of Ms2c, Mc2s and the critic on the batch) x passes, counted as in
``benchmarks/paper_cost.py``: an update costs 3 forward passes (forward + a backward of about two), the gradient
penalty's double backward 2 more: Ms2c forward for the critic (1), ``critic_steps`` critic updates on clean,
denoised and interpolated images (11 critic passes each), the adversarial update (3 Ms2c + 3 critic) and the two
cycle updates (6 Ms2c + 6 Mc2s; the joint cycle update of ``released`` does the same passes): 16 generator and
``11 x critic_steps + 3`` critic passes per patch. The fraction is MAC / (seconds x this machine's sustained 3x3
convolution rate in the networks' compute dtype; ``benchmarks/compute_limit.py``, measured in this process unless
``--limit`` gives its JSON).

Measured so far: see ``benchmarks/RESULTS.md``; the paper preset takes minutes per iteration on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# _limit (benchmarks/_limit.py) is found because Python puts a script's own folder first on its path

import _limit  # noqa: E402  (this machine's compute limit, shared with the other speed benchmarks)


def iteration_mac(method) -> int:
    """Multiply-adds of one full iteration of the schedule (passes as in the module docstring)."""
    from tfstem.profiling import multiply_adds

    c = method.config
    shape = (c.batch_size, c.patch_size, c.patch_size, 1)
    generators = multiply_adds(method.ms2c, shape) + multiply_adds(method.mc2s, shape)
    # 1 + 3 + 6 Ms2c and 6 Mc2s passes: 16 generator passes of equal cost
    return 8 * generators + (11 * c.critic_steps + 3) * multiply_adds(method.critic, shape)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--features", type=int, default=None)
    parser.add_argument("--residual-blocks", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--patch-size", type=int, default=None)
    parser.add_argument("--limit", default=None, help="JSON from compute_limit.py --json (else measured here)")
    parser.add_argument("--eager", action="store_true",
                        help="run the step functions eagerly (no tracing; per-iteration time is dominated by the "
                             "convolutions at paper settings, so it is close to graph mode)")
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    from tfstem.config import load_config
    from tfstem.noise2atom.training import Noise2Atom

    if args.eager:
        tf.config.run_functions_eagerly(True)
    overrides = {k: v for k, v in (("features", args.features), ("num_residual_blocks", args.residual_blocks),
                                   ("batch_size", args.batch_size), ("patch_size", args.patch_size)) if v is not None}
    overrides["adversarial_warmup"] = 0  # time the whole schedule (a warm-up iteration leaves the adversarial update out)
    config = load_config("noise2atom", args.preset, **overrides)
    b, s = config.batch_size, config.patch_size
    # a low-dose series (~1.5 counts/px, as the example's) just large enough for the patches
    frames = np.random.default_rng(0).poisson(1.5, (max(b, 8), s, s)).astype("float32")
    method = Noise2Atom(config, frames)
    # the batches are drawn first so that only the schedule is timed (the input pipeline overlaps it in training)
    stream = method.batches(0)
    batches = iter([next(stream) for _ in range(max(args.warmup, 1) + args.iterations)])
    t0 = time.perf_counter()
    for _ in range(max(args.warmup, 1)):
        method.train_step(batches)
    trace = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(args.iterations):
        method.train_step(batches)
    per_iteration = (time.perf_counter() - t0) / args.iterations
    gpus = tf.config.list_physical_devices("GPU")
    device = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU") if gpus else (
        f"CPU ({os.cpu_count()} cores)")
    params = method.ms2c.count_params() + method.mc2s.count_params() + method.critic.count_params()
    mode = "eager" if args.eager else "tf.function"
    mac = iteration_mac(method)
    precision = str(method.ms2c.dtype_policy.compute_dtype)
    limit = _limit.load(args.limit)  # measured after the timings: the step's own warm-up is not disturbed
    fraction = _limit.fraction(mac, per_iteration, limit, precision)
    print(_limit.describe(limit))
    print("| device | mode | preset | features | residual blocks | batch | patch | parameters | first call (trace) s | "
          "s / iteration | GMAC / iteration | fraction of compute limit |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {device} | {mode} | {args.preset} | {config.features} | {config.num_residual_blocks} | {b} | {s} | "
          f"{params / 1e6:.2f} M | {trace:.1f} | {per_iteration:.2f} | {mac / 1e9:,.1f} | "
          f"{_limit.format_fraction(fraction)} ({precision}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
