"""Gradient norms of Noise2Atom's adversarial and low-frequency cycle terms on Ms2c, during training.

With one RMSprop shared by the generator updates (``generator_optimizers="shared"``, the released code's choice)
the RMS accumulators see every update's gradient, so the term with the largest gradients sets the step scale of
all of them. This script trains on the shipped example series (``examples/data/noise2atom_series.tif``) with the
paper's schedule (Wang et al. 2020, Training Details: 5 critic updates, adversarial, low-frequency cycle and
clean cycle updates per batch, from the first batch) and, at the requested iterations, prints the global L2 norm
of the gradient with respect to Ms2c's weights of ``alpha * L_gan`` (Eq. 1, generator side, alpha = 5) and of
``L_lfc`` (Eq. 7), on the next batch of the training stream, and their ratio.

    python benchmarks/noise2atom_gradient_scale.py [--preset cpu] [--at 0 29] [--set KEY=VALUE ...]

Default: the ``cpu`` preset's networks (1/4 width, 128 px crops) with the schedule options reset to the paper's
(shared optimizer, no warm-up, no sign hinge, one learning rate). A few minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SERIES = Path(__file__).resolve().parents[1] / "examples" / "data" / "noise2atom_series.tif"
PAPER_SCHEDULE = dict(generator_optimizers="shared", adversarial_warmup=0, warmup_critic=False,
                      adversarial_learning_rate=None, sign_anchor_weight=0.0)


def gradient_norms(method, noisy):
    """(|grad alpha L_gan|, |grad L_lfc|) with respect to Ms2c's trainable weights, ``noisy`` [B, p, p, 1]."""
    import tensorflow as tf

    from tfstem.noise2atom import losses

    weights = method.ms2c.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        denoised = method.ms2c(noisy, training=True)
        gan = method.config.alpha * losses.generator_adversarial_loss(method.critic(denoised, training=True))
        lfc = losses.low_frequency_cycle_loss(method.lowpass, noisy, method.mc2s(denoised, training=True))
    norms = [float(tf.linalg.global_norm([g for g in tape.gradient(term, weights) if g is not None]))
             for term in (gan, lfc)]
    del tape
    return norms


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--at", type=int, nargs="+", default=[0, 29], help="iterations at which to measure")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="option override on top of the paper schedule (repeatable)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from tfstem.config import load_config, parse_overrides
    from tfstem.io import read_series
    from tfstem.noise2atom.training import Noise2Atom

    overrides = {**PAPER_SCHEDULE, "seed": args.seed, **parse_overrides(args.set)}
    config = load_config("noise2atom", args.preset, **overrides)
    method = Noise2Atom(config, read_series(SERIES))
    stream = method.batches(0)
    print(f"preset {args.preset} + {overrides}")
    print("| iteration | alpha * L_gan gradient norm | L_lfc gradient norm | ratio |")
    print("|---|---|---|---|")
    for target in sorted(args.at):
        while method.step < target:
            method.train_step(stream)
        noisy, _ = next(stream)
        gan, lfc = gradient_norms(method, noisy)
        print(f"| {target} | {gan:.4g} | {lfc:.4g} | {gan / lfc:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
