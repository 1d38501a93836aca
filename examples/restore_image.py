"""Restore one EM file with a chosen model and save the result beside it.

What it shows: the three lines a script needs (read, restore, write), keeping the pixel size and its unit,
with the output checked before the work (an existing file is replaced only with ``--force``).
Full run: ``python examples/restore_image.py frame.dm4 --model r_em/hrstem`` writes
``frame_restored.tif``; ``--quick`` restores a small synthetic frame instead (used by the tests).
A bad input or an existing output prints one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def default_output(path) -> Path:
    """``frame.dm4`` -> ``frame_restored.tif`` in the same folder."""
    path = Path(path)
    return path.with_name(path.stem + "_restored.tif")


def restore_file(source, target, *, model: str, tile_size=None, force: bool = False) -> Path:
    """Read ``source``, restore it with ``model`` and write ``target`` with the source's pixel size and unit.

    Both paths are checked before the restore starts: ``source`` must be a readable image file, ``target`` a
    writable format in a writable folder, and absent unless ``force``.

    Raises
    ------
    ValueError, OSError
        One-line messages that name the file (unreadable input, existing or unwritable output).
    """
    from tfstem import io, outputs

    source, target = Path(source), Path(target)
    io.check_readable(source)
    io.check_writable_format(target)
    outputs.check_new_file(target, force=force, what="output")
    image = io.read_image(source)
    import tfstem

    restored = tfstem.restore(image.data, model=model, tile_size=tile_size)  # float32, the input's shape
    return io.write_image(target, restored, pixel_size=image.pixel_size, unit=image.unit, force=force)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", help="input file (.tif, .dm4, .emd, .mrc, .npy, ...)")
    parser.add_argument("-o", "--output", default=None, help="output file (default: <input>_restored.tif)")
    parser.add_argument("--model", default="r_em/hrstem")
    parser.add_argument("--tile-size", type=int, default=None)
    parser.add_argument("--force", action="store_true", help="replace an existing output file")
    parser.add_argument("--quick", action="store_true", help="restore a small synthetic frame (no input file)")
    args = parser.parse_args(argv)

    if args.quick:
        import numpy as np

        import tfstem

        frame = np.random.default_rng(0).poisson(30.0, (96, 97)).astype(np.uint16)
        print("restored", tfstem.restore(frame, model=args.model, verbose=False).shape)
        return 0
    if not args.path:
        parser.error("give an input file, or --quick")
    target = Path(args.output) if args.output else default_output(args.path)
    try:
        restore_file(args.path, target, model=args.model, tile_size=args.tile_size, force=args.force)
    except (ValueError, OSError, ImportError) as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted; {target} was not written.", file=sys.stderr)
        return 130
    print(f"{args.path} -> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
