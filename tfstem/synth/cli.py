"""``tfstem simulate``: write synthetic (distorted, clean) pairs to disk.

Example::

    tfstem simulate --modality hrstem -n 16 -o pairs/
    tfstem simulate --modality lrtem -n 64 --size 512 --seed 7 --format npy -o pairs/

Writes ``<prefix>_distorted.<ext>`` and ``<prefix>_clean.<ext>`` (float32 stacks ``[n, size, size]``; ``tif`` or
``npy``) and ``config.json`` with the full modality config and the command's arguments.
"""

from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np

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
    parser.add_argument("--overwrite", action="store_true", help="replace existing files")


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


def run_cli(args: argparse.Namespace) -> int:
    """Run ``tfstem simulate``; returns the exit code. User errors raise ValueError / FileExistsError."""
    out = pathlib.Path(args.output)
    prefix = args.prefix or args.modality
    paths = {kind: out / f"{prefix}_{kind}.{args.format}" for kind in ("distorted", "clean")}
    for p in paths.values():
        if p.exists() and not args.overwrite:
            raise ValueError(f"{p} exists; pass --overwrite to replace it.")
    if args.size < 16:
        raise ValueError(f"--size must be at least 16; received {args.size}.")
    distorted, clean = simulate(args.modality, args.count, args.size, args.seed, args.batch_size)
    out.mkdir(parents=True, exist_ok=True)
    for kind, data in (("distorted", distorted), ("clean", clean)):
        if args.format == "npy":
            np.save(paths[kind], data)
        else:
            import tifffile

            tifffile.imwrite(paths[kind], data, photometric="minisblack")
    meta = {"arguments": {k: v for k, v in vars(args).items() if not callable(v)},
            "config": json.loads(modality_config(args.modality).to_json())}
    (out / f"{prefix}_config.json").write_text(json.dumps(meta, indent=2, default=str))
    print(f"wrote {len(distorted)} pairs: {paths['distorted']} and {paths['clean']}")
    return 0
