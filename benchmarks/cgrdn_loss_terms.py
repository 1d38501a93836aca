"""Size of each r_em pixel-wise loss term on HR-STEM-like pairs (benchmarks/RESULTS.md, CGRDN training, section 5).

For 8 pairs of ``examples/train_cgrdn.py:lattice_pairs`` (256 x 256, seed 5) it evaluates every term of Eq. 14
(Lobato et al. 2023) in the r_em training space (:func:`tfstem.r_em.losses.to_training_space`, the per-image
weight of Eq. 5) for two estimates of the clean image: the raw input (what a fresh CGRDN returns, thanks to its
global residual) and a Gaussian blur of sigma 1.5 px (a partly restored image). Prints the unweighted terms (mean
over the 8 images) and Eq. 14 with the lambdas given on the command line (default: the ``paper`` preset's).

    python benchmarks/cgrdn_loss_terms.py [--lambdas L1 L2 MLWT FOURIER MEAN STD]

The pairs come from the example's generator (a file of this repository, loaded by path) so that the figures are
the ones the hand-set lambdas were chosen from; a few seconds on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TERMS = ("l1", "l2", "mlwt", "fourier", "mean", "std")


def load_lattice_pairs():
    """``lattice_pairs`` of examples/train_cgrdn.py (``[n, size, size, 1]`` float32 counts, distorted and clean)."""
    path = Path(__file__).resolve().parents[1] / "examples" / "train_cgrdn.py"
    spec = importlib.util.spec_from_file_location("train_cgrdn_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.lattice_pairs


def paper_lambdas():
    from tfstem.config import load_config

    config = load_config("r_em", "paper")
    return [float(getattr(config, f"{name}_weight")) for name in TERMS]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lambdas", type=float, nargs=6, default=None, metavar=("L1", "L2", "MLWT", "FOURIER",
                                                                                 "MEAN", "STD"))
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)

    import numpy as np

    from tfstem.baselines import gaussian
    from tfstem.r_em import losses

    lambdas = args.lambdas or paper_lambdas()
    x, y = load_lattice_pairs()(args.pairs, args.size, seed=args.seed)
    x_n, y_n = losses.to_training_space(x, y)
    _, blurred_n = losses.to_training_space(x, gaussian(x, 1.5))
    weights = losses.LossWeights(**dict(zip(TERMS, lambdas)))
    print(f"lambdas (L1, L2, MLWT, Fourier, mean, std) = {tuple(lambdas)}")
    print("| estimate | " + " | ".join(TERMS) + " | Eq. 14 | L1 share |")
    print("|---" * (len(TERMS) + 3) + "|")
    for label, estimate in (("raw input", x_n), ("Gaussian blur sigma 1.5", blurred_n)):
        values = {k: float(np.mean(v)) for k, v in losses.pixel_wise_losses(y_n, estimate, weights).items()}
        share = lambdas[0] * values["l1"] / values["pixel_wise"]
        print(f"| {label} | " + " | ".join(f"{values[k]:.3f}" for k in TERMS)
              + f" | {values['pixel_wise']:.2f} | {100 * share:.0f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
