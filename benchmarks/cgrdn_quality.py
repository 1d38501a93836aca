"""PSNR/SSIM on tk-r-em's simulated HR-STEM test set (``sfr_hrstem.h5``, 8 pairs of 256x256).

Rows: raw input, Gaussian blur, total variation, BM3D, the r_em authors' network (``r_em/hrstem``) and any
number of tfstem-trained models (``--model NAME_OR_PATH``, repeatable). PSNR and SSIM are computed per image
against its clean image with the clean image's data range (r_em Eq. 1; :mod:`tfstem.metrics`) and averaged.
Gaussian sigma and TV weight are swept on a small grid; the table shows the best value on this test set,
which favours those baselines (an oracle choice).

    python benchmarks/cgrdn_quality.py --model cgrdn_hrstem
    python benchmarks/cgrdn_quality.py --no-bm3d        # skip the slow BM3D row
    python benchmarks/cgrdn_quality.py --model cgrdn_hrstem --per-image   # also PSNR/SSIM of each of the 8 pairs
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


#: Oracle grids: each baseline's parameter is the best of these on the test set itself (optimum inside the grid).
GAUSSIAN_SIGMAS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0)
TV_WEIGHTS = (0.02, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
#: BM3D's noise level = factor x the per-image wavelet estimate (skimage ``estimate_sigma`` of the frame scaled to
#: [0, 1]); the estimate assumes white Gaussian noise and is low for these Poisson/PMT/jittered frames.
BM3D_SIGMA_FACTORS = (2.0, 4.0, 8.0, 16.0, 32.0, 64.0)


def load_sfr_test_set(name="sfr_hrstem"):
    """tk-r-em's simulated test pairs as float32 ``[8, 256, 256, 1]`` (distorted, clean), counts.

    The files are written in MATLAB order; like ``tk_r_em.load_sim_test_data`` we transpose (0, 3, 2, 1).
    """
    import importlib.util

    import h5py

    spec = importlib.util.find_spec("tk_r_em")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the sfr_hrstem test set ships with tk-r-em: pip install 'tk-r-em>=1.0.4' (a core dependency)")
    path = Path(list(spec.submodule_search_locations)[0]) / "test_data" / f"{name}.h5"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found in the installed tk-r-em.")
    with h5py.File(path, "r") as f:
        if "y" not in f:
            raise ValueError(f"{path} holds no clean images 'y' (known tk-r-em 1.0.4 defect for sfr_hrtem).")
        x = np.asarray(f["x"][:], dtype=np.float32).transpose(0, 3, 2, 1)
        y = np.asarray(f["y"][:], dtype=np.float32).transpose(0, 3, 2, 1)
    return x, y


def scores(restored, clean):
    from tfstem import metrics

    psnr = [metrics.psnr(c[..., 0], r[..., 0]) for r, c in zip(restored, clean)]
    ssim = [metrics.ssim(c[..., 0], r[..., 0]) for r, c in zip(restored, clean)]
    return float(np.mean(psnr)), float(np.mean(ssim))


def per_image_scores(restored, clean):
    """PSNR (dB) and SSIM of each image: two lists of floats, in the test set's order."""
    from tfstem import metrics

    return ([metrics.psnr(c[..., 0], r[..., 0]) for r, c in zip(restored, clean)],
            [metrics.ssim(c[..., 0], r[..., 0]) for r, c in zip(restored, clean)])


def print_per_image(named_outputs, clean):
    """One Markdown row per method: ``PSNR/SSIM`` of each image, then the means."""
    print()
    print("| method | " + " | ".join(str(i + 1) for i in range(len(clean))) + " | mean |")
    print("|---" * (len(clean) + 2) + "|")
    for name, restored in named_outputs:
        psnr, ssim = per_image_scores(restored, clean)
        cells = " | ".join(f"{p:.1f}/{s:.2f}" for p, s in zip(psnr, ssim))
        print(f"| {name} | {cells} | {np.mean(psnr):.2f} / {np.mean(ssim):.3f} |")


