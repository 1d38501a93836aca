"""Make the small simulated dual-channel (ADF + BF) STEM video shipped for the N2V example.

What it shows: a stand-in for the dual-channel N2V paper's simulations (Thornley et al. 2025,
"Denoising performance — simulated data"): Au-like adatoms hopping between the hollow sites of a
graphene-like hexagonal lattice, imaged simultaneously as

* ADF — incoherent Z-contrast: every atom a Gaussian probe-sized peak of weight Z^1.7 (Au 79, C 6;
  the carbon columns of the paper's 4-layer graphene counted as 4 atoms);
* BF — phase-like contrast: ``1 - contrast · (G_s1 - 0.4 · G_s2) * V`` with the projected potential
  ``V`` (weights Z^0.7), a band-pass that gives the lattice strong contrast and dark adatoms;

then additive Gaussian white noise per channel at an input PSNR of ``--psnr`` dB (paper: 7–20 dB;
10 dB here), PSNR measured against each clean channel's peak-to-peak range. The lattice drifts by
a fraction of a pixel per frame and each adatom hops to a neighbouring hollow site with probability
``--hop``, so frames differ as in a real video.

Output ``examples/data/n2v_dual_channel_video.npz``: ``noisy`` and ``clean`` float16
``[N, H, W, 2]`` (channel 0 ADF, 1 BF), ``pixel_size_nm``, ``input_psnr_db`` and ``seed``. The
default (48 frames of 128 x 128) is about 6 MB.

Run: ``python examples/make_n2v_video.py`` (seconds; deterministic for a given ``--seed``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

GRAPHENE_A_NM = 0.246  # graphene lattice constant
Z_AU, Z_C = 79, 6
ADF_EXPONENT = 1.7  # Z-contrast exponent of high-angle scattering
BF_EXPONENT = 0.7  # phase-object potential ~ Z^0.7
CARBON_LAYERS = 4  # the paper's 4-layer graphene


def _honeycomb(size_px, pixel_nm, angle, shift):
    """Carbon positions (px) of a rotated honeycomb covering a size_px square, and its hollow sites."""
    a = GRAPHENE_A_NM / pixel_nm
    a1 = a * np.array([np.cos(angle), np.sin(angle)])
    a2 = a * np.array([np.cos(angle + np.pi / 3), np.sin(angle + np.pi / 3)])
    n = int(2 * size_px / a) + 4
    i, j = np.meshgrid(np.arange(-n, n), np.arange(-n, n), indexing="ij")
    cells = i.reshape(-1, 1) * a1 + j.reshape(-1, 1) * a2 + shift
    basis_b = (a1 + a2) / 3.0
    hollow = cells + 2.0 * basis_b  # centre of the hexagon: the Au adsorption site used here
    carbons = np.concatenate([cells, cells + basis_b])
    margin = 3 * a

    def inside(p):
        return p[(p[:, 0] > -margin) & (p[:, 0] < size_px + margin) & (p[:, 1] > -margin) & (p[:, 1] < size_px + margin)]

    return inside(carbons), inside(hollow), a


def _render(positions, weights, size_px, sigma_px):
    """Sum of Gaussian peaks (y, x in px) of the given weights on a size_px square, float64."""
    yy = np.arange(size_px)[:, None, None]
    xx = np.arange(size_px)[None, :, None]
    image = np.zeros((size_px, size_px))
    for start in range(0, len(positions), 256):
        p = positions[start : start + 256]
        w = weights[start : start + 256]
        gy = np.exp(-((yy[:, 0] - p[:, 0][None]) ** 2) / (2 * sigma_px**2))  # [H, n]
        gx = np.exp(-((xx[0] - p[:, 1][None]) ** 2) / (2 * sigma_px**2))  # [W, n]
        image += (gy * w[None]) @ gx.T
    return image


def simulate(*, frames=48, size=128, pixel_nm=0.025, adatoms=10, hop=0.3, drift_px=0.08, psnr_db=10.0,
             probe_sigma_nm=0.045, seed=7):
    """Simulate the dual-channel video.

    Returns
    -------
    noisy, clean : numpy.ndarray, float32 ``[frames, size, size, 2]``
        Channel 0 ADF, channel 1 BF, arbitrary units (clean ADF peak ~1, BF around 1).
    """
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, np.pi / 3)
    shift0 = rng.uniform(0, 5, size=2)
    drift = drift_px * np.array([np.cos(rng.uniform(0, 2 * np.pi)), np.sin(rng.uniform(0, 2 * np.pi))])
    carbons, hollow, a_px = _honeycomb(size, pixel_nm, angle, shift0)
    visible = np.flatnonzero((hollow[:, 0] > 2) & (hollow[:, 0] < size - 2) & (hollow[:, 1] > 2) & (hollow[:, 1] < size - 2))
    sites = rng.choice(visible, size=adatoms, replace=False)
    sigma = probe_sigma_nm / pixel_nm
    clean = np.empty((frames, size, size, 2), np.float64)
    for t in range(frames):
        offset = t * drift
        if t:
            for k in range(adatoms):  # hop to a neighbouring hollow site (distance a) with probability hop
                if rng.random() < hop:
                    d = np.linalg.norm(hollow[visible] - hollow[sites[k]], axis=1)
                    neighbours = visible[(d > 0.5 * a_px) & (d < 1.2 * a_px)]
                    neighbours = neighbours[~np.isin(neighbours, sites)]
                    if neighbours.size:
                        sites[k] = rng.choice(neighbours)
        c_pos, au_pos = carbons + offset, hollow[sites] + offset
        c_adf = np.full(len(c_pos), CARBON_LAYERS * Z_C**ADF_EXPONENT)
        au_adf = np.full(len(au_pos), Z_AU**ADF_EXPONENT)
        adf = _render(np.concatenate([c_pos, au_pos]), np.concatenate([c_adf, au_adf]), size, sigma)
        c_v = np.full(len(c_pos), CARBON_LAYERS * Z_C**BF_EXPONENT)
        au_v = np.full(len(au_pos), Z_AU**BF_EXPONENT)
        positions, weights = np.concatenate([c_pos, au_pos]), np.concatenate([c_v, au_v])
        potential_fine = _render(positions, weights, size, sigma)
        potential_coarse = _render(positions, weights, size, 2.2 * sigma)
        bf = 1.0 - 0.02 * (potential_fine - 0.4 * potential_coarse)
        clean[t, ..., 0] = adf / Z_AU**ADF_EXPONENT + 0.05  # ADF: Au peak ~1 on a small offset
        clean[t, ..., 1] = bf
    noisy = np.empty_like(clean)
    for c in range(2):  # noise sigma per channel from its clean peak-to-peak range: PSNR = 20 log10(range / sigma)
        value_range = clean[..., c].max() - clean[..., c].min()
        noise_sigma = value_range / 10 ** (psnr_db / 20)
        noisy[..., c] = clean[..., c] + rng.normal(0.0, noise_sigma, size=clean[..., c].shape)
    return noisy.astype(np.float32), clean.astype(np.float32)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default=str(Path(__file__).parent / "data" / "n2v_dual_channel_video.npz"))
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--psnr", type=float, default=10.0, help="input PSNR in dB, each channel")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--force", action="store_true", help="replace an existing output file (the shipped video)")
    args = parser.parse_args(argv)
    from tfstem import outputs

    out = Path(args.output)
    if out.suffix != ".npz":
        parser.error(f"--output must end in .npz; received {out}")
    try:
        outputs.check_new_file(out, force=args.force, what="--output")  # before the simulation
    except OSError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    noisy, clean = simulate(frames=args.frames, size=args.size, psnr_db=args.psnr, seed=args.seed)
    with outputs.atomic_file(out, force=args.force) as tmp:
        np.savez_compressed(tmp, noisy=noisy.astype(np.float16), clean=clean.astype(np.float16),
                            pixel_size_nm=np.float32(0.025), input_psnr_db=np.float32(args.psnr),
                            seed=np.int64(args.seed))
    from skimage.metrics import peak_signal_noise_ratio

    for c, name in enumerate(("ADF", "BF")):
        ref = clean[..., c].astype(np.float16).astype(np.float64)
        test = noisy[..., c].astype(np.float16).astype(np.float64)
        print(f"{name}: input PSNR {peak_signal_noise_ratio(ref, test, data_range=ref.max() - ref.min()):.2f} dB")
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, {noisy.shape})")


if __name__ == "__main__":
    main()
