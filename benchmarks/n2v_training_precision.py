"""N2V training in float32 and in bfloat16: time and held-out quality after the same number of steps.

Usage::

    python benchmarks/n2v_training_precision.py [--steps 267] [--seeds 0 1] [--preset cpu]

For each seed and precision, trains ``tfstem.fit("n2v", ...)`` on the shipped dual-channel video (the preset's
settings, ``precision`` and ``seed`` overridden), then restores the held-out odd frames in float32 and scores
them against the noise-free frames (``tfstem.metrics.psnr``, mean over frames, per channel). Prints one table:
training seconds, ADF and BF PSNR, and whether the collapse check flagged the run. This is the measurement
behind N2V's ``precision`` option staying ``float32`` in every preset (``models/n2v.json``).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

VIDEO = Path(__file__).resolve().parents[1] / "examples" / "data" / "n2v_dual_channel_video.npz"


def train_and_score(noisy, clean, *, precision: str, seed: int, steps: int, preset: str) -> dict:
    """Train one model and score it; ``noisy``/``clean``: float32 ``[N, H, W, 2]`` (ADF, BF)."""
    import numpy as np

    import tfstem
    from tfstem.metrics import psnr

    start = time.perf_counter()
    result = tfstem.fit("n2v", noisy, preset=preset, steps=steps, verbose=False, precision=precision, seed=seed)
    seconds = time.perf_counter() - start
    restored = tfstem.restore(noisy[1::2], model=result.model, precision="float32", verbose=False)
    truth = clean[1::2]
    scores = [float(np.mean([psnr(truth[i, ..., c], restored[i, ..., c]) for i in range(len(truth))]))
              for c in range(2)]
    return dict(precision=precision, seed=seed, seconds=seconds, adf=scores[0], bf=scores[1],
                collapsed=bool(result.collapsed))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=267)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--preset", default="cpu")
    args = parser.parse_args(argv)

    import numpy as np

    with np.load(VIDEO) as data:
        noisy, clean = data["noisy"].astype(np.float32), data["clean"].astype(np.float32)
    rows = [train_and_score(noisy, clean, precision=p, seed=s, steps=args.steps, preset=args.preset)
            for s in args.seeds for p in ("float32", "bfloat16")]
    print(f"N2V, preset {args.preset}, {args.steps} steps, shipped video (held-out odd frames), "
          f"{os.cpu_count()} CPU threads")
    print("| seed | precision | training s | ADF PSNR dB | BF PSNR dB | collapsed |")
    print("|---:|---|---:|---:|---:|---|")
    for row in rows:
        print(f"| {row['seed']} | {row['precision']} | {row['seconds']:.1f} | {row['adf']:.2f} | {row['bf']:.2f} | "
              f"{'yes' if row['collapsed'] else 'no'} |")
    for precision in ("float32", "bfloat16"):
        mine = [r for r in rows if r["precision"] == precision]
        print(f"{precision}: mean ADF {np.mean([r['adf'] for r in mine]):.2f} dB, "
              f"BF {np.mean([r['bf'] for r in mine]):.2f} dB, {np.mean([r['seconds'] for r in mine]):.1f} s")


if __name__ == "__main__":
    main()
