"""Restore one EM file with a chosen model and save the result beside it.

What it shows: the three lines a script needs (read, restore, write), keeping the pixel size.
Full run: ``python examples/restore_image.py frame.dm4 --model r_em/hrstem`` writes
``frame_restored.tif``; ``--quick`` restores a small synthetic frame instead (used by the tests).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", help="input file (.tif, .dm4, .emd, .npy, ...)")
    parser.add_argument("--model", default="r_em/hrstem")
    parser.add_argument("--tile-size", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="restore a small synthetic frame (no input file)")
    args = parser.parse_args(argv)

    import numpy as np

    import tfstem
    from tfstem import io

    if args.quick:
        frame = np.random.default_rng(0).poisson(30.0, (96, 97)).astype(np.uint16)
        print("restored", tfstem.restore(frame, model=args.model, verbose=False).shape)
        return 0
    if not args.path:
        parser.error("give an input file, or --quick")
    image = io.read_image(args.path)
    restored = tfstem.restore(image.data, model=args.model, tile_size=args.tile_size)
    target = Path(args.path).with_name(Path(args.path).stem + "_restored.tif")
    io.write_image(target, restored, pixel_size=image.pixel_size, unit=image.unit)
    print(f"{args.path} -> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
