"""Per-image restoration time: tfstem.restore vs the r_em authors' tk-r-em, same network, same run (issue 18).

Usage::

    python benchmarks/restore_speed.py [--sizes 256 512 1024] [--series 1 8] [--repeats 3] [--series-repeats 1]
                                       [--methods default float32 bfloat16 predict patch] [--model hrstem]
                                       [--limit limit.json]

For each frame size and series length (one frame, or a stack of 8 frames restored in one call) and each method,
prints seconds per image of the **first call** and of **warm** calls (median of ``--repeats``, or
``--series-repeats`` for stacks, after the first), the ratio to tk-r-em's ``predict`` in the same run, the
precision the method ran in, and the **fraction of the compute limit**: the network's multiply-adds on the
frames themselves (:func:`tfstem.profiling.multiply_adds` of the CGRDN at the frame's size; tile overlap and
padding are cost, not work) over seconds x this machine's sustained 3x3-convolution rate in that precision
(``benchmarks/compute_limit.py``, measured in this process before the timings unless ``--limit`` gives a JSON).

Methods (``--methods``):

* ``default``: ``tfstem.restore(x, model=ours)``, the call a user makes;
* ``float32`` / ``bfloat16``: ``tfstem.restore(..., precision=...)``, only where ``restore`` has that option
  (skipped, with a note, before it exists);
* ``xla``: ``tfstem.restore(..., jit_compile=True)`` (not in the default set);
* ``litert``: ``tfstem.restore(x, model=tfstem.ready.prepare(name))``, the ready LiteRT copy that
  ``tfstem restore`` runs by default on a CPU (float32; its first call allocates for the shape);
* ``predict``: tk-r-em's ``predict(x)`` (its default batch size, 16: a whole 8-frame stack in one call;
  ``--their-batch-size`` lowers it where memory is short, e.g. 8 frames of 1024² on a 23 GB machine);
* ``patch``: tk-r-em's ``predict_patch_based(x, patch_size=256, stride=128)``, its README's settings, frame by frame
  (it takes one 2-D frame per call).

**First call** means a fresh model object: for ours a copy of the loaded model (``keras.models.clone_model`` plus
its weights, made before the clock starts), so the time includes tracing ``restore``'s ``tf.function`` (and any
compilation or precision conversion ``restore`` does per model), for tk-r-em a freshly loaded network
(``tk_r_em.load_network``, loading not timed), so it includes Keras 2 building its predict function. Neither
includes importing TensorFlow or reading weights (that is the command-line start-up figure), and oneDNN's
primitive cache is per process: a shape already run by an earlier method does not pay primitive creation again.

"runs in" for ``default`` is found from the outputs: on a 64 x 64 crop of the first frame, untimed, the default
call's output equals (or is nearest to) that of ``precision="float32"`` or ``"bfloat16"`` (float32 when those
options do not exist), whichever methods are timed.

Both sides run in this one process: tk-r-em through the legacy Keras 2 (``tf-keras``), ours through Keras 3; the
weights are the same (imported from tk-r-em). A full run on 2 cores takes one to two hours; ``--sizes 256
--series 1 --repeats 1`` is a check of a few minutes.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import os
import statistics
import sys
import time

os.environ["TF_USE_LEGACY_KERAS"] = "1"  # tk-r-em's SavedModels need Keras 2; our code uses `import keras` (3)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# _limit (benchmarks/_limit.py) is found because Python puts a script's own folder first on its path

import numpy as np  # noqa: E402

import _limit  # noqa: E402

METHODS = ("default", "float32", "bfloat16", "xla", "litert", "predict", "patch")
DEFAULT_METHODS = ("default", "float32", "bfloat16", "litert", "predict", "patch")
LABELS = {
    "default": "tfstem.restore (default)",
    "float32": 'tfstem.restore (precision="float32")',
    "bfloat16": 'tfstem.restore (precision="bfloat16")',
    "xla": "tfstem.restore (jit_compile=True)",
    "litert": "tfstem.restore (ready LiteRT copy)",
    "predict": "tk_r_em predict",
    "patch": "tk_r_em predict_patch_based(256,128)",
}


def frames_of(size, count, rng):
    """``float32 [count, size, size]``: the authors' simulated HRSTEM test images tiled to ``size`` (each frame
    starts the mosaic at another image) plus unit Gaussian noise."""
    from tfstem.r_em import load_test_data

    x, _ = load_test_data("hrstem")
    reps = -(-size // 256)
    out = []
    for k in range(count):
        mosaic = np.block([[x[(k + i * reps + j) % len(x), :, :, 0] for j in range(reps)] for i in range(reps)])
        out.append(mosaic[:size, :size] + rng.normal(0, 1, (size, size)).astype(np.float32))
    return np.stack(out).astype(np.float32)


def restore_options():
    """The options of ``tfstem.restore`` this benchmark may pass (``precision`` only once restore has it)."""
    import tfstem

    return set(inspect.signature(tfstem.restore).parameters)


def fresh_copy(model):
    """A new model object with ``model``'s weights: restore's per-model caches start empty for it."""
    import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def make_call(method, stack, model_name, ours, their_batch_size=16):
    """``(prepare, call)``: ``prepare()`` returns a fresh object to call (made outside the clock), ``call(obj)``
    restores ``stack`` (``[N, H, W]``, N = 1 is passed as one ``[H, W]`` frame) and returns the result."""
    import tfstem

    single = stack.shape[0] == 1
    x = stack[0] if single else stack
    if method in ("default", "float32", "bfloat16", "xla"):
        kwargs = {"precision": method} if method in ("float32", "bfloat16") else {}
        if method == "xla":
            kwargs["jit_compile"] = True

        def call(model):
            return tfstem.restore(x, model=model, verbose=False, **kwargs)

        return (lambda: fresh_copy(ours)), call

    if method == "litert":
        from tfstem.ready import prepare as ready_copy

        def call(model):
            return tfstem.restore(x, model=model, verbose=False)

        return (lambda: ready_copy(f"r_em/{model_name}")), call

    import tk_r_em

    def prepare():
        return tk_r_em.load_network(f"sfr_{model_name}")

    if method == "predict":
        return prepare, lambda net: net.predict(stack[..., None], batch_size=their_batch_size).reshape(x.shape)
    return prepare, lambda net: np.stack([net.predict_patch_based(f, patch_size=256, stride=128, batch_size=16)
                                          for f in stack]).reshape(x.shape)


def time_method(method, stack, model_name, ours, repeats, their_batch_size=16):
    """``(first_seconds, warm_seconds, output)`` of one method on ``stack``: the first call on a fresh object,
    then ``repeats`` calls on that same object, now warm."""
    prepare, call = make_call(method, stack, model_name, ours, their_batch_size)
    obj = prepare()
    gc.collect()
    start = time.perf_counter()
    out = call(obj)
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = call(obj)
        times.append(time.perf_counter() - start)
    return first, statistics.median(times), np.asarray(out, dtype=np.float32)


def default_precision(stack, model):
    """The precision the default call runs in: the explicit one whose output it matches (nearest in max
    |difference|), compared on a 64 x 64 crop of the stack's first frame (the choice depends on the model and
    the hardware, not on the size), so that it is known whichever methods are timed."""
    import tfstem

    if "precision" not in restore_options():
        return "float32"
    crop = np.ascontiguousarray(stack[0, :64, :64])
    default = tfstem.restore(crop, model=model, verbose=False)
    explicit = {p: tfstem.restore(crop, model=model, verbose=False, precision=p) for p in ("float32", "bfloat16")}
    return min(explicit, key=lambda p: float(np.max(np.abs(explicit[p] - default))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024], help="frame sides in px")
    parser.add_argument("--series", type=int, nargs="+", default=[1, 8], help="frames per call (1 and/or 8)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(DEFAULT_METHODS))
    parser.add_argument("--repeats", type=int, default=3, help="warm calls timed per single frame (median)")
    parser.add_argument("--series-repeats", type=int, default=1, help="warm calls timed per stack (median)")
    parser.add_argument("--model", default="hrstem")
    parser.add_argument("--their-batch-size", type=int, default=16, help="tk-r-em predict's batch_size (its default 16)")
    parser.add_argument("--limit", default=None, help="JSON from compute_limit.py --json (else measured here)")
    args = parser.parse_args(argv)

    import tensorflow as tf

    import tfstem

    options = restore_options()
    methods = [m for m in args.methods if m not in ("float32", "bfloat16") or "precision" in options]
    for skipped in sorted(set(args.methods) - set(methods)):
        print(f"{LABELS[skipped]}: skipped, tfstem.restore has no precision option in this version")
    limit = _limit.load(args.limit)
    ours = tfstem.load_model(f"r_em/{args.model}")
    rng = np.random.default_rng(0)
    rows = []
    for size in args.sizes:
        mac_per_frame = _limit.useful_mac(ours, size, size, 1)
        for count in args.series:
            stack = frames_of(size, count, rng)
            repeats = args.repeats if count == 1 else args.series_repeats
            timings, outputs = {}, {}
            for method in methods:
                try:
                    first, warm, outputs[method] = time_method(method, stack, args.model, ours, repeats,
                                                                           args.their_batch_size)
                    timings[method] = (first / count, warm / count)
                except Exception as error:  # noqa: BLE001  (one failing method must not lose the others' figures)
                    print(f"{size} x {count}: {LABELS[method]} failed: {type(error).__name__}: {error}")
                print(f"  {size}² x {count}: {method} done", file=sys.stderr, flush=True)
            runs_in = {m: ("bfloat16" if m == "bfloat16" else "float32") for m in timings}
            if "default" in timings:
                runs_in["default"] = default_precision(stack, ours)
            reference = timings.get("predict")
            for method, (first, warm) in timings.items():
                fraction = _limit.fraction(mac_per_frame, warm, limit, runs_in[method])
                rows.append((size, count, LABELS[method], runs_in[method], first, warm,
                             warm / reference[1] if reference else None, first / reference[0] if reference else None,
                             fraction))
            del outputs
            gc.collect()

    load = os.getloadavg()
    print(f"TensorFlow {tf.__version__}, {_limit.thread_count()} threads, model r_em/{args.model} "
          f"({mac_per_frame / size**2 / 1e6:.2f} M MAC per pixel), warm = median of {args.repeats} (1 frame) / "
          f"{args.series_repeats} (stack) after the first call; load average {load[0]:.2f} at the end")
    print(_limit.describe(limit))
    print("| size | frames per call | method | runs in | first call, s/image | warm, s/image | warm ours/predict | "
          "first ours/predict | fraction of compute limit (warm) |")
    print("|---:|---:|---|---|---:|---:|---:|---:|---:|")
    for size, count, label, runs_in, first, warm, ratio_warm, ratio_first, fraction in rows:
        ratios = " | ".join("n/a" if r is None else f"{r:.2f}" for r in (ratio_warm, ratio_first))
        print(f"| {size} | {count} | {label} | {runs_in} | {first:.3f} | {warm:.3f} | {ratios} | "
              f"{_limit.format_fraction(fraction)} |")


if __name__ == "__main__":
    main()
