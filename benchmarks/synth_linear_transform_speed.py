"""Milliseconds per image of the interpolation distortion's two code paths (r_em "Post-processing distortions").

:func:`tfstem.synth.postprocess.random_linear_transform` resamples the distorted and the clean image of a pair
under one random linear map. Outside XLA it makes one fused ``ImageProjectiveTransformV3`` call; under
``jit_compile=True`` (no XLA kernel for that op) it computes the same bilinear interpolation with gathers. This
script times both on the same batches of ``--batch-size`` pairs of ``--size`` px (median of ``--repeats`` calls
after one warm-up call) and prints CPU milliseconds per image pair and the ratio.

    python benchmarks/synth_linear_transform_speed.py [--size 256] [--batch-size 8] [--repeats 20]

Seconds on 2 CPU cores; on a shared machine the absolute times are noisy, the ratio less so.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def median_ms(fn, args, repeats):
    fn(*args)  # trace and compile
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        [out.numpy() for out in fn(*args)]
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    from tfstem.synth.postprocess import random_linear_transform

    rng = np.random.default_rng(0)
    shape = (args.batch_size, args.size, args.size, 1)
    distorted = tf.constant(rng.random(shape, dtype=np.float32))
    clean = tf.constant(rng.random(shape, dtype=np.float32))
    seed = tf.constant([3, 4], tf.int32)

    def transform(x, y, s):
        return random_linear_transform([x, y], s)

    fused = median_ms(tf.function(transform), (distorted, clean, seed), args.repeats) / args.batch_size
    gather = median_ms(tf.function(transform, jit_compile=True), (distorted, clean, seed), args.repeats) / args.batch_size
    print(f"{args.batch_size} pairs of {args.size} x {args.size} px, median of {args.repeats} calls")
    print("| path | ms per pair |\n|---|---|")
    print(f"| fused ImageProjectiveTransformV3 (no XLA) | {fused:.2f} |")
    print(f"| gathers (jit_compile=True) | {gather:.2f} |")
    print(f"gathers / fused: {gather / fused:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
