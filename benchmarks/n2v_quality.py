"""The N2V quality table on the shipped simulated video: N2V next to the paper's baselines at its settings.

Scores a finished ``examples/train_n2v_stem.py`` run (its ``denoised.npy``) and the baselines on the same
frames (odd frames, every ``--eval-every``-th: not trained on) against the noise-free frames, with PSNR,
SSIM and N-RMSE (``tfstem.metrics``; N-RMSE with ``normalization="paper"``, data range = each noise-free
frame's range):

* Gaussian sigma 1 px; TV 1/lambda 1.0 (ADF) / 0.75 (BF); BM3D sigma_psd 0.8 / 0.4 -- the paper's settings
  (Thornley et al. 2025, Methods), TV and BM3D on the paper's intensity scale (each noise-free frame's range
  -> 1; ``tfstem.baselines.tv``);
* ``--former``: also the rows of the former settings (the noisy frame's min-max -> [0, 1] for TV, BM3D sigma
  estimated per frame) and the former Euclidean N-RMSE, for the comparison in benchmarks/RESULTS.md;
* ``--check-range``: how close ``tfstem.baselines.paper_data_range`` (no reference) comes to the range.

Run: ``python examples/train_n2v_stem.py -o RUN --channels both --steps 267`` then
``python benchmarks/n2v_quality.py RUN --former`` (about a minute on 2 cores; BM3D is the slow part).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from tfstem import baselines, metrics

VIDEO = Path(__file__).resolve().parents[1] / "examples" / "data" / "n2v_dual_channel_video.npz"


def score(clean, estimate, normalization):
    """Mean PSNR (dB), SSIM and N-RMSE over frames, per channel: ``{channel: {...}}``."""
    table = {}
    for c, name in enumerate(baselines.PAPER_CHANNELS[: clean.shape[-1]]):
        pairs = [(clean[i, ..., c], estimate[i, ..., c]) for i in range(clean.shape[0])]
        values = [(metrics.psnr(r, e), metrics.ssim(r, e), metrics.nrmse(r, e, normalization=normalization))
                  for r, e in pairs]
        psnr, ssim, nrmse = np.mean(values, axis=0)
        table[name] = {"psnr": float(psnr), "ssim": float(ssim), "nrmse": float(nrmse)}
    return table


def markdown(rows):
    names = list(next(iter(rows.values())))
    lines = ["| method | " + " | ".join(f"{n} PSNR (dB) | {n} SSIM | {n} N-RMSE" for n in names) + " |",
             "|---" * (1 + 3 * len(names)) + "|"]
    for method, table in rows.items():
        cells = " | ".join(f"{table[n]['psnr']:.2f} | {table[n]['ssim']:.3f} | {table[n]['nrmse']:.3f}" for n in names)
        lines.append(f"| {method} | {cells} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="output folder of examples/train_n2v_stem.py (denoised.npy)")
    parser.add_argument("--video", type=Path, default=VIDEO)
    parser.add_argument("--eval-every", type=int, default=4, help="score every k-th odd frame (the example's)")
    parser.add_argument("--former", action="store_true", help="add the former settings' rows")
    parser.add_argument("--check-range", action="store_true", help="print paper_data_range / true range")
    parser.add_argument("--no-bm3d", action="store_true")
    args = parser.parse_args(argv)

    with np.load(args.video) as data:
        noisy, clean = data["noisy"].astype(np.float32), data["clean"].astype(np.float32)
    evaluate = np.arange(noisy.shape[0])[1::2][:: args.eval_every]
    noisy, clean = noisy[evaluate], clean[evaluate]
    denoised = np.load(args.run / "denoised.npy")[evaluate]
    ranges = clean.max(axis=(1, 2)) - clean.min(axis=(1, 2))
    if args.check_range:
        ratio = baselines.paper_data_range(noisy).mean(axis=0) / ranges.mean(axis=0)
        print("paper_data_range / noise-free range: " + ", ".join(f"{n} {r:.3f}" for n, r in
                                                                 zip(baselines.PAPER_CHANNELS, ratio)))
    estimates = {"raw": noisy, "gaussian (1 px)": baselines.gaussian(noisy, 1.0),
                 "tv (paper)": baselines.tv(noisy, "paper", data_range=ranges)}
    if not args.no_bm3d:
        estimates["bm3d (paper)"] = baselines.bm3d(noisy, "paper", data_range=ranges)
    estimates["n2v (dual)"] = denoised
    rows = {name: score(clean, image, "paper") for name, image in estimates.items()}
    report = {"frames_scored": evaluate.tolist(), "nrmse": "paper", "rows": rows}
    print(f"frames {evaluate.tolist()}; N-RMSE normalization 'paper' (range)")
    print(markdown(rows))
    if args.former:
        noisy_range = noisy.max(axis=(1, 2)) - noisy.min(axis=(1, 2))
        former = {"tv (former: noisy min-max)": baselines.tv(noisy, "paper", data_range=noisy_range)}
        if not args.no_bm3d:
            former["bm3d (former: sigma estimated)"] = baselines.bm3d(noisy, data_range=noisy_range)
        former_rows = {name: score(clean, image, "euclidean") for name, image in {**estimates, **former}.items()}
        report["former_euclidean"] = former_rows
        print("\nformer settings, N-RMSE normalization 'euclidean'")
        print(markdown(former_rows))
    from tfstem.outputs import write_json
    write_json(args.run / "quality.json", report, force=True)  # derived from the run folder: rescoring replaces it
    return 0


if __name__ == "__main__":
    sys.exit(main())
