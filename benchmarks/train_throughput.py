"""Training throughput of CGRDN (+ patch critic) with the r_em method: steps/s, images/s, input share.

Measures, for the full-size CGRDN (7,035,521 parameters) at 256x256 and the paper's global batch 4 unless
told otherwise:

* ``step (pipeline)``: seconds per training step reading batches from the input pipeline;
* ``step (cached)``: seconds per step on one cached batch (no input work): the compute alone;
* ``pipeline alone``: seconds to produce one batch from the pipeline without training;
* ``input share``: ``pipeline alone / step (pipeline)``, the fraction of a step the input pipeline would
  cost if it did not overlap with training at all (target < 10 %); also printed, ``1 - cached / pipeline``
  step time, which measures the actual wait but is only meaningful on an otherwise idle machine (on a
  shared host it mostly measures load changes between the two runs).

The first step of each run (tracing/compilation) is excluded. Data: ``tfstem.synth.pairs`` when installed,
otherwise random crops of in-memory arrays (:func:`tfstem.r_em.data.array_pairs_dataset`). The step is
:class:`tfstem.r_em.training.R_EM`'s (``tfstem.fit("r_em", ...)``), timed one step at a time.

    python benchmarks/train_throughput.py                      # full size, released preset (GAN off)
    python benchmarks/train_throughput.py --preset paper       # with the critic and all losses
    python benchmarks/train_throughput.py --preset cpu --steps 5   # the reduced CGRDN (formerly --size small)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def _device_name():
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"{len(gpus)} x GPU {details.get('device_name', gpus[0].name)}"
    return f"CPU ({os.cpu_count()} logical cores visible, {platform.processor() or platform.machine()})"


def _data(config, seed):
    """(description, pairs or None): None = synthetic pairs made on the fly."""
    try:
        import tfstem.synth  # noqa: F401
    except ImportError:
        rng = np.random.default_rng(seed)
        clean = rng.gamma(2.0, 50.0, size=(16, 2 * config.patch_size, 2 * config.patch_size, 1)).astype(np.float32)
        distorted = rng.poisson(clean).astype(np.float32)
        return "array_pairs_dataset (random crops of in-memory arrays)", (distorted, clean)
    return "tfstem.synth.pairs", None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=("released", "paper", "cpu"), default="released",
                        help="a preset of models/r_em.json (cpu: the reduced CGRDN, formerly --size small)")
    parser.add_argument("--patch-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per measurement (after 1 warm-up)")
    parser.add_argument("--xla", action="store_true")
    parser.add_argument("--mixed-precision", default="float32",
                        choices=("float32", "mixed_float16", "mixed_bfloat16"))
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    parser.add_argument("--force", action="store_true", help="replace an existing --json file")
    args = parser.parse_args(argv)

    import tensorflow as tf

    from tfstem.r_em.data import distribute_batches
    from tfstem.training.fit import build_method

    overrides = dict(batch_size=args.batch_size, patch_size=args.patch_size, checkpoint_every=0, log_every=0,
                     image_every=0, jit_compile=args.xla, dtype_policy=args.mixed_precision)
    config = build_method("r_em", preset=args.preset, **overrides).config
    source, pairs = _data(config, seed=0)

    def timed_run(cached_batch=None):
        """Seconds per step after the first (tracing) step, and the generator's parameter count."""
        method = build_method("r_em", pairs, preset=args.preset, **overrides)
        if cached_batch is None:
            batches = method.batches(0)
        else:
            batches = iter(distribute_batches(method.strategy, lambda: tf.data.Dataset.from_tensors(cached_batch)
                                              .repeat(), config.batch_size))
        method.train_step(batches)
        t0 = time.perf_counter()
        for _ in range(args.steps):
            method.train_step(batches)
        return (time.perf_counter() - t0) / args.steps, method.generator.count_params(), method

    step_pipeline, parameters, method = timed_run()

    # Pipeline alone.
    iterator = iter(method.dataset(0))
    next(iterator)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        cached = next(iterator)
    pipeline_alone = (time.perf_counter() - t0) / args.steps
    step_cached, _, _ = timed_run(cached)
    share = min(1.0, pipeline_alone / step_pipeline)
    measured_wait = max(0.0, 1.0 - step_cached / step_pipeline)
    figures = {
        "device": _device_name(), "tensorflow": tf.__version__, "parameters": parameters,
        "preset": args.preset, "gan": config.gan, "patch_size": config.patch_size, "batch_size": config.batch_size,
        "dtype_policy": config.dtype_policy, "xla": config.jit_compile, "data": source, "timed_steps": args.steps,
        "step_s_pipeline": round(step_pipeline, 4), "step_s_cached": round(step_cached, 4),
        "pipeline_alone_s_per_batch": round(pipeline_alone, 4),
        "steps_per_s": round(1.0 / step_pipeline, 4), "images_per_s": round(config.batch_size / step_pipeline, 3),
        "input_share": round(share, 6), "measured_wait_share": round(measured_wait, 4),
    }
    print("| device | model | preset | batch x patch | steps/s | images/s | s/step | s/step cached | "
          "pipeline s/batch | input share | measured wait |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {figures['device']} | CGRDN ({parameters:,} params) | {args.preset} | "
          f"{config.batch_size} x {config.patch_size}^2 | {figures['steps_per_s']:.4g} | {figures['images_per_s']:.4g} | "
          f"{step_pipeline:.3g} | {step_cached:.3g} | {pipeline_alone:.3g} | {100 * share:.3g} % | "
          f"{100 * measured_wait:.1f} % |")
    print(json.dumps(figures))
    if args.json:
        from tfstem.outputs import write_json
        write_json(args.json, figures, force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
