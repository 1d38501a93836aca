"""How much the Noise2Atom critic D sees of each border of its 128 x 128 input, for the two sampling grids.

The critic's four 3x3 stride-2 valid convolutions (Wang et al. 2020, "Network Architectures") can only centre
their windows on every other row; ``critic_grid="even"`` (the released code) favours the top/left border in
every module, ``"alternating"`` (tfstem) alternates even and odd grids. For freshly initialised critics (several
seeds) this script measures the mean ``|dD/dx|`` over the first and the last ``--band`` rows and columns of
inputs drawn uniformly in [-1, 1], and prints the ratio last/first: near 1 means both borders count alike.

    python benchmarks/noise2atom_critic_border.py [--preset paper|cpu] [--seeds 5] [--band 8]

Seconds on 2 CPU cores (critic only, no training). Backs the ``critic_grid`` option of models/noise2atom.json.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def border_ratios(critic, images, band):
    """(last/first rows, last/first columns) of the mean |dD/dx| of ``critic`` on ``images`` [N, H, W, 1]."""
    import numpy as np
    import tensorflow as tf

    x = tf.convert_to_tensor(images)
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = tf.reduce_sum(critic(x, training=False))
    grad = np.abs(tape.gradient(score, x).numpy()[..., 0]).mean(axis=0)  # [H, W]
    rows, cols = grad.mean(axis=1), grad.mean(axis=0)
    return rows[-band:].mean() / rows[:band].mean(), cols[-band:].mean() / cols[:band].mean()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--band", type=int, default=8)
    parser.add_argument("--images", type=int, default=16)
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    from tfstem.config import load_config
    from tfstem.noise2atom.wgan_critic import build_wgan_critic

    config = load_config("noise2atom", args.preset)
    p = config.patch_size
    images = np.random.default_rng(0).uniform(-1, 1, (args.images, p, p, 1)).astype("float32")
    print(f"preset {args.preset}: critic filters {tuple(config.critic_filters)}, {p} x {p} input, band {args.band} px")
    print("| grid | seed | last/first rows | last/first columns |")
    print("|---|---|---|---|")
    summary = {}
    for grid in ("even", "alternating"):
        for seed in range(args.seeds):
            keras.utils.set_random_seed(seed)
            critic = build_wgan_critic(patch_size=p, filters=config.critic_filters, dropout=config.critic_dropout,
                                       normalization=config.normalization, grid=grid)
            r, c = border_ratios(critic, images, args.band)
            summary.setdefault(grid, []).append((r, c))
            print(f"| {grid} | {seed} | {r:.3f} | {c:.3f} |")
    for grid, values in summary.items():
        values = np.asarray(values)
        print(f"{grid}: median last/first rows {np.median(values[:, 0]):.3f}, columns {np.median(values[:, 1]):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
