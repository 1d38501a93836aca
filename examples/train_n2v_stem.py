"""Train dual-channel Noise2Void on the shipped simulated ADF + BF video and compare with baselines.

What it shows: self-supervised N2V (Thornley et al., npj Comput. Mater. 2025) trained on the noisy
frames alone (every other frame, the paper's sampling), then applied to full frames through the
deployable model, against the paper's baselines at the paper's settings: Gaussian (sigma 1 px), TV
(Chambolle, 1/lambda 1.0 ADF / 0.75 BF) and BM3D (sigma_psd 0.8 ADF / 0.4 BF, if installed), both on the
paper's intensity scale (the noise-free frame's range -> 1; see ``tfstem.baselines.tv``), scored against
the noise-free frames with PSNR, SSIM and the paper's N-RMSE per channel.

Writes into ``--output`` (default ``n2v_stem_run/``): ``model.keras``, ``denoised.npy``
(``float32 [N, H, W, C]``), ``comparison.png`` (frames and line profiles), ``fft.png`` (log FFT
magnitudes as the paper's Fig. 5), ``metrics.json`` and ``metrics.md`` (the table; written atomically). An
earlier training run in ``--output`` is continued with ``--resume`` or replaced with ``--force``, and its reports
with it; without either an existing run or report stops the script before any work.

Settings: the paper's network is 31 M parameters and was trained for ~1.5 h on a GPU. Where a GPU is
visible the default is ``--preset paper``; without one it is the CPU preset (``--preset cpu``): the same depth-4 U-Net with 16 first-level features, 64 px
patches, mask grid pitch 8 px (denser masks: more supervised pixels per step), a 5x5 replacement
window and Adam 4e-4, stopped by ``--max-minutes`` (preset ``cpu`` of models/n2v.json). ``--preset paper``
uses the paper's settings unchanged (patches capped at the frame size). On 2 shared CPU cores, 30 minutes
of the CPU preset reach the figures in benchmarks/RESULTS.md. ``--quick`` (CI) trains a tiny network for a
few steps on 8 frames (preset ``quick``).

A run whose model collapsed (an almost flat output, or one unrelated to the input: ``tfstem.fit``'s collapse
check) is reported as FAILED in the printout, ``metrics.md`` and ``metrics.json`` (``collapse``), and the
script exits with status 3 (the ``--quick`` run collapses: a tiny network after a few steps).

``--channels adf`` / ``bf`` trains a mono-channel model on one channel (the paper's mono-vs-dual
comparison: run the three with the same budget).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import tfstem.n2v  # noqa: E402
from tfstem import baselines, metrics, outputs  # noqa: E402
from tfstem.config import default_preset, paper_values  # noqa: E402

HERE = Path(__file__).resolve().parent
VIDEO = HERE / "data" / "n2v_dual_channel_video.npz"
REPORTS = ("metrics.json", "metrics.md")  # written atomically; replaced only with --force or --resume
NAMES = baselines.PAPER_CHANNELS  # ("ADF", "BF")
EXIT_COLLAPSED = 3  # the run finished but its model returns an almost flat image (or one unrelated to the input)


def load_video(path=VIDEO):
    with np.load(path) as data:
        return data["noisy"].astype(np.float32), data["clean"].astype(np.float32)


def restore_frames(model, frames, batch_size=8):
    """Full-frame prediction through the deployable model (tfstem.restore after the merge)."""
    try:
        from tfstem.restore import restore

        return np.asarray(restore(frames, model=model, batch_size=batch_size, verbose=False), np.float32)
    except ImportError:
        return np.asarray(model.predict(frames, batch_size=batch_size, verbose=0), np.float32)


def score(clean, estimate):
    """Mean PSNR/SSIM/N-RMSE over frames, per channel, against the noise-free frames."""
    table = {}
    for c in range(clean.shape[-1]):
        values = [(metrics.psnr(clean[i, ..., c], estimate[i, ..., c]), metrics.ssim(clean[i, ..., c], estimate[i, ..., c]),
                   metrics.nrmse(clean[i, ..., c], estimate[i, ..., c], normalization="paper"))
                  for i in range(clean.shape[0])]
        psnr, ssim, nrmse = np.mean(values, axis=0)
        table[c] = {"psnr": float(psnr), "ssim": float(ssim), "nrmse": float(nrmse)}
    return table


def figures(output, clean, results, channel_names, frame=0):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = ["clean"] + list(results)
    images = {"clean": clean, **results}
    rows = len(channel_names)
    fig, axes = plt.subplots(2 * rows, len(methods), figsize=(2.6 * len(methods), 4.6 * rows), squeeze=False)
    line = clean.shape[1] // 2
    for r, name in enumerate(channel_names):
        lo, hi = np.percentile(clean[frame, ..., r], [0.5, 99.5])
        for m, method in enumerate(methods):
            ax = axes[2 * r, m]
            ax.imshow(images[method][frame, ..., r], cmap="gray", vmin=lo, vmax=hi)
            ax.axhline(line, color="tab:green" if r == 0 else "tab:blue", lw=0.6)
            ax.set_title(f"{name} {method}", fontsize=8)
            ax.axis("off")
            prof = axes[2 * r + 1, m]
            prof.plot(clean[frame, line, :, r], color="0.6", lw=0.8, label="clean")
            prof.plot(images[method][frame, line, :, r], lw=0.8, label=method)
            prof.set_ylim(lo - 0.3 * (hi - lo), hi + 0.3 * (hi - lo))
            prof.tick_params(labelsize=6)
    fig.tight_layout()
    fig.savefig(output / "comparison.png", dpi=110)
    plt.close(fig)
    fig, axes = plt.subplots(rows, len(methods), figsize=(2.6 * len(methods), 2.6 * rows), squeeze=False)
    for r, name in enumerate(channel_names):
        spectra = {m: np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(images[m][frame, ..., r] - images[m][frame, ..., r].mean()))))
                   for m in methods}
        vmax = max(s.max() for s in spectra.values())
        for m, method in enumerate(methods):
            axes[r, m].imshow(spectra[method], cmap="inferno", vmin=0, vmax=vmax)
            axes[r, m].set_title(f"{name} |FFT| {method}", fontsize=8)
            axes[r, m].axis("off")
    fig.tight_layout()
    fig.savefig(output / "fft.png", dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="n2v_stem_run", help="output directory")
    parser.add_argument("--preset", choices=("cpu", "paper"), default=None,
                        help="default: paper where a GPU is visible, cpu otherwise (announced in one line)")
    parser.add_argument("--quick", action="store_true", help="tiny network, a few steps, 8 frames (CI)")
    parser.add_argument("--max-minutes", type=float, default=30.0, help="training wall-clock budget")
    parser.add_argument("--steps", type=int, default=None,
                        help="stop after this many training steps (reproducible on a loaded machine; the "
                        "wall-clock budget still applies unless --max-minutes is raised)")
    parser.add_argument("--channels", choices=("both", "adf", "bf"), default="both")
    parser.add_argument("--no-bm3d", action="store_true", help="skip the BM3D baseline (slow on a CPU)")
    parser.add_argument("--eval-every", type=int, default=4, help="score every k-th frame (odd frames first)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="replace an earlier training run in the output")
    parser.add_argument("--resume", action="store_true", help="continue the training run in the output (e.g. after "
                        "--max-minutes stopped it)")
    args = parser.parse_args(argv)

    noisy, clean = load_video()
    if args.quick:
        noisy, clean = noisy[:8], clean[:8]
    selection = {"both": [0, 1], "adf": [0], "bf": [1]}[args.channels]
    noisy, clean = noisy[..., selection], clean[..., selection]
    names = [NAMES[c] for c in selection]
    chosen = "quick" if args.quick else args.preset  # None: tfstem.fit picks the machine's preset and says so
    preset = chosen or default_preset("n2v")
    overrides = {"patch_size": min(paper_values("n2v")["patch_size"], noisy.shape[1])} if preset == "paper" else {}
    output = Path(args.output)
    # The reports describe the training run in output/training: replaced with it (--force) or updated with it
    # (--resume), otherwise an earlier report is refused before any work, as the run folder is.
    replace_reports = args.force or args.resume
    try:
        for name in REPORTS:
            outputs.check_new_file(output / name, force=replace_reports, what="report")
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    output.mkdir(parents=True, exist_ok=True)

    result = tfstem.n2v.fit(noisy, preset=chosen, seed=args.seed, max_minutes=args.max_minutes, steps=args.steps,
                            output_dir=output / "training", force=args.force, resume=args.resume, verbose=True,
                            **overrides)
    model, config, info = result.model, result.config, result.extra
    model.save(output / "model.keras")
    start = time.perf_counter()
    denoised = restore_frames(model, noisy)
    predict_ms = 1000 * (time.perf_counter() - start) / noisy.shape[0]
    np.save(output / "denoised.npy", denoised)

    evaluate = np.arange(noisy.shape[0])[1::2][:: args.eval_every] if not args.quick else np.arange(2)
    # The paper's intensity scale: each noise-free frame's range -> 1 (simulations; the PSNR's R as well).
    ranges = clean[evaluate].max(axis=(1, 2)) - clean[evaluate].min(axis=(1, 2))
    results = {
        "raw": noisy[evaluate],
        "gaussian": baselines.gaussian(noisy[evaluate], 1.0),
        "tv": baselines.tv(noisy[evaluate], [baselines.TV_WEIGHT_PAPER[n] for n in names], data_range=ranges),
    }
    if not args.no_bm3d:
        try:
            results["bm3d"] = baselines.bm3d(noisy[evaluate], [baselines.BM3D_SIGMA_PAPER[n] for n in names],
                                             data_range=ranges)
        except ImportError as error:
            print(f"BM3D skipped: {error}")
    n2v_label = "n2v (FAILED: collapsed)" if result.collapsed else "n2v"
    results[n2v_label] = denoised[evaluate]
    table = {method: score(clean[evaluate], estimate) for method, estimate in results.items()}
    report = {
        "channels": names, "config": config.to_dict(), "frames_scored": evaluate.tolist(),
        "verdict": "FAILED: collapsed output" if result.collapsed else "trained", "collapse": info["collapse"],
        "training": {"steps": result.steps, "seconds": result.seconds, "stopped": result.stopped,
                     **{k: info[k] for k in ("images_per_second", "best_epoch", "best_val_loss")}},
        "predict_ms_per_frame": predict_ms, "frame_shape": list(noisy.shape[1:]),
        "metrics": {m: {names[c]: v for c, v in t.items()} for m, t in table.items()},
    }
    outputs.write_json(output / "metrics.json", report, force=replace_reports)
    lines = ["| method | " + " | ".join(f"{n} PSNR (dB) | {n} SSIM | {n} N-RMSE" for n in names) + " |",
             "|---" * (1 + 3 * len(names)) + "|"]
    for method, t in table.items():
        cells = " | ".join(f"{t[c]['psnr']:.2f} | {t[c]['ssim']:.3f} | {t[c]['nrmse']:.3f}" for c in range(len(names)))
        lines.append(f"| {method} | {cells} |")
    if result.collapsed:
        lines += ["", f"**{info['collapse']['message']}**"]
    outputs.write_text(output / "metrics.md", "\n".join(lines) + "\n", force=replace_reports)
    print("\n".join(lines))
    print(f"training: {result.steps} steps in {result.seconds:.0f} s; prediction {predict_ms:.1f} ms per "
          f"{noisy.shape[1]}x{noisy.shape[2]} frame")
    figures(output, clean[evaluate], results, names)
    print(f"wrote {output}/")
    if result.collapsed:  # never presented as a result: the table above scores a failed model
        print(info["collapse"]["message"])
        return EXIT_COLLAPSED
    print(f"structure check passed: the output carries {info['collapse']['structure']:.0%} of the smoothed "
          "input's structure")
    return 0


if __name__ == "__main__":
    sys.exit(main())
