"""Restoration quality against the intensity scale of the input: `tfstem.restore` vs the network's raw call.

The r_em CGRDN standardises each image with its std floored at an absolute 0.1 (the authors' ``lay_r_em_pp``):
an image whose values are small is silently restored as a near-copy. `tfstem.restore` maps every frame to mean 0,
std 1 in float64 before the network and back after it, so its answer does not depend on the scale. This script
prints the mean PSNR over tk-r-em's ``sfr_hrstem`` test frames (against the clean frames times the same scale) for
both calls at each scale.

    python benchmarks/restore_scale.py                      # scales 1, 1e-3, 1e-5, 1e-6, 1.5e-8
    python benchmarks/restore_scale.py --scales 1 1e-4
"""

from __future__ import annotations

import argparse

import numpy as np

import tfstem
from tfstem.metrics import psnr
from tfstem.r_em import load_test_data


def mean_psnr(clean, restored) -> float:
    """Mean PSNR in dB of ``restored`` against ``clean``, both ``[N, H, W]``."""
    return float(np.mean([psnr(c, r) for c, r in zip(clean, restored)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 1e-3, 1e-5, 1e-6, 1.5259e-8])
    args = parser.parse_args()

    noisy, clean = load_test_data("hrstem")  # [8, 256, 256, 1] float32, 0-65535 scale
    network = tfstem.load_model("r_em/hrstem")
    print(f"tk-r-em sfr_hrstem test set: {len(noisy)} frames of {noisy.shape[1]} x {noisy.shape[2]}")
    print(f"{'scale':>10} | {'input dB':>8} | {'raw network call dB':>19} | {'tfstem.restore dB':>17}")
    print("-" * 64)
    for scale in args.scales:
        x = (noisy * np.float32(scale)).astype(np.float32)
        y = clean[..., 0] * np.float32(scale)
        raw = np.asarray(network.predict(x, batch_size=4, verbose=0))[..., 0]
        ours = tfstem.restore(x[..., 0], model=network, verbose=False)
        print(f"{scale:>10.3g} | {mean_psnr(y, x[..., 0]):8.2f} | {mean_psnr(y, raw):19.2f} | "
              f"{mean_psnr(y, ours):17.2f}")


if __name__ == "__main__":
    main()
