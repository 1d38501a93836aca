"""Tiled restoration: seam check (tiled vs whole-frame PSNR) and peak memory of a 4096 x 4096 frame.

Usage::

    python benchmarks/restore_tiling.py [--model hrstem] [--skip-large | --skip-seams]

1. A 1024 x 1024 frame (the authors' HRSTEM test images tiled, plus noise) is restored whole and with
   ``tile_size=256`` for several overlaps; prints PSNR(tiled, whole) in dB (target >= 45 dB).
2. In a fresh subprocess, a 4096 x 4096 float32 frame is restored with the default tiling; prints the
   wall time and the process's peak resident memory (target < 6 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

LARGE = r"""
import json, os, resource, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np, tfstem
model = tfstem.load_model(sys.argv[1])
size = int(sys.argv[2])
frame = np.random.default_rng(0).poisson(20.0, (size, size)).astype(np.float32)
start, cpu = time.perf_counter(), time.process_time()
out = tfstem.restore(frame, model=model, verbose=True)
seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(dict(seconds=seconds, cpu_seconds=cpu_seconds, peak_gb=peak_kib * 1024 / 1e9,
                      shape=list(out.shape), finite=bool(np.isfinite(out).all()))))
"""


def _mosaic(size):
    from tfstem.r_em import load_test_data

    x, _ = load_test_data("hrstem")
    reps = -(-size // 256)
    mosaic = np.block([[x[(i * reps + j) % 8, :, :, 0] for j in range(reps)] for i in range(reps)])
    return mosaic[:size, :size] + np.random.default_rng(0).normal(0, 200, (size, size)).astype(np.float32)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="hrstem")
    parser.add_argument("--overlaps", type=int, nargs="+", default=[64, 96, 128])
    parser.add_argument("--large-size", type=int, default=4096)
    parser.add_argument("--skip-large", action="store_true", help="only the seam check (part 1)")
    parser.add_argument("--skip-seams", action="store_true", help="only the large frame (part 2)")
    args = parser.parse_args(argv)

    if not args.skip_seams:
        _seam_table(args)
    if not args.skip_large:
        _large_frame(args)


def _seam_table(args):
    import tfstem
    from tfstem.metrics import psnr

    model = tfstem.load_model(f"r_em/{args.model}")
    frame = _mosaic(1024)
    whole = tfstem.restore(frame, model=model, tile_size=1024, verbose=False)
    print("| tile | overlap | PSNR(tiled, whole) dB | max abs diff / range |")
    print("|---:|---:|---:|---:|")
    for overlap in args.overlaps:
        tiled = tfstem.restore(frame, model=model, tile_size=256, tile_overlap=overlap, verbose=False)
        rel = float(np.abs(tiled - whole).max() / (whole.max() - whole.min()))
        print(f"| 256 | {overlap} | {psnr(whole, tiled):.1f} | {rel:.2e} |")


def _large_frame(args):
    done = subprocess.run([sys.executable, "-c", LARGE, f"r_em/{args.model}", str(args.large_size)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(done.stderr[-3000:])
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\n{args.large_size}x{args.large_size} float32, default tiling: {result['seconds']:.0f} s wall, "
          f"{result['cpu_seconds']:.0f} CPU-s, peak RSS {result['peak_gb']:.2f} GB, output {result['shape']}, "
          f"finite={result['finite']}")


if __name__ == "__main__":
    main()
