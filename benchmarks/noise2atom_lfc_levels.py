"""What the low-frequency cycle loss (Eq. 7) can tell apart on 64 px and on 128 px crops of the example series.

L_lfc = E|Ms2b(s) - Ms2b(Mc2s(Ms2c(s)))| (Wang et al. 2020, Eq. 7) compares 33 x 33 low-pass images. With the
paper's valid filter a 64 px crop leaves a 32 x 32 low-pass patch, a 128 px crop a 96 x 96 one. For random crops
of ``examples/data/noise2atom_series.tif`` (scaled to [-1, 1] as in training) this script prints L_lfc for three
reconstructions standing in for Mc2s(Ms2c(s)): one constant for all crops (the series mean), each crop's own
mean, and the noise-free frames of ``examples/data/noise2atom_series_truth.npz`` (the ideal). The gap between
the trivial and the ideal levels is all that ties Ms2c's output to the atoms.

    python benchmarks/noise2atom_lfc_levels.py [--crops 256] [--kernel paper|code_intent]

Seconds on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DATA = Path(__file__).resolve().parents[1] / "examples" / "data"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=int, default=256)
    parser.add_argument("--kernel", default="paper")
    parser.add_argument("--sigma", type=float, default=15.0)
    args = parser.parse_args(argv)

    import numpy as np

    from tfstem.io import read_series
    from tfstem.noise2atom.losses import low_frequency_cycle_loss
    from tfstem.noise2atom.lowpass import build_lowpass

    raw = np.asarray(read_series(DATA / "noise2atom_series.tif"), np.float64)
    clean = np.load(DATA / "noise2atom_series_truth.npz")["clean"].astype(np.float64)
    lo, hi = raw.min(), raw.max()
    noisy = (2 * (raw - lo) / (hi - lo) - 1).astype(np.float32)
    ideal = (2 * (clean - lo) / (hi - lo) - 1).astype(np.float32)
    lowpass = build_lowpass(sigma=args.sigma, kernel=args.kernel)
    rng = np.random.default_rng(0)
    print(f"Ms2b: 33 x 33 valid, kernel {args.kernel}, sigma {args.sigma}; {args.crops} random crops per size")
    print("| crop | one constant for all crops | each crop's own mean | noise-free frames |")
    print("|---|---|---|---|")
    for crop in (64, 128):
        t = rng.integers(0, noisy.shape[0], args.crops)
        r = rng.integers(0, noisy.shape[1] - crop + 1, args.crops)
        c = rng.integers(0, noisy.shape[2] - crop + 1, args.crops)
        s = np.stack([noisy[i, j:j + crop, k:k + crop] for i, j, k in zip(t, r, c)])[..., None]
        y = np.stack([ideal[i, j:j + crop, k:k + crop] for i, j, k in zip(t, r, c)])[..., None]
        levels = [np.full_like(s, noisy.mean()), np.broadcast_to(s.mean(axis=(1, 2, 3), keepdims=True), s.shape), y]
        values = [float(low_frequency_cycle_loss(lowpass, s, np.ascontiguousarray(v))) for v in levels]
        print(f"| {crop} px | " + " | ".join(f"{v:.4f}" for v in values) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
