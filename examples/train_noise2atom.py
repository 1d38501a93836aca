"""Train Noise2Atom on a noisy STEM movie and compare it with the raw and Gaussian-blurred frames.

What it shows: the unsupervised Noise2Atom denoiser (Wang et al., Appl. Microsc. 50:23, 2020) trained on
the shipped simulated HAADF series (Pt-like atoms and clusters on amorphous carbon, ~1.5 e/px, Poisson noise,
drift; ``examples/make_noise2atom_series.py``) or on your own series (``--series``), through the one training
call of every method, :func:`tfstem.noise2atom.fit` (= ``tfstem.fit("noise2atom", ...)``). It writes the run
folder (``run/``: ``config.json``, ``history.json``, ``checkpoints/``, ``logs/``, ``model.keras``), the denoised
frames (``denoised.tif``), the loss curves (``losses.png``), a side-by-side panel (``side_by_side.png``) and
prints the consecutive structural similarity (CSS, Eq. 10) of raw, Gaussian (sigma = 1 px) and Noise2Atom
frames, plus PSNR against the noise-free frames when they exist (``<series>_truth.npz``): against atoms +
carbon support (the noise-free frames) and against the atoms alone (what Noise2Atom is meant to output: pure
Gaussian peaks, background removed). On the shipped series a perfect Noise2Atom output, the atoms-only
reference itself, scores 32.5 dB against atoms + carbon, against 28.1 dB for Gaussian sigma = 1 px and
26.4 dB for the raw frames.

What the full-length run gives: see ``benchmarks/RESULTS.md`` (paper settings are the default;
``--preset cpu --max-minutes 30`` is the 2-core CPU run reported there).
A run whose model collapsed (an almost flat output, or one unrelated to the input: ``tfstem.fit``'s collapse
check) is reported as FAILED, in the printout and in ``report.json`` (``collapse``), and the script exits with
status 3; the files are still written so that the failure can be inspected.
An earlier run in ``OUTPUT/run`` is continued with ``--resume`` (same series, seed and options) or replaced
with ``--force``, and ``report.json`` (written atomically) with it; without either an existing run or report
stops the script before any work.

    python examples/train_noise2atom.py [--preset paper|released|cpu|quick] [--epochs N] [--max-minutes M]
                                        [--series PATH] [--set KEY=VALUE ...] [--resume | --force] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "noise2atom_series.tif"


def affine_psnr(reference, test):
    """PSNR after the least-squares affine map ``a * test + b`` onto ``reference`` (whole series).

    Noise2Atom outputs the clean domain [0, 1], not electrons per pixel; the affine fit removes the unit and
    offset difference so that raw, blurred and denoised frames are compared on the reference's scale.
    Data range: the reference's max - min.
    """
    ref = np.asarray(reference, np.float64).ravel()
    x = np.asarray(test, np.float64).ravel()
    design = np.stack([x, np.ones_like(x)], axis=1)
    coef, *_ = np.linalg.lstsq(design, ref, rcond=None)
    mse = np.mean((design @ coef - ref) ** 2)
    return float(10 * np.log10((ref.max() - ref.min()) ** 2 / mse))


def read_series(path):
    """The noisy series in ``path`` as float32 ``[T, H, W]`` (any format :func:`tfstem.io.read_series` reads)."""
    from tfstem import io

    return np.asarray(io.read_series(path), np.float32)


EXIT_COLLAPSED = 3  # the run finished but its model returns an almost flat image (or one unrelated to the input)


def main(argv=None):
    from tfstem.config import default_preset, load_config, parse_overrides, preset_names

    presets = preset_names("noise2atom")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", default=str(DATA), help="noisy series [T, H, W] (.tif, .npy, ...)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default: the preset's; paper 100)")
    parser.add_argument("--max-minutes", type=float, default=None, help="wall-clock training budget")
    parser.add_argument("--preset", default=None, choices=presets,
                        help="preset of models/noise2atom.json (default: paper where a GPU is visible, cpu otherwise; "
                             "--quick: quick)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", default="noise2atom_output", help="output directory")
    parser.add_argument("--quick", action="store_true",
                        help="CI smoke run: the quick preset (tiny net, 64 px patches, 2 iterations) on 4 frames "
                             "of 96 x 96 px")
    parser.add_argument("--resume", action="store_true",
                        help="continue the earlier run in OUTPUT/run (same series, seed and options)")
    parser.add_argument("--force", action="store_true", help="start afresh over an earlier run in OUTPUT/run")
    parser.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                        help="override one option of the preset, VALUE read as JSON when it parses "
                             "(e.g. --set lowpass_kernel=code_intent --set learning_rate=1e-4); repeatable")
    args = parser.parse_args(argv)
    if args.quick and args.preset not in (None, "quick"):
        parser.error(f"--quick runs the quick preset; drop --preset {args.preset} or --quick.")
    chosen = "quick" if args.quick else args.preset  # None: tfstem.fit picks the machine's preset and says so
    preset = chosen or default_preset("noise2atom")
    try:
        overrides = parse_overrides(args.set)
        seed = overrides.pop("seed", args.seed)  # --set seed=S works like --seed S
        config = load_config("noise2atom", preset, **overrides, seed=seed)
    except ValueError as error:
        parser.error(str(error))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import tifffile

    import tfstem.noise2atom
    from tfstem import baselines, metrics, outputs

    series = read_series(args.series)
    truth_path = Path(args.series).with_name(Path(args.series).stem + "_truth.npz")
    truth = np.load(truth_path) if truth_path.exists() else None
    if args.quick:
        series, truth = series[:4, :96, :96], None
    out = Path(args.output)
    # report.json describes the run in OUTPUT/run: replaced with it (--force) or updated with it (--resume),
    # otherwise an earlier report is refused before any work, as the run folder is.
    replace_report = args.force or args.resume
    try:
        outputs.check_new_file(out / "report.json", force=replace_report, what="report")
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"series {series.shape}, preset {preset}: features {config.features}, "
          f"residual blocks {config.num_residual_blocks}, batch {config.batch_size}, patches {config.patch_size}")
    try:
        result = tfstem.noise2atom.fit(series, preset=chosen, output_dir=out / "run", resume=args.resume,
                                       force=args.force, epochs=args.epochs, max_minutes=args.max_minutes,
                                       seed=seed, **overrides)
    except (OSError, ValueError) as error:  # an earlier run, an unwritable folder, a bad series: one line
        print(f"error: {error}", file=sys.stderr)
        return 2
    corr = result.extra["mapping_correlation"]  # fit warns when it is negative (a reverted mapping)
    collapse = result.extra["collapse"]  # fit warns when the output lost the input's structure

    denoised = result.model.predict(series[..., None], batch_size=4, verbose=0)[..., 0]
    blurred = baselines.gaussian(series, sigma=1.0, stack=True)
    tifffile.imwrite(out / "denoised.tif", denoised.astype(np.float32))

    iterations, seconds = result.steps, result.history["seconds"]
    report = {"iterations": iterations, "seconds": result.seconds, "stopped": result.stopped,
              "seconds_per_iteration": result.seconds / max(iterations, 1),
              # the first iteration includes tf.function tracing; the median after it is the steady state
              "first_iteration_seconds": seconds[0] if seconds else None,
              "median_seconds_per_iteration": float(np.median(np.diff(seconds))) if len(seconds) > 2 else None,
              "input_output_correlation": corr,
              "verdict": "FAILED: collapsed output" if result.collapsed else "trained",
              "collapse": collapse,
              "css": {"raw": metrics.css(series), "gaussian_sigma1": metrics.css(blurred),
                      "noise2atom": metrics.css(denoised)}}
    if truth is not None:
        for key in ("clean", "atoms"):
            ref = truth[key].astype(np.float32)
            report[f"psnr_vs_{key}"] = {name: affine_psnr(ref, img) for name, img in
                                        (("raw", series), ("gaussian_sigma1", blurred), ("noise2atom", denoised))}
        report["css"]["noise_free"] = metrics.css(truth["clean"].astype(np.float32))
        # Ceiling against atoms + carbon: the ideal Noise2Atom output (the atoms alone) scored like the others.
        report["psnr_vs_clean"]["atoms_only_reference"] = affine_psnr(truth["clean"].astype(np.float32),
                                                                      truth["atoms"].astype(np.float32))
    outputs.write_json(out / "report.json", report, force=replace_report)

    losses = result.history["losses"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    for ax, key in zip(axes, ("gan", "cycle", "lfc")):
        # None: a step that skipped the term (the adversarial warm-up of the cpu preset); a gap in the curve
        ax.plot(result.history["step"], [np.nan if v is None else v for v in losses[key]], lw=0.7)
        ax.set_title({"gan": "W(-1, D(Ms2c(s)))", "cycle": "L_cycle (Eq. 6)", "lfc": "L_lfc (Eq. 7)"}[key])
        ax.set_xlabel("iteration")
    fig.tight_layout()
    fig.savefig(out / "losses.png", dpi=100)
    panels = [("raw", series[0]), ("Gaussian sigma=1", blurred[0]),
              ("Noise2Atom (FAILED: collapsed)" if result.collapsed else "Noise2Atom", denoised[0])]
    if truth is not None:
        panels.append(("noise-free atoms (target)", truth["atoms"][0].astype(np.float32)))
        panels.append(("noise-free atoms + carbon", truth["clean"][0].astype(np.float32)))
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4))
    for ax, (title, img) in zip(axes, panels):
        ax.imshow(img, cmap="inferno")
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out / "side_by_side.png", dpi=100)

    print(f"{iterations} iterations in {result.seconds:.0f} s ({report['seconds_per_iteration']:.2f} s each, "
          f"first {report['first_iteration_seconds'] or 0:.0f} s, median {report['median_seconds_per_iteration'] or 0:.2f} s), "
          f"stopped: {result.stopped}; input/output correlation {corr:.2f}")
    print("CSS  raw {raw:.4f}  gaussian(1) {gaussian_sigma1:.4f}  noise2atom {noise2atom:.4f}".format(**report["css"]))
    for key in ("atoms", "clean"):
        if f"psnr_vs_{key}" in report:
            print(f"PSNR vs {'atoms only' if key == 'atoms' else 'atoms + carbon'} (affine-fitted)  " + "  ".join(
                f"{k} {v:.2f} dB" for k, v in report[f"psnr_vs_{key}"].items()))
    print(f"wrote {out}/denoised.tif, losses.png, side_by_side.png, report.json and the run folder {out}/run "
          "(model.keras, config.json, history.json, checkpoints/, logs/)")
    if result.collapsed:  # never presented as a result: the figures above describe a failed model
        print(collapse["message"])
        return EXIT_COLLAPSED
    print(f"structure check passed: the output carries {collapse['structure']:.0%} of the smoothed input's structure")
    return 0


if __name__ == "__main__":
    sys.exit(main())
