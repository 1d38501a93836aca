"""bfloat16 against float32 inference: agreement, quality against clean targets and speed (issue 18's rule).

Usage::

    python benchmarks/precision_agreement.py [--frames 8] [--crop 256] [--n2v-model model.keras]
                                             [--n2v-steps 300]

For each of tk-r-em's six test sets (``tfstem.r_em.load_test_data``: hrstem, lrstem, hrtem, lrtem, hrsem,
lrsem) with its authors' model (``r_em/<name>``), and for the shipped dual-channel N2V video
(``examples/data/n2v_dual_channel_video.npz``) with an N2V model, it restores ``--frames`` frames (centre
crops of at most ``--crop`` pixels, to keep the run cheap) with ``tfstem.restore(..., precision=...)`` in
float32 and in bfloat16 and prints one row per set:

* ``bf16 vs fp32``: PSNR of the bfloat16 output against the float32 output, the float32 output's range as
  the peak (per frame and channel, averaged);
* PSNR and SSIM of each against the clean targets (``tfstem.metrics``, the clean frame's range as the peak)
  and the change bfloat16 - float32 (``-`` where a set has no clean targets: tk-r-em ships none for hrtem);
* the same change with the squared errors pooled over the set's frames (``pooled change``), which one frame
  restored to ~90 dB in float32 cannot dominate (the rule uses the mean of per-frame PSNRs);
* the warm time per frame of each (one warm-up call first).

No trained N2V model ships with tfstem: without ``--n2v-model`` one is trained here on the video's noisy
frames with ``tfstem.n2v.fit(preset="cpu", steps=--n2v-steps)`` (the CPU preset's 16-feature U-Net; about
1.5 min on 2 cores), a reduced-scale stand-in for the paper's 64-feature network.

The rule it decides (issue 18): bfloat16 becomes ``precision="auto"``'s choice for a model family only if
``bf16 vs fp32`` >= 45 dB and ``|change in PSNR|`` < 0.05 dB on every set of that family
(``tfstem.precision.BFLOAT16_BY_DEFAULT``). The last lines print the verdict per family.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT / "examples" / "data" / "n2v_dual_channel_video.npz"
R_EM_SETS = ("hrstem", "lrstem", "hrtem", "lrtem", "hrsem", "lrsem")


def _crop(frames, size):
    """Centre crops of at most ``size`` x ``size`` of ``[N, H, W, C]`` frames."""
    _, height, width, _ = frames.shape
    top, left = max(0, (height - size) // 2), max(0, (width - size) // 2)
    return frames[:, top: top + size, left: left + size]


def _per_channel_mean(metric, references, tests):
    """``metric(reference, test)`` averaged over frames and channels of ``[N, H, W, C]`` arrays."""
    return float(np.mean([metric(references[i, ..., c], tests[i, ..., c])
                          for i in range(references.shape[0]) for c in range(references.shape[-1])]))


def _timed_restore(frames, model, precision):
    """The restored frames and the warm seconds per frame (a one-frame warm-up call first)."""
    from tfstem import restore

    restore(frames[:1], model=model, precision=precision, verbose=False)
    start = time.perf_counter()
    out = restore(frames, model=model, precision=precision, verbose=False)
    return out, (time.perf_counter() - start) / frames.shape[0]


def measure(name, model, noisy, clean):
    """One table row (a dict) for ``noisy`` (and ``clean`` or None) ``float32 [N, H, W, C]``."""
    from tfstem import metrics

    fp32, fp32_seconds = _timed_restore(noisy, model, "float32")
    bf16, bf16_seconds = _timed_restore(noisy, model, "bfloat16")
    row = dict(name=name, frames=noisy.shape[0], shape=noisy.shape[1:3], fp32_s=fp32_seconds, bf16_s=bf16_seconds,
               agreement=_per_channel_mean(metrics.psnr, fp32, bf16))
    if clean is not None:
        for label, out in (("fp32", fp32), ("bf16", bf16)):
            row[f"{label}_psnr"] = _per_channel_mean(metrics.psnr, clean, out)
            row[f"{label}_ssim"] = _per_channel_mean(metrics.ssim, clean, out)
        # the same change with the squared errors pooled over the set (one frame that float32 restores to
        # ~90 dB cannot dominate it as it can dominate the mean of per-frame PSNRs)
        row["pooled_change"] = 10 * np.log10(_mse(clean, fp32) / _mse(clean, bf16))
    return row


def _mse(reference, test):
    return float(np.mean((test.astype(np.float64) - reference.astype(np.float64)) ** 2))


def _n2v_model(path, steps):
    import tfstem.n2v

    if path:
        from tfstem.registry import load_model

        return load_model(path), f"N2V model {path}"
    with np.load(VIDEO) as data:
        noisy = data["noisy"].astype(np.float32)
    with tempfile.TemporaryDirectory() as output_dir:
        result = tfstem.n2v.fit(noisy, preset="cpu", seed=0, steps=steps, max_minutes=10,
                                output_dir=Path(output_dir) / "training", verbose=False)
    return result.model, f"N2V cpu preset trained here for {result.steps} steps ({result.seconds:.0f} s)"


def _cell(row, key, fmt):
    return format(row[key], fmt) if key in row else "-"


def print_table(rows):
    print("| set | frames | size | bf16 vs fp32 PSNR (dB) | fp32 PSNR | bf16 PSNR | change (dB) | fp32 SSIM | "
          "bf16 SSIM | change | pooled change (dB) | fp32 s/frame | bf16 s/frame | speed-up |")
    print("|---" * 14 + "|")
    for row in rows:
        change = (f"{row['bf16_psnr'] - row['fp32_psnr']:+.3f}" if "fp32_psnr" in row else "-")
        ssim_change = (f"{row['bf16_ssim'] - row['fp32_ssim']:+.4f}" if "fp32_ssim" in row else "-")
        print(f"| {row['name']} | {row['frames']} | {row['shape'][0]}x{row['shape'][1]} | {row['agreement']:.1f} | "
              f"{_cell(row, 'fp32_psnr', '.2f')} | {_cell(row, 'bf16_psnr', '.2f')} | {change} | "
              f"{_cell(row, 'fp32_ssim', '.4f')} | {_cell(row, 'bf16_ssim', '.4f')} | {ssim_change} | "
              f"{_cell(row, 'pooled_change', '+.4f')} | "
              f"{row['fp32_s']:.3f} | {row['bf16_s']:.3f} | {row['fp32_s'] / row['bf16_s']:.2f}x |")


def verdict(rows):
    """``{family: (passes, reason)}`` under issue 18's rule."""
    from tfstem.precision import MAX_QUALITY_CHANGE_DB, MIN_AGREEMENT_DB

    families = {}
    for row in rows:
        families.setdefault(row["family"], []).append(row)
    out = {}
    for family, members in families.items():
        worst = min(r["agreement"] for r in members)
        changes = [abs(r["bf16_psnr"] - r["fp32_psnr"]) for r in members if "fp32_psnr" in r]
        largest = max(changes) if changes else 0.0
        pooled = max([abs(r["pooled_change"]) for r in members if "pooled_change" in r] or [0.0])
        passes = worst >= MIN_AGREEMENT_DB and largest < MAX_QUALITY_CHANGE_DB
        out[family] = (passes, f"worst agreement {worst:.1f} dB (needs >= {MIN_AGREEMENT_DB:g}), largest "
                               f"|PSNR change| {largest:.3f} dB (needs < {MAX_QUALITY_CHANGE_DB:g}; "
                               f"pooled over each set's pixels: {pooled:.4f} dB)")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8, help="frames per set (default 8)")
    parser.add_argument("--crop", type=int, default=256, help="centre crop side in pixels (default 256)")
    parser.add_argument("--sets", nargs="+", default=list(R_EM_SETS) + ["n2v"], help="which rows to run")
    parser.add_argument("--n2v-model", default=None, help="a trained N2V .keras model (default: train one here)")
    parser.add_argument("--n2v-steps", type=int, default=300, help="training steps of the stand-in N2V model")
    args = parser.parse_args(argv)

    from tfstem.precision import architecture, has_fast_bfloat16
    from tfstem.r_em import load_test_data
    from tfstem.registry import load_model

    print(f"native bfloat16 on this machine: {has_fast_bfloat16()}; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    rows = []
    for name in args.sets:
        if name == "n2v":
            model, note = _n2v_model(args.n2v_model, args.n2v_steps)
            print(note, flush=True)
            with np.load(VIDEO) as data:
                noisy, clean = data["noisy"].astype(np.float32), data["clean"].astype(np.float32)
            noisy, clean = noisy[1::2][: args.frames], clean[1::2][: args.frames]  # frames it was not trained on
            label = "n2v video"
        else:
            model = load_model(f"r_em/{name}")
            noisy, clean = load_test_data(name)
            noisy = noisy[: args.frames]
            clean = None if clean is None else clean[: args.frames]
            label = f"r_em/{name}"
        noisy = _crop(noisy, args.crop)
        clean = None if clean is None else _crop(clean, args.crop)
        row = measure(label, model, noisy, clean)
        row["family"] = architecture(model) or "other"
        rows.append(row)
        print(f"{label}: agreement {row['agreement']:.1f} dB", flush=True)
    print()
    print_table(rows)
    print()
    for family, (passes, reason) in verdict(rows).items():
        print(f"{family}: bfloat16 {'PASSES' if passes else 'FAILS'} the rule: {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
