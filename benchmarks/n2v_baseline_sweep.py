"""Oracle sweep of the Gaussian and TV baselines on the shipped dual-channel video (best parameter per channel).

The dual-channel N2V paper (Thornley et al. 2025, Methods, "Denoising") chose its baselines' parameters by a
sweep against the ground truth: Gaussian sigma in {0.5, 1, 2} px and TV 1/lambda from 0.1 to 2.0 in steps of 0.1.
This script runs the same kind of sweep on ``examples/data/n2v_dual_channel_video.npz`` with
:func:`tfstem.baselines.gaussian` and :func:`tfstem.baselines.tv` *as they are parameterised in this checkout*
(see their docstrings), scoring the frames of the quality table of benchmarks/RESULTS.md (1, 9, ..., 41, the
frames N2V does not train on) against the noise-free frames with :func:`tfstem.metrics.psnr` and ``ssim`` (data
range: each clean frame's range). It prints, per channel, every parameter's mean PSNR and SSIM and the best of
each, so a baseline row can be checked for being a straw man.

    python benchmarks/n2v_baseline_sweep.py [--frames 1 9 17 25 33 41]

About a minute on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

VIDEO = Path(__file__).resolve().parents[1] / "examples" / "data" / "n2v_dual_channel_video.npz"
TV_WEIGHTS = tuple(sorted((0.05, 0.75) + tuple(round(0.1 * k, 1) for k in range(1, 21))))  # + the weights RESULTS quotes
SIGMAS = (0.5, 1.0, 1.5, 2.0, 3.0)


def scores(denoise, noisy, clean, channel):
    """Mean PSNR and SSIM of ``denoise(frame2d)`` over the frames of one channel."""
    import numpy as np

    from tfstem.metrics import psnr, ssim

    out = [(psnr(c[..., channel], denoise(n[..., channel])), ssim(c[..., channel], denoise(n[..., channel])))
           for n, c in zip(noisy, clean)]
    return tuple(np.mean(out, axis=0))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[1, 9, 17, 25, 33, 41])
    args = parser.parse_args(argv)

    import numpy as np

    from tfstem.baselines import gaussian, tv

    data = np.load(VIDEO)
    noisy = data["noisy"].astype(np.float32)[args.frames]
    clean = data["clean"].astype(np.float32)[args.frames]
    for channel, name in enumerate(("ADF", "BF")):
        rows = [(f"raw", *scores(lambda f: f, noisy, clean, channel))]
        rows += [(f"gaussian sigma {s}", *scores(lambda f, s=s: gaussian(f, s), noisy, clean, channel)) for s in SIGMAS]
        rows += [(f"tv weight {w}", *scores(lambda f, w=w: tv(f, w), noisy, clean, channel)) for w in TV_WEIGHTS]
        print(f"\n{name} (frames {args.frames})\n| baseline | PSNR (dB) | SSIM |\n|---|---|---|")
        for label, p, s in rows:
            print(f"| {label} | {p:.2f} | {s:.3f} |")
        for kind in ("gaussian", "tv"):
            subset = [r for r in rows if r[0].startswith(kind)]
            best_p = max(subset, key=lambda r: r[1])
            best_s = max(subset, key=lambda r: r[2])
            print(f"{name} best {kind}: PSNR {best_p[1]:.2f} dB at {best_p[0]}; SSIM {best_s[2]:.3f} at {best_s[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
