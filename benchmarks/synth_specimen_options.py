"""Measurements behind the defaults of the specimen options beyond the r_em paper (tfstem.synth.configs).

* ``support_composition``: how much of a high-resolution clean image's variance the support film carries, with the
  paper's support (made like the specimen, Z in [1, 103], rendered like any atom) and with the light film. The
  specimen's and the support's atoms are rendered apart (Eq. 16-17, the same profiles as in the pipeline) and the
  support share is ``var(support image) / (var(specimen image) + var(support image))``.
* ``max_atoms``: CPU time of the specimen stage (sampling + rendering of one extended-box element of ``pairs``) and
  the specimen thickness that is left, with the 30,000-atom cap and without it (the paper).

Usage: ``python benchmarks/synth_specimen_options.py [-n 40] [--size 256] [--seed 0] [--parts support cap]``; prints
one Markdown table per part (and, for the cap, one line per element as it goes).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from tfstem.synth import imaging, modality_config, specimen
from tfstem.synth.pipelines import example_rng


def _render(positions_px, index, profiles, rows, size):
    if not rows.any():
        return np.zeros((size, size), np.float32)
    return imaging.render_atoms(positions_px[rows], index[rows], profiles, size, size).numpy()


def support_share(cfg, seed: int, n: int, size: int) -> np.ndarray:
    """Support share of the clean image's variance for ``n`` specimens that have a support layer."""
    cfg = dataclasses.replace(cfg, support_probability=1.0)
    shares = []
    for i in range(n):
        rng = example_rng("hrstem", seed, i)
        s = specimen.sample_specimen(rng, cfg, (size, size))
        positions_px, index, profiles = imaging.specimen_arrays(rng, s, cfg, size, size)
        spec = _render(positions_px, index, profiles, ~s.support, size)
        sup = _render(positions_px, index, profiles, s.support, size)
        total = spec.var() + sup.var()
        shares.append(sup.var() / total if total > 0 else 0.0)
    return np.array(shares)


def specimen_stage(cfg, seed: int, n: int, size: int, margin: int):
    """CPU seconds per element (sampling + rendering), atoms and specimen thickness (Angstrom) per element."""
    seconds, atoms, thickness, pixel = [], [], [], []
    extended = size + 2 * margin
    for i in range(n):
        rng = example_rng("hrstem", seed, i)
        start = time.process_time()
        s = specimen.sample_specimen(rng, cfg, (size, size), margin_px=margin)
        positions_px, index, profiles = imaging.specimen_arrays(rng, s, cfg, extended, extended)
        imaging.render_atoms(positions_px, index, profiles, extended, extended).numpy()
        seconds.append(time.process_time() - start)
        atoms.append(len(s.positions))
        print(f"  max_atoms={cfg.max_atoms} element {i}: {seconds[-1]:.2f} CPU s, {atoms[-1]} atoms, "
              f"dr {s.pixel_size:.3f} A", flush=True)
        spec = s.positions[~s.support]
        thickness.append(float(np.ptp(spec[:, 2])) if len(spec) else 0.0)
        pixel.append(s.pixel_size)
    return np.array(seconds), np.array(atoms), np.array(thickness), np.array(pixel)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=40, help="specimens per setting")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parts", nargs="+", default=["support", "cap"], choices=["support", "cap"])
    args = parser.parse_args(argv)
    default = modality_config("hrstem").imaging
    paper = modality_config("hrstem", preset="paper").imaging

    if "support" in args.parts:
        support_table(default, args)
    if "cap" in args.parts:
        cap_table(default, paper, args)


def support_table(default, args):
    print("| support_composition | specimens | support share of variance: median | quartiles | share > 0.5 |")
    print("|---|---|---|---|---|")
    for name in ("paper", "light"):
        shares = support_share(dataclasses.replace(default, support_composition=name), args.seed, args.n, args.size)
        q1, q2, q3 = np.percentile(shares, [25, 50, 75])
        print(f"| {name} | {len(shares)} | {q2:.2f} | {q1:.2f} / {q3:.2f} | {(shares > 0.5).mean():.0%} |")


def cap_table(default, paper, args):
    margin = max(args.size // 8, 4)
    rows = []
    for cap in (default.max_atoms, paper.max_atoms):
        cfg = dataclasses.replace(default, max_atoms=cap)
        seconds, atoms, thickness, pixel = specimen_stage(cfg, args.seed, args.n, args.size, margin)
        coarse = thickness[pixel > 0.5]
        rows.append(f"| {cap} | {len(seconds)} | {seconds.mean():.3f} | {seconds.max():.2f} | "
                    f"{int(np.median(atoms))} | {atoms.max()} | {np.median(coarse) if len(coarse) else float('nan'):.1f} | "
                    f"{np.median(thickness):.1f} |")
    print()
    print("| max_atoms | elements | CPU s per element: mean | max | atoms: median | max | specimen thickness (A), "
          "dr > 0.5 A: median | all: median |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
