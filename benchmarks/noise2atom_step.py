"""Seconds per Noise2Atom training iteration (the whole 8-pass schedule of one batch).

One iteration = Ms2c forward for the critic, 5 critic updates with gradient penalty, 1 adversarial update of
Ms2c, 1 low-frequency cycle update and 1 clean cycle update of both generators (Wang et al. 2020,
Training Details). The first call traces the tf.functions and is timed separately.

    python benchmarks/noise2atom_step.py [--preset paper] [--iterations 3] [--warmup 1] [--base-filters N ...]

Prints one table row: device, preset, widths, batch, crop, parameters, trace time, seconds per iteration.
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
    parser.add_argument("--base-filters", type=int, default=None)
    parser.add_argument("--residual-blocks", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--crop-size", type=int, default=None)
    parser.add_argument("--eager", action="store_true",
                        help="run the step functions eagerly (no tracing; per-iteration time is dominated by the "
                             "convolutions at paper settings, so it is close to graph mode)")
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    from tfstem.noise2atom.clean_domain import clean_domain_dataset
    from tfstem.noise2atom.training import Noise2AtomTrainer, load_config

    if args.eager:
        tf.config.run_functions_eagerly(True)
    overrides = {k: v for k, v in (("base_filters", args.base_filters), ("num_residual_blocks", args.residual_blocks),
                                   ("batch_size", args.batch_size), ("crop_size", args.crop_size)) if v is not None}
    config = load_config(args.preset, **overrides)
    trainer = Noise2AtomTrainer(config)
    b, s = config.batch_size, config.crop_size
    clean = next(iter(clean_domain_dataset(batch_size=b, crop_size=s, scale=9.0, seed=1)))
    noisy = np.random.default_rng(0).poisson(1.5, (b, s, s, 1)).astype("float32") / 7.0 - 1.0
    t0 = time.perf_counter()
    for _ in range(max(args.warmup, 1)):
        trainer.train_step(noisy, clean)
    trace = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(args.iterations):
        trainer.train_step(noisy, clean)
    per_iteration = (time.perf_counter() - t0) / args.iterations
    gpus = tf.config.list_physical_devices("GPU")
    device = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU") if gpus else (
        f"CPU ({os.cpu_count()} cores)")
    params = trainer.ms2c.count_params() + trainer.mc2s.count_params() + trainer.critic.count_params()
    mode = "eager" if args.eager else "tf.function"
    print("| device | mode | preset | base filters | residual blocks | batch | crop | parameters | first call (trace) s | s / iteration |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {device} | {mode} | {args.preset} | {config.base_filters} | {config.num_residual_blocks} | {b} | {s} | "
          f"{params / 1e6:.2f} M | {trace:.1f} | {per_iteration:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
