"""Per-image restoration time: tfstem.restore vs the r_em authors' tk-r-em, same network, same run.

Usage::

    python benchmarks/restore_speed.py [--sizes 256 1024] [--repeats 3] [--model hrstem]

Prints a table of median seconds per image for each method and size, and the ratio ours/theirs
(against tk-r-em's ``predict`` and ``predict_patch_based(patch 256, stride 128)``, the settings of its
README). Both run in this one process: tk-r-em through the legacy Keras 2 (``tf-keras``), ours through
Keras 3; the weights are the same (imported from tk-r-em).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ["TF_USE_LEGACY_KERAS"] = "1"  # tk-r-em's SavedModels need Keras 2; our code uses `import keras` (3)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def _frame(size, rng):
    """A test frame: the authors' simulated HRSTEM test images tiled to ``size``."""
    from tfstem.r_em import load_test_data

    x, _ = load_test_data("hrstem")
    reps = -(-size // 256)
    mosaic = np.block([[x[(i * reps + j) % 8, :, :, 0] for j in range(reps)] for i in range(reps)])
    return mosaic[:size, :size] + rng.normal(0, 1, (size, size)).astype(np.float32)


def _median_seconds(fn, repeats):
    fn()  # warm-up: tracing, graph building, oneDNN primitive caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="hrstem")
    args = parser.parse_args(argv)

    import tensorflow as tf
    import tk_r_em

    import tfstem

    ours = tfstem.load_model(f"r_em/{args.model}")
    theirs = tk_r_em.load_network(f"sfr_{args.model}")
    rng = np.random.default_rng(0)
    rows = []
    for size in args.sizes:
        frame = _frame(size, rng)
        methods = {
            "tfstem.restore (auto)": lambda: tfstem.restore(frame, model=ours, verbose=False),
            "tfstem.restore (XLA)": lambda: tfstem.restore(frame, model=ours, verbose=False, jit_compile=True),
            "tfstem.restore (tile 512)": lambda: tfstem.restore(frame, model=ours, tile_size=512, verbose=False),
            "tk_r_em predict": lambda: theirs.predict(frame, batch_size=1),
            "tk_r_em predict_patch_based(256,128)": lambda: theirs.predict_patch_based(
                frame, patch_size=256, stride=128, batch_size=16),
        }
        if size <= 512:
            del methods["tfstem.restore (tile 512)"]
        timings = {name: _median_seconds(fn, args.repeats) for name, fn in methods.items()}
        for name, seconds in timings.items():
            rows.append((size, name, seconds, seconds / timings["tk_r_em predict"],
                         seconds / timings["tk_r_em predict_patch_based(256,128)"]))

    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU threads, model r_em/{args.model}, "
          f"median of {args.repeats} after 1 warm-up")
    print(f"| size | method | s/image | ours/predict | ours/patch_based |")
    print("|---:|---|---:|---:|---:|")
    for size, name, seconds, ratio_predict, ratio_patch in rows:
        print(f"| {size} | {name} | {seconds:.3f} | {ratio_predict:.2f} | {ratio_patch:.2f} |")


if __name__ == "__main__":
    main()