def _authors_model():
    try:
        from tfstem.registry import load_model

        return load_model("r_em/hrstem"), "tfstem.registry r_em/hrstem"
    except Exception as error:  # noqa: BLE001 - report why the row is missing, keep the others
        first = error
    try:
        from tfstem.r_em import load_r_em_model

        return load_r_em_model("hrstem"), "tfstem.r_em.load_r_em_model"
    except Exception as error:  # noqa: BLE001
        return None, f"unavailable ({type(first).__name__}: {first}; {type(error).__name__}: {error})"


def _predict(model, x, batch_size=2):
    return np.concatenate([np.asarray(model(x[i:i + batch_size], training=False)) for i in range(0, len(x), batch_size)])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[],
                        help="tfstem-trained generator: a registry name (e.g. cgrdn_hrstem) or a .keras path "
                             "(repeatable)")
    parser.add_argument("--no-bm3d", action="store_true")
    parser.add_argument("--json", default=None)
    parser.add_argument("--per-image", action="store_true",
                        help="also print each pair's PSNR/SSIM for the raw input, Gaussian sigma 2, 3, 4 px and the "
                             "--model networks (the per-image table of weights/cgrdn_hrstem/MODEL_CARD.md)")
    args = parser.parse_args(argv)

    from tfstem import baselines
    from tfstem.registry import load_model

    x, y = load_sfr_test_set()
    rows = []

    def add(name, restored, detail="", seconds=None):
        p, s = scores(restored, y)
        rows.append(dict(method=name, psnr=p, ssim=s, detail=detail, seconds=seconds))
        print(f"{name:40s} PSNR {p:7.3f} dB  SSIM {s:.4f}  {detail}", flush=True)

    add("raw input", x)
    best = max(((scores(baselines.gaussian(x, s), y), s) for s in GAUSSIAN_SIGMAS), key=lambda t: t[0][0])
    add("Gaussian blur", baselines.gaussian(x, best[1]), f"sigma {best[1]} px (best of {GAUSSIAN_SIGMAS} on this set)")
    # The weights and sigma factors of this oracle search are on each noisy image's min-max scale [0, 1] (the
    # scale of the recorded figures); baselines.tv / bm3d default to an estimate of the noise-free range.
    span = np.ptp(x, axis=(1, 2))  # [N, C]
    best = max(((scores(baselines.tv(x, w, data_range=span), y), w) for w in TV_WEIGHTS), key=lambda t: t[0][0])
    add("TV (Chambolle)", baselines.tv(x, best[1], data_range=span),
        f"weight {best[1]} (best of {TV_WEIGHTS} on this set)")
    if not args.no_bm3d:
        try:
            t0 = time.perf_counter()
            runs = [(scores(r, y), f, r) for f in BM3D_SIGMA_FACTORS
                    for r in [baselines.bm3d(x, sigma_scale=f, data_range=span)]]
            (_, factor, restored) = max(runs, key=lambda t: t[0][0])
            add("BM3D", restored, f"sigma {factor} x per-image estimate (best of {BM3D_SIGMA_FACTORS} on this set)",
                (time.perf_counter() - t0) / len(BM3D_SIGMA_FACTORS))
        except ImportError as error:
            print(f"BM3D skipped: {error}")
    model, source = _authors_model()
    if model is not None:
        add("r_em authors' CGRDN (sfr_hrstem)", _predict(model, x), source)
    else:
        print(f"authors' network skipped: {source}")
    per_image = [("raw input", x)] + [(f"Gaussian sigma {s:g} px", baselines.gaussian(x, s)) for s in (2.0, 3.0, 4.0)]
    for name in args.model:
        model = load_model(name)
        restored = _predict(model, x)
        add(f"tfstem {Path(name).stem} ({model.count_params():,} params)", restored, str(name))
        per_image.append((Path(name).stem, restored))

    print()
    print("| method | PSNR (dB) | SSIM | notes |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['method']} | {row['psnr']:.2f} | {row['ssim']:.4f} | {row['detail']} |")
    if args.per_image:
        print_per_image(per_image, y)
    if args.json:  # atomic: a temporary name, then a rename
        target = Path(args.json)
        partial = target.with_name(f".{target.name}.partial")
        from tfstem.outputs import write_json
        write_json(partial, rows, force=True)  # the partial rows of this run, replaced atomically after each
        os.replace(partial, target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
