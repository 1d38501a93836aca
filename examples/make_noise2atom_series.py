"""Make the small simulated HAADF movie shipped for the Noise2Atom example.

What it shows: Pt-like atoms (single atoms that hop and small close-packed clusters) on an amorphous
carbon-like support (probe-scale speckle of ~10 % and a 3 % thickness variation, see ``_carbon_support``),
imaged at a few electrons per pixel with Poisson noise and a small drift between frames -- the kind of
low-dose fast STEM movie Noise2Atom was made for (Wang et al. 2020: Pt on ca 20 nm of carbon).

Writes ``examples/data/noise2atom_series.tif`` (uint16 counts, [T, H, W], zlib-compressed) and
``examples/data/noise2atom_series_truth.npz`` with the noise-free expected counts ``clean`` [T, H, W]
(atoms + background), the atom peaks alone ``atoms`` [T, H, W], both float16 in electrons per pixel, and
``pixel_size_nm``. Everything is seeded: the same command gives the same bytes.

    python examples/make_noise2atom_series.py [--frames 40] [--size 256] [--seed 2020]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

PIXEL_SIZE_NM = 0.04  # 40 pm: the Pt-Pt distance 0.277 nm is ~7 px, close to the clean domain's pitch 8
PROBE_SIGMA_PX = 1.6  # ~0.15 nm FWHM probe-limited atomic peak
PT_PEAK = 3.0  # electrons per pixel at the centre of one Pt atom, above the background
# Film thickness: the mean signal stands for ~15 nm of amorphous carbon (Z^1.7), the atom count for ~20 nm at
# 2 g/cm^3; both lie in the paper's regime (see _carbon_support).
CARBON_MEAN = 1.5  # electrons per pixel of the carbon-like support
CARBON_ATOMS_PER_PX = 3.2  # projected C atoms per 0.04 x 0.04 nm pixel column
THICKNESS_CONTRAST = 0.03  # relative standard deviation of the film's slow thickness variation
THICKNESS_SCALE_PX = 60.0  # its correlation length (2.4 nm): thickness changes over nanometres, not atoms
DRIFT_PX = (0.35, -0.25)  # per frame (rows, cols)


def _clusters(rng, size, count):
    """Close-packed (hexagonal) clusters of 3-12 atoms, spacing 0.277 nm, random orientation."""
    spacing = 0.277 / PIXEL_SIZE_NM
    hexagon = [(0, 0)] + [(np.cos(a), np.sin(a)) for a in np.arange(6) * np.pi / 3]
    hexagon += [(2 * np.cos(a), 2 * np.sin(a)) for a in np.arange(6) * np.pi / 3]
    positions = []
    for _ in range(count):
        centre = rng.uniform(40, size - 40, 2)
        n = rng.integers(3, 13)
        theta = rng.uniform(0, np.pi)
        rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        offsets = np.array(hexagon[:n]) @ rot.T * spacing
        positions.append(centre + offsets)
    return np.concatenate(positions)


def _carbon_support(rng, shape):
    """HAADF signal of an amorphous carbon film, electrons per pixel, float64 ``shape``.

    Each pixel column holds a Poisson number of C atoms (mean ``CARBON_ATOMS_PER_PX``); the probe
    (Gaussian, ``PROBE_SIGMA_PX``) averages ~32 pixels of them, so the support shows a fine speckle of ~10 %
    at the probe's scale, plus a slow thickness variation of 3 %. A C atom scatters ~(78/6)^1.7 = 80 times
    less than a Pt atom into the HAADF detector (Z^1.7), so even a ~15 nm film's mean signal (1.5 e/px)
    stays below a single Pt peak (3 e/px) and its fluctuations far below -- the regime in which the paper
    detects single Pt atoms ("ca 20 nm of carbon"). A lumpy background with atom-sized blobs of tens of per
    cent is the paper's failure case 2 (false atoms), not what this example is meant to show.
    """
    counts = rng.poisson(CARBON_ATOMS_PER_PX, shape).astype(np.float64)
    speckle = ndimage.gaussian_filter(counts, PROBE_SIGMA_PX) / CARBON_ATOMS_PER_PX
    thickness = ndimage.gaussian_filter(rng.standard_normal(shape), THICKNESS_SCALE_PX)
    thickness = 1 + THICKNESS_CONTRAST * thickness / thickness.std()
    return CARBON_MEAN * speckle * thickness


def _render(positions, size, sigma):
    """Sum of unit-height Gaussian peaks at sub-pixel ``positions`` [K, 2] (rows, cols)."""
    image = np.zeros((size, size), np.float64)
    half = int(np.ceil(4 * sigma))
    for r, c in positions:
        r0, c0 = int(round(r)), int(round(c))
        rows = np.arange(max(r0 - half, 0), min(r0 + half + 1, size))
        cols = np.arange(max(c0 - half, 0), min(c0 + half + 1, size))
        if rows.size == 0 or cols.size == 0:
            continue
        g = np.exp(-((rows[:, None] - r) ** 2 + (cols[None, :] - c) ** 2) / (2 * sigma**2))
        image[np.ix_(rows, cols)] += g
    return image


def make_series(frames=40, size=256, seed=2020):
    """Return (noisy uint16, clean float32, atoms float32), each [frames, size, size]."""
    rng = np.random.default_rng(seed)
    margin = 32
    carbon = _carbon_support(rng, (size + 2 * margin,) * 2)
    singles = rng.uniform(10, size - 10, (30, 2))
    clusters = _clusters(rng, size, 5)
    noisy = np.empty((frames, size, size), np.uint16)
    clean = np.empty((frames, size, size), np.float32)
    atoms = np.empty((frames, size, size), np.float32)
    for t in range(frames):
        drift = np.asarray(DRIFT_PX) * t
        # single atoms random-walk (0.4 px per frame) and now and then hop by ~ one Pt-Pt distance
        singles += rng.normal(0, 0.4, singles.shape)
        hop = rng.random(len(singles)) < 0.03
        singles[hop] += rng.normal(0, 7.0, (hop.sum(), 2))
        singles = np.clip(singles, 6, size - 6)
        peaks = _render(np.concatenate([singles, clusters]) + drift, size, PROBE_SIGMA_PX) * PT_PEAK
        background = ndimage.shift(carbon, drift, order=3, mode="nearest")[margin:margin + size, margin:margin + size]
        atoms[t] = peaks
        clean[t] = peaks + background
        noisy[t] = rng.poisson(clean[t]).astype(np.uint16)
    return noisy, clean, atoms


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--out", default=str(Path(__file__).parent / "data" / "noise2atom_series"),
                        help="output prefix: writes <out>.tif and <out>_truth.npz")
    parser.add_argument("--force", action="store_true", help="replace existing outputs (the shipped series)")
    args = parser.parse_args(argv)
    import tifffile

    from tfstem import outputs

    out = Path(args.out)
    movie, truth = out.with_name(out.name + ".tif"), out.with_name(out.name + "_truth.npz")
    try:  # both targets checked before the simulation
        for target in (movie, truth):
            outputs.check_new_file(target, force=args.force, what="--out")
    except OSError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    noisy, clean, atoms = make_series(args.frames, args.size, args.seed)
    with outputs.atomic_file(movie, force=args.force) as tmp:
        tifffile.imwrite(tmp, noisy, compression="zlib",
                         resolution=(1e7 / PIXEL_SIZE_NM, 1e7 / PIXEL_SIZE_NM), resolutionunit="CENTIMETER",
                         metadata={"axes": "TYX", "unit": "nm"})
    # float16 keeps ~3 significant digits (far below the Poisson noise) and the file small
    with outputs.atomic_file(truth, force=args.force) as tmp:
        np.savez_compressed(tmp, clean=clean.astype(np.float16), atoms=atoms.astype(np.float16),
                            pixel_size_nm=PIXEL_SIZE_NM)
    print(f"wrote {out.with_suffix('.tif')} {noisy.shape} uint16, mean {noisy.mean():.2f} e/px; "
          f"{out}_truth.npz (clean, atoms)")


if __name__ == "__main__":
    sys.exit(main())
