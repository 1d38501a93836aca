"""What the HyperSpy wrapper costs: tfstem.restore on an array, a Signal2D and a LazySignal2D of the same frames.

Usage::

    python benchmarks/restore_hyperspy.py [--frames 8] [--size 256] [--chunk 4] [--repeats 3] [--model r_em/hrstem]

Prints a table of median seconds for: the NumPy array ``[N, H, W]``; the same data as a ``Signal2D [N | H, W]``
(checks, reshaping, the deep copy of axes and metadata); as a ``LazySignal2D`` chunked ``--chunk`` frames, built
(``tfstem.restore(lazy)``, no network) and computed (``.compute()``, through :mod:`tfstem.lazy` on dask's
threaded scheduler). The largest difference between the three results is printed too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--chunk", type=int, default=4, help="frames per chunk of the lazy signal")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="r_em/hrstem")
    args = parser.parse_args(argv)

    import hyperspy.api as hs

    import tfstem

    rng = np.random.default_rng(0)
    data = rng.poisson(20.0, (args.frames, args.size, args.size)).astype(np.float32)
    signal = hs.signals.Signal2D(data)
    lazy = signal.as_lazy()
    lazy.data = lazy.data.rechunk((args.chunk, args.size, args.size))
    model = tfstem.load_model(args.model)
    tfstem.restore(data[:1], model=model, verbose=False)  # warm-up: tracing, oneDNN caches

    cases = {
        "NumPy array": lambda: tfstem.restore(data, model=model, verbose=False),
        "Signal2D": lambda: tfstem.restore(signal, model=model, verbose=False).data,
        "LazySignal2D: build (no network)": lambda: tfstem.restore(lazy, model=model, verbose=False),
        f"LazySignal2D: compute ({args.chunk} frames a chunk)": lambda: np.asarray(lazy_result.data.compute()),
    }
    times = {name: [] for name in cases}
    results = {}
    for _ in range(args.repeats):  # interleaved: a load change on a shared machine hits every case alike
        for name, fn in cases.items():
            seconds, results[name] = _timed(fn)
            times[name].append(seconds)
            if "build" in name:
                lazy_result = results[name]
    rows = [(name, statistics.median(values)) for name, values in times.items()]
    array_result, signal_result = results["NumPy array"], results["Signal2D"]
    computed = results[f"LazySignal2D: compute ({args.chunk} frames a chunk)"]

    print(f"{args.frames} frames of {args.size} x {args.size}, model {args.model}, median of {args.repeats}")
    print(f"{'input':<42} {'seconds':>8} {'frames/s':>9}")
    for name, seconds in rows:
        rate = f"{args.frames / seconds:9.2f}" if "build" not in name else f"{'':>9}"
        print(f"{name:<42} {seconds:8.3f} {rate}")
    scale = float(np.ptp(array_result))
    print(f"max |Signal2D - array| / range = {np.abs(signal_result - array_result).max() / scale:.2e}")
    print(f"max |LazySignal2D - array| / range = {np.abs(computed - array_result).max() / scale:.2e}")


if __name__ == "__main__":
    main()
