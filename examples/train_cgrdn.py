"""Train a CGRDN restorer for HR-STEM with the r_em losses, then check it on held-out pairs.

What it shows: ``tfstem.r_em.fit`` (the same as ``tfstem.fit("r_em", ...)`` and ``tfstem train r_em``) with a
preset of ``models/r_em.json`` (``--preset cpu`` = the paper's conditional relativistic patch critic and every
loss of Eq. 13-14 with the reduced CGRDN; ``released`` = the authors' L1 x 10, GAN off) plus a few options
(``patch_size``, ``learning_rate``, ...), trained on synthetic (distorted, clean) pairs; the pixel loss falls
and the validation PSNR (``validation_data``, scored at each epoch's end) rises; the run folder holds the
generator (``model.keras``) that ``tfstem.restore`` and ``tfstem export`` take.

Data: synthetic HR-STEM pairs of ``tfstem.synth`` made on the fly (``data=None``) when that module is
installed; otherwise this script's own small HR-STEM-like generator (:func:`lattice_pairs`: Gaussian atomic
columns on a random rotated lattice, Poisson shot noise at a random dose, Gaussian detector noise and
scan-line jitter), which is enough to show the method but is not the r_em data generator.

Full-length run (default options on a machine without a GPU: the ``cpu`` preset, 64x64 patches, 300 steps in 3 epochs, tfstem.synth
pairs) on a 2-core CPU shared with other jobs: 110 s; the L1 term fell 4.7x (3.19 -> 0.69, means of the first
and last 10 steps) and the validation PSNR was 11.0 dB for the input, 17.0 / 18.0 / 17.6 dB after epochs
1 / 2 / 3 (the check: the L1 term falls and the last epoch beats the first). ``--quick`` (CI) runs 12 steps of the ``quick`` preset's tiny network and only checks that
everything works.

    python examples/train_cgrdn.py -o runs/cgrdn_example
    python examples/train_cgrdn.py --quick -o /tmp/cgrdn_quick
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def lattice_pairs(n, size, *, seed=0):
    """HR-STEM-like (distorted, clean) pairs, float32 ``[n, size, size, 1]`` in counts (example data only).

    Clean: Gaussian columns (sigma 0.8-1.6 px, two species) on a rotated lattice (spacing 5-9 px) over a
    smooth background. Distorted: Poisson noise at a dose of 2-20 counts per column peak, Gaussian
    detector noise (std 0.5-2 counts) and a random horizontal shift of each scan line (std 0-0.6 px).
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    clean = np.empty((n, size, size, 1), np.float32)
    distorted = np.empty_like(clean)
    for i in range(n):
        spacing = rng.uniform(5, 9)
        angle = rng.uniform(0, np.pi)
        sigma = rng.uniform(0.8, 1.6)
        basis = spacing * np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
        k = int(size / spacing) + 3
        grid = np.stack(np.meshgrid(np.arange(-k, k), np.arange(-k, k)), -1).reshape(-1, 2)
        centres = grid @ basis + rng.uniform(0, spacing, 2) + size / 2
        keep = np.all((centres > -4) & (centres < size + 4), axis=1)
        centres = centres[keep]
        amplitude = np.where(rng.random(len(centres)) < 0.5, 1.0, rng.uniform(0.3, 0.7))
        image = 0.1 + 0.05 * np.sin(xx / size * rng.uniform(1, 4) + rng.uniform(0, 6))
        for (cx, cy), a in zip(centres, amplitude):
            image = image + a * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2))
        dose = rng.uniform(2, 20)
        clean[i, ..., 0] = dose * image
        jitter = rng.normal(0, rng.uniform(0, 0.6), size)
        shifted = np.stack([np.interp(np.arange(size) + jitter[r], np.arange(size), clean[i, r, :, 0])
                            for r in range(size)])
        noisy = rng.poisson(np.clip(shifted, 0, None)) + rng.normal(0, rng.uniform(0.5, 2), shifted.shape)
        distorted[i, ..., 0] = noisy
    return distorted, clean


