"""``tfstem simulate``: write synthetic (distorted, clean) pairs to disk.

Example::

    tfstem simulate --modality hrstem -n 16 -o pairs/
    tfstem simulate --modality lrtem -n 64 --size 512 --seed 7 --format npy -o pairs/

Writes ``<prefix>_distorted.<ext>`` and ``<prefix>_clean.<ext>`` (float32 stacks ``[n, size, size]``; ``tif`` or
``npy``) and ``<prefix>_config.json`` with the full modality config and the command's arguments. All three are
checked before any pair is generated (an existing one is replaced only with ``--force``; the folder must be
writable) and each is written under a temporary name and renamed into place.
"""

from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np

from tfstem.outputs import check_directory_writable, check_new_file, write_json
from tfstem.synth.configs import MODALITIES, modality_config


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``tfstem simulate`` options to ``parser``."""
    parser.add_argument("--modality", required=True, choices=MODALITIES, help="which r_em modality to simulate")
    parser.add_argument("-n", "--count", type=int, default=16, help="number of pairs (default 16)")
    parser.add_argument("-o", "--output", required=True, help="output directory (created if missing)")
    parser.add_argument("--size", type=int, default=256, help="image height and width in pixels (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same pairs (default 0)")
    parser.add_argument("--batch-size", type=int, default=8, help="pairs generated per batch (default 8)")
    parser.add_argument("--format", choices=("tif", "npy"), default="tif", help="file format (default tif)")
    parser.add_argument("--prefix", default=None, help="file name prefix (default: the modality)")
    parser.add_argument("--force", action="store_true", help="replace existing output files")
    # Deprecated former spelling of --force (every other command takes --force).
    parser.add_argument("--overwrite", dest="force", action="store_true", help=argparse.SUPPRESS)


def simulate(modality: str, count: int, size: int = 256, seed: int = 0, batch_size: int = 8):
    """Generate ``count`` pairs as NumPy arrays.

    Returns
    -------
    distorted, clean : np.ndarray, float32, [count, size, size]
    """
    from tqdm import tqdm

    from tfstem.synth.pipelines import pairs

    if count < 1:
        raise ValueError(f"-n/--count must be >= 1; received {count}.")
    batch_size = max(1, min(batch_size, count))
    steps = -(-count // batch_size)
    xs, ys = [], []
    for x, y in tqdm(pairs(modality, size=size, batch_size=batch_size, seed=seed).take(steps), total=steps,
                     desc=f"simulate {modality}", unit="batch"):
        xs.append(x.numpy()[..., 0])
        ys.append(y.numpy()[..., 0])
    return np.concatenate(xs)[:count], np.concatenate(ys)[:count]


def output_paths(output, prefix: str, fmt: str) -> dict:
    """The three files of a dataset: ``{"distorted", "clean", "config"}`` -> path in ``output``."""
    output = pathlib.Path(output)
    return {"distorted": output / f"{prefix}_distorted.{fmt}", "clean": output / f"{prefix}_clean.{fmt}",
            "config": output / f"{prefix}_config.json"}


def _fixed_pixel_size(config):
    """The pixel size in Å when the modality samples a single one, else None (it is drawn per pair)."""
    low, high = config.imaging.pixel_size
    return float(low) if low == high else None


def run_cli(args: argparse.Namespace) -> int:
    """Run ``tfstem simulate``; returns the exit code.

    Every check (options, the three outputs, a writable folder) runs before any pair is generated; user
    errors raise ValueError or an OSError (FileExistsError, PermissionError, ...) with a one-line message.
    """
    if args.size < 16:
        raise ValueError(f"--size must be at least 16; received {args.size}.")
    if args.count < 1:
        raise ValueError(f"-n/--count must be >= 1; received {args.count}.")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1; received {args.batch_size}.")
    prefix = args.prefix or args.modality
    if not prefix or any(sep in prefix for sep in ("/", "\\")):
        raise ValueError(f"--prefix must be a non-empty file name prefix without '/'; received {prefix!r}.")
    paths = output_paths(args.output, prefix, args.format)
    check_directory_writable(args.output, what="-o/--output")
    for path in paths.values():
        check_new_file(path, force=args.force, what="output")
    config = modality_config(args.modality)
    pixel_size = _fixed_pixel_size(config)
    distorted, clean = simulate(args.modality, args.count, args.size, args.seed, args.batch_size)
    from tfstem.io import write_image

    pathlib.Path(args.output).mkdir(parents=True, exist_ok=True)
    for kind, data in (("distorted", distorted), ("clean", clean)):
        write_image(paths[kind], data, pixel_size=pixel_size, unit="Å" if pixel_size else None, force=args.force)
    meta = {"arguments": {k: v for k, v in vars(args).items() if not callable(v)},
            "config": json.loads(config.to_json())}
    write_json(paths["config"], meta, force=args.force)
    print(f"wrote {len(distorted)} pairs: {paths['distorted']} and {paths['clean']}")
    return 0
