"""Chi-square test of tfstem's stateless Poisson sampler against the exact distribution, under XLA or not.

:func:`tfstem.synth.random.poisson` (exact CDF inversion below a mean of 10, Hormann's PTRS above) draws the shot
noise of the r_em noise models (Lobato et al. 2023, Eq. 30, 33, 45) on any device. For each mean this script
draws ``--draws`` values, merges the histogram's bins until every expected count is >= 5, and prints the
chi-square p-value with the sample mean and variance (both should equal the mean).

    python benchmarks/poisson_sampler.py [--draws 200000] [--means 0.05 1 7 9.99 10 30 1000] [--no-xla]

Seconds on 2 CPU cores. The p-values change with --seed; a correct sampler gives p spread over (0, 1).
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def merged_chi_square(samples, mean):
    """p-value of the chi-square test of integer ``samples`` against Poisson(``mean``), bins merged to >= 5."""
    import numpy as np
    from scipy import stats

    n = len(samples)
    top = int(samples.max()) + 1
    observed = np.bincount(samples.astype(np.int64), minlength=top + 1).astype(float)
    expected = stats.poisson.pmf(np.arange(top + 1), mean) * n
    expected[-1] += stats.poisson.sf(top, mean) * n  # the tail beyond the largest draw
    obs_bins, exp_bins, o, e = [], [], 0.0, 0.0
    for oi, ei in zip(observed, expected):
        o, e = o + oi, e + ei
        if e >= 5:
            obs_bins.append(o)
            exp_bins.append(e)
            o = e = 0.0
    if e > 0 and exp_bins:
        obs_bins[-1] += o
        exp_bins[-1] += e
    if len(exp_bins) < 2:
        return float("nan")
    exp_bins = np.asarray(exp_bins) * n / np.sum(exp_bins)
    return float(stats.chisquare(obs_bins, exp_bins).pvalue)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=200_000)
    parser.add_argument("--means", type=float, nargs="+", default=[0.05, 1, 7, 9.99, 10, 30, 1000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-xla", action="store_true")
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    from tfstem.synth.random import poisson

    draw = tf.function(poisson, jit_compile=not args.no_xla)
    print(f"{args.draws} draws per mean, XLA {'off' if args.no_xla else 'on'}, seed {args.seed}")
    print("| mean | chi-square p | sample mean | sample variance |")
    print("|---|---|---|---|")
    for i, mean in enumerate(args.means):
        samples = draw(tf.fill([args.draws], tf.constant(mean, tf.float32)),
                       tf.constant([args.seed, i], tf.int32)).numpy()
        print(f"| {mean:g} | {merged_chi_square(samples, mean):.2f} | {samples.mean():.4f} | {samples.var():.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
