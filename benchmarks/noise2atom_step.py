"""Seconds per Noise2Atom training iteration (the whole 8-pass schedule of one batch).

One iteration = Ms2c forward for the critic, 5 critic updates with gradient penalty, 1 adversarial update of
Ms2c, 1 low-frequency cycle update and 1 clean cycle update of both generators (Wang et al. 2020,
Training Details), on the batches the training stream gives (seeded crops of a Poisson series and clean-domain
images, drawn before the clock starts): :class:`tfstem.noise2atom.training.Noise2Atom` ``train_step``, as
``tfstem.fit("noise2atom", ...)`` runs it. The first call traces the tf.functions and is timed separately.

    python benchmarks/noise2atom_step.py [--preset paper|released|cpu|quick] [--iterations 3] [--warmup 1]
                                         [--features N] [--residual-blocks N] [--batch-size N] [--patch-size N]

Prints one table row: device, preset, widths, batch, patch, parameters, trace time, seconds per iteration.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--features", type=int, default=None)
    parser.add_argument("--residual-blocks", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--patch-size", type=int, default=None)
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
    print("| device | mode | preset | features | residual blocks | batch | patch | parameters | first call (trace) s | s / iteration |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {device} | {mode} | {args.preset} | {config.features} | {config.num_residual_blocks} | {b} | {s} | "
          f"{params / 1e6:.2f} M | {trace:.1f} | {per_iteration:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
