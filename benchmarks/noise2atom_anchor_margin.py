"""Correlation of the ideal Noise2Atom output with the smoothed noisy input, on the shipped example series.

The sign hinge of the ``cpu`` preset (``sign_anchor_weight``, ``sign_anchor_margin`` in models/noise2atom.json;
:func:`tfstem.noise2atom.losses.sign_anchor_loss`) acts while the pooled correlation between the 2-px-smoothed
noisy crops and Ms2c's output is below the margin. Its margin must lie below what the ideal output, the true atom
images, reaches: otherwise the hinge would pull a correct output towards the smoothed input. This script
measures that correlation on ``examples/data/noise2atom_series.tif`` against the atom images of
``examples/data/noise2atom_series_truth.npz``: pooled over the whole series, and for every 128 x 128 tile
(the training crop) and every batch of 6 random crops (the hinge pools over a batch).

    python benchmarks/noise2atom_anchor_margin.py [--crop 128] [--batches 200]

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
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=6)
    parser.add_argument("--batches", type=int, default=200)
    args = parser.parse_args(argv)

    import numpy as np

    from tfstem.io import read_series
    from tfstem.noise2atom.losses import SIGN_ANCHOR_SIGMA, pooled_correlation
    from tfstem.ops import gaussian_blur

    noisy = np.asarray(read_series(DATA / "noise2atom_series.tif"), np.float32)
    noisy = 2.0 * (noisy - noisy.min()) / (noisy.max() - noisy.min()) - 1.0  # the training scale, [-1, 1]
    atoms = np.load(DATA / "noise2atom_series_truth.npz")["atoms"].astype(np.float32)
    smooth = np.asarray(gaussian_blur(noisy[..., None], SIGN_ANCHOR_SIGMA,
                                      radius=int(4 * SIGN_ANCHOR_SIGMA + 0.5)))[..., 0]
    pooled = float(pooled_correlation(smooth, atoms))
    c = args.crop
    tiles = [float(pooled_correlation(smooth[t, r:r + c, q:q + c], atoms[t, r:r + c, q:q + c]))
             for t in range(noisy.shape[0]) for r in range(0, noisy.shape[1] - c + 1, c)
             for q in range(0, noisy.shape[2] - c + 1, c)]
    rng = np.random.default_rng(0)
    batch_values = []
    for _ in range(args.batches):
        t = rng.integers(0, noisy.shape[0], args.batch_size)
        r = rng.integers(0, noisy.shape[1] - c + 1, args.batch_size)
        q = rng.integers(0, noisy.shape[2] - c + 1, args.batch_size)
        a = np.stack([smooth[i, j:j + c, k:k + c] for i, j, k in zip(t, r, q)])
        b = np.stack([atoms[i, j:j + c, k:k + c] for i, j, k in zip(t, r, q)])
        batch_values.append(float(pooled_correlation(a, b)))
    print(f"series {noisy.shape}, smoothing sigma {SIGN_ANCHOR_SIGMA} px, crop {c}")
    print(f"pooled over the series: {pooled:.3f}")
    print(f"per {c} px tile ({len(tiles)} tiles): min {min(tiles):.3f}, 5 % {np.percentile(tiles, 5):.3f}, "
          f"median {np.median(tiles):.3f}")
    print(f"per batch of {args.batch_size} random crops ({args.batches} batches): min {min(batch_values):.3f}, "
          f"median {np.median(batch_values):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
