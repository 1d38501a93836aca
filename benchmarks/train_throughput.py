"""Training throughput of CGRDN (+ patch critic) with the tfstem trainer: steps/s, images/s, input share.

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
otherwise random crops of in-memory arrays (:func:`tfstem.r_em.training.array_pairs_dataset`).

    python benchmarks/train_throughput.py                      # full size, released preset (GAN off)
    python benchmarks/train_throughput.py --preset paper_gan   # with the critic and all losses
    python benchmarks/train_throughput.py --size small --steps 5
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
    from tfstem.r_em.training import array_pairs_dataset

    try:
        from tfstem.synth import pairs
    except ImportError:
        rng = np.random.default_rng(seed)
        clean = rng.gamma(2.0, 50.0, size=(16, 2 * config.patch_size, 2 * config.patch_size, 1)).astype(np.float32)
        distorted = rng.poisson(clean).astype(np.float32)
        return "array_pairs_dataset (random crops of in-memory arrays)", lambda start: array_pairs_dataset(
            distorted, clean, batch_size=config.batch_size, patch_size=config.patch_size, seed=seed,
            start_step=start)
    return "tfstem.synth.pairs", lambda start: pairs(config.modality, size=config.patch_size,
                                                     batch_size=config.batch_size, seed=seed).repeat().skip(start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("full", "small"), default="full")
    parser.add_argument("--preset", choices=("released", "paper_gan"), default="released")
    parser.add_argument("--patch-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per measurement (after 1 warm-up)")
    parser.add_argument("--xla", action="store_true")
    parser.add_argument("--mixed-precision", default="float32",
                        choices=("float32", "mixed_float16", "mixed_bfloat16"))
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    import tensorflow as tf

    from tfstem.r_em.training import SMALL_GENERATOR, CGRDNTrainer, load_training_config

    overrides = dict(batch_size=args.batch_size, patch_size=args.patch_size, checkpoint_every=0, log_every=0,
                     image_every=0, jit_compile=args.xla, dtype_policy=args.mixed_precision)
    if args.size == "small":
        overrides.update(SMALL_GENERATOR)
    config = load_training_config("hrstem", args.preset, **overrides)
    source, data = _data(config, seed=0)

    # Pipeline alone.
    iterator = iter(data(0))
    next(iterator)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        cached = next(iterator)
    pipeline_alone = (time.perf_counter() - t0) / args.steps

    def timed_run(dataset_fn):
        trainer = CGRDNTrainer(config, verbose=False)
        history = trainer.fit(dataset_fn, args.steps + 1)
        return float(np.mean(history["step_time_s"][1:])), trainer.generator.count_params()

    step_pipeline, parameters = timed_run(data)
    cached_fn = lambda start: tf.data.Dataset.from_tensors(cached).repeat()  # noqa: E731
    step_cached, _ = timed_run(cached_fn)
    share = min(1.0, pipeline_alone / step_pipeline)
    measured_wait = max(0.0, 1.0 - step_cached / step_pipeline)
    figures = {
        "device": _device_name(), "tensorflow": tf.__version__, "size": args.size, "parameters": parameters,
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
    print(f"| {figures['device']} | CGRDN {args.size} ({parameters:,} params) | {args.preset} | "
          f"{config.batch_size} x {config.patch_size}^2 | {figures['steps_per_s']:.4g} | {figures['images_per_s']:.4g} | "
          f"{step_pipeline:.3g} | {step_cached:.3g} | {pipeline_alone:.3g} | {100 * share:.3g} % | "
          f"{100 * measured_wait:.1f} % |")
    print(json.dumps(figures))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