def _validation_pairs(patch):
    """Held-out pairs (counts) and whether the training pairs come from tfstem.synth."""
    try:
        from tfstem.r_em.data import SYNTH_INTENSITY_SCALE
        from tfstem.synth import pairs as synth_pairs
    except ImportError:
        return lattice_pairs(8, patch, seed=2), False
    held = next(iter(synth_pairs("hrstem", size=patch, batch_size=8, seed=12345)))
    return tuple(np.asarray(t) * SYNTH_INTENSITY_SCALE for t in held), True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="runs/cgrdn_example", help="the run folder")
    parser.add_argument("--force", action="store_true", help="replace an earlier run in the output folder")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--preset", choices=("cpu", "released", "paper"), default=None,
                        help="default: paper where a GPU is visible, cpu otherwise (announced in one line)")
    parser.add_argument("--patch-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--quick", action="store_true", help="12 steps of the quick preset's tiny network (CI)")
    parser.add_argument("--json", default=None,
                        help="write the summary figures to this JSON file (an existing one only with --force)")
    args = parser.parse_args(argv)

    import tfstem.r_em
    from tfstem import outputs
    from tfstem.config import default_preset

    if args.json:
        try:  # before the training, as for the run folder
            outputs.check_new_file(args.json, force=args.force, what="--json")
        except OSError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2

    chosen = "quick" if args.quick else args.preset  # None: tfstem.fit picks the machine's preset and says so

    steps = 12 if args.quick else args.steps
    patch = 32 if args.quick else args.patch_size
    (x_val, y_val), synthetic = _validation_pairs(patch)
    data = None if synthetic else lattice_pairs(64, 2 * patch, seed=1)
    options = dict(batch_size=args.batch_size, patch_size=patch, learning_rate=args.learning_rate,
                   critic_learning_rate=args.learning_rate, warmup_steps=min(20, steps // 2),
                   epochs=3, steps_per_epoch=max(steps // 3, 1), checkpoint_every=0, log_every=1,
                   image_every=max(steps // 3, 1))
    if not args.quick:
        options["critic_features"] = 16  # the critic at a quarter of pix2pix's width: CPU time goes to the CGRDN
    t0 = time.perf_counter()
    result = tfstem.r_em.fit(data, preset=chosen, output_dir=args.output,
                             force=args.force, steps=steps, validation_data=(x_val, y_val), **options)
    wall = time.perf_counter() - t0
    l1 = np.asarray(result.history["losses"]["l1"])
    pixel = np.asarray(result.history["losses"]["pixel_wise"])
    window = max(1, min(10, steps // 4))
    curve = [(e["step"], e["val_psnr"]) for e in result.history["epochs"]]
    summary = {
        "data": "tfstem.synth.pairs" if synthetic else "examples/train_cgrdn.py:lattice_pairs",
        "preset": chosen or default_preset("r_em"), "steps": result.steps, "patch_size": patch,
        "batch_size": result.config.batch_size, "gan": result.config.gan,
        "parameters": result.model.count_params(), "wall_s": round(wall, 1),
        "l1_first": float(l1[:window].mean()), "l1_last": float(l1[-window:].mean()),
        "pixel_loss_first": float(pixel[:window].mean()), "pixel_loss_last": float(pixel[-window:].mean()),
        "val_psnr_input": result.extra["validation"]["psnr_input"], "val_psnr_curve": curve,
        "val_ssim_end": result.extra["validation"]["ssim"], "model": str(result.run_folder / "model.keras"),
    }
    summary["l1_ratio"] = summary["l1_last"] / summary["l1_first"]
    print(json.dumps(summary, indent=2))
    if args.json:
        outputs.write_json(args.json, summary, force=args.force)
    if args.quick:
        ok = bool(np.all(np.isfinite(pixel))) and len(pixel) == steps and result.stopped == "completed"
    else:
        ok = summary["l1_ratio"] < 1.0 and curve[-1][1] > curve[0][1]
    print("OK" if ok else "CHECK FAILED: the L1 term did not fall or the validation PSNR did not rise")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
