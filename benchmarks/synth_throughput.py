"""Throughput of tfstem.synth.pairs (pairs per second) and the share of time per stage.

Stages are timed separately on the same seeds: specimen sampling (NumPy), image formation (TensorFlow, Eq. 16-26),
distortion of a batch (TensorFlow, ``distort``), and the whole ``tf.data`` pipeline end to end (parallel map,
prefetch), after one warm-up batch.

Usage::

    python benchmarks/synth_throughput.py --modalities hrstem hrtem --size 256 --batches 4 --batch-size 8
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modalities", nargs="+", default=["hrstem", "hrtem"])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batches", type=int, default=4, help="timed batches after one warm-up batch")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from tfstem.synth import distort, pairs
    from tfstem.synth.configs import modality_config
    from tfstem.synth.pipelines import _element_fn, _margin, make_clean_example

    print(f"cores visible: {os.cpu_count()}, TF intra-op threads: {tf.config.threading.get_intra_op_parallelism_threads()}")
    print("| modality | size | batch | pipeline pairs/s | specimen ms/img | render ms/img | distort ms/img |")
    print("|---|---|---|---|---|---|---|")
    for modality in args.modalities:
        cfg = modality_config(modality)
        margin = _margin(cfg, args.size)
        # end-to-end pipeline
        ds = iter(pairs(modality, size=args.size, batch_size=args.batch_size, seed=args.seed))
        next(ds)
        t0 = time.perf_counter()
        for _ in range(args.batches):
            x, _ = next(ds)
        x.numpy()
        pipeline = args.batches * args.batch_size / (time.perf_counter() - t0)
        # stages, sequentially on one core's worth of work
        n = args.batch_size
        t0 = time.perf_counter()
        for i in range(n):
            make_clean_example(cfg, args.seed, 10_000 + i, args.size, args.size, margin)
        t_specimen = (time.perf_counter() - t0) / n
        element = tf.function(_element_fn(cfg, args.seed, args.size, args.size, margin))
        element(tf.constant(0, tf.int64))
        t0 = time.perf_counter()
        cleans = [element(tf.constant(10_000 + i, tf.int64))[0] for i in range(n)]
        t_render = (time.perf_counter() - t0) / n - t_specimen
        clean = tf.stack(cleans)
        fn = tf.function(lambda c, s: distort(c, cfg, s))
        fn(clean, tf.constant([1, 2], tf.int64))
        t0 = time.perf_counter()
        fn(clean, tf.constant([1, 3], tf.int64))[0].numpy()
        t_distort = (time.perf_counter() - t0) / n
        print(f"| {modality} | {args.size} | {args.batch_size} | {pipeline:.2f} | {1e3 * t_specimen:.0f} | "
              f"{1e3 * max(t_render, 0.0):.0f} | {1e3 * t_distort:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
