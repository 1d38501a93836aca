"""`make demo`: restore example STEM frames with the r_em/hrstem CGRDN and show input | restored.

What it shows: the whole user path on real data. It takes the r_em authors' example frames shipped in
tk-r-em (one experimental HRSTEM frame, 768 x 768, and four simulated 256 x 256 HRSTEM frames with
their noise-free references), writes them as TIFF inputs, restores them with the ``tfstem restore``
command, reports PSNR/SSIM against the references, and draws a side-by-side PNG.

Outputs (under ``-o``/``--output-dir``, default ``demo_output/``): ``inputs/*.tif``,
``restored/*_restored.tif``, ``side_by_side.png``, ``metrics.txt``. Takes about a minute on 2 CPU cores.
The folder is written under a temporary name and renamed into place when complete; an existing one is
replaced (only then) with ``--force``, otherwise the demo stops with one line before any work.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def write_inputs(folder: Path, n_simulated: int):
    """Write the example frames as TIFF files; return their paths and the references of the simulated ones."""
    from tfstem import io, r_em

    folder.mkdir(parents=True, exist_ok=True)
    experimental = _experimental_frame()
    x, y = r_em.load_test_data("hrstem")
    paths = [io.write_image(folder / "experimental_hrstem.tif", experimental)]
    references = {}
    for i in range(n_simulated):
        path = io.write_image(folder / f"simulated_hrstem_{i}.tif", x[i, ..., 0])
        paths.append(path)
        references[path.stem] = y[i, ..., 0]
    return paths, references


def _experimental_frame():
    import h5py

    from tfstem.r_em import r_em_package_dir

    with h5py.File(r_em_package_dir() / "test_data" / "exp_hrstem.h5", "r") as handle:
        return np.asarray(handle["x"][0, 0], dtype=np.float32).T  # MATLAB order -> [H, W]


def side_by_side(pairs, target: Path):
    """Save a PNG with one row per (title, input, restored)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(pairs), 2, figsize=(8, 4 * len(pairs)), squeeze=False)
    for row, (title, noisy, clean) in zip(axes, pairs):
        for ax, image, label in zip(row, (noisy, clean), ("input", "restored (r_em/hrstem)")):
            lo, hi = np.percentile(image, [0.5, 99.5])
            ax.imshow(image, cmap="gray", vmin=lo, vmax=hi)
            ax.set_title(f"{title}: {label}", fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    plt.close(fig)


def run_demo(folder: Path, n_simulated: int) -> list:
    """Write inputs, restored frames, the PNG and metrics.txt into the (new, empty) ``folder``; return the lines."""
    from tfstem import io, outputs
    from tfstem.cli import main as tfstem_main
    from tfstem.metrics import psnr, ssim

    inputs, references = write_inputs(folder / "inputs", n_simulated)
    restored_dir = folder / "restored"
    status = tfstem_main(["restore", *map(str, inputs), "-o", str(restored_dir), "--model", "r_em/hrstem"])
    if status != 0:
        raise RuntimeError(f"tfstem restore exited with status {status}")

    lines, pairs = [], []
    for path in inputs:
        noisy = io.read_image(path).data
        clean = io.read_image(restored_dir / f"{path.stem}_restored.tif").data
        if path.stem in references:
            ref = references[path.stem]
            rng = float(ref.max() - ref.min())
            lines.append(f"{path.stem}: PSNR input {psnr(ref, noisy, data_range=rng):.2f} dB -> restored "
                         f"{psnr(ref, clean, data_range=rng):.2f} dB; SSIM {ssim(ref, noisy, data_range=rng):.3f} -> "
                         f"{ssim(ref, clean, data_range=rng):.3f}")
        if len(pairs) < 3:
            pairs.append((path.stem, noisy, clean))
    side_by_side(pairs, folder / "side_by_side.png")
    outputs.write_text(folder / "metrics.txt", "\n".join(lines) + "\n")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description="Restore example HRSTEM frames and draw input | restored.")
    parser.add_argument("-o", "--output-dir", "--out", dest="output_dir", default="demo_output",
                        help="output folder (created; an existing one is replaced only with --force)")
    parser.add_argument("--simulated", type=int, default=4, help="number of simulated test frames (max 8)")
    parser.add_argument("--force", action="store_true", help="replace an existing output folder")
    args = parser.parse_args(argv)

    from tfstem import outputs

    out = Path(args.output_dir)
    try:
        # checked before any work; written aside and renamed into place, so a failed or interrupted run
        # leaves the previous demo_output/ as it was and no partial folder
        with outputs.atomic_directory(out, force=args.force) as staging:
            lines = run_demo(staging, args.simulated)
    except (ValueError, OSError, ImportError, RuntimeError) as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted; {out} was left as it was.", file=sys.stderr)
        return 130
    print("\n".join(lines))
    print(f"wrote {out / 'restored'}/, {out / 'side_by_side.png'}, {out / 'metrics.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
