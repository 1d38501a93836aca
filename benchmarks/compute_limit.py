"""This machine's compute limit: sustained float32 and bfloat16 rates, and each network's multiply-adds per pixel.

Issue 18, "Measure the limit". Times, in ``tf.function`` on TensorFlow's current thread count (median of
``--repeats`` after a warm-up; each sample loops the op for ~0.2 s):

* a 4096 x 4096 x 4096 matmul;
* a 3x3 convolution of 64 -> 64 channels on one 256x256 image (``conv64``, the reference rate of the speed tables);
* a 3x3 convolution of 160 -> 32 channels on one 128x128 image, a densely connected CGRDN layer in the middle of
  a residual dense block (growth 32 at half resolution).

Rates are GFLOP/s = 2 x multiply-adds per second. Then the multiply-adds (MAC) per pixel of the CGRDN (r_em), the
N2V U-Net (dual channel) and the Noise2Atom generator at their papers' widths
(:func:`tfstem.profiling.multiply_adds`), and the least seconds a 256², 512² and 1024² frame can take at the
measured float32 and bfloat16 ``conv64`` rates.

    python benchmarks/compute_limit.py [--repeats 5] [--json limit.json]

``--json`` writes the measurement for the other speed benchmarks (``--limit limit.json``); without it they measure
the rates themselves right before their timings. Measure on an idle machine: the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# _limit (benchmarks/_limit.py) is found because Python puts a script's own folder first on its path

import _limit  # noqa: E402

SIZES = (256, 512, 1024)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed samples per shape (median)")
    parser.add_argument("--json", default=None, help="write the measurement here (read by --limit of the others)")
    parser.add_argument("--limit", default=None, help="read a measurement instead of timing (tables only)")
    parser.add_argument("--force", action="store_true", help="replace an existing --json file")
    args = parser.parse_args(argv)
    from tfstem.outputs import check_new_file, write_json

    if args.json:
        check_new_file(args.json, force=args.force, what="--json")  # before the minute of timing

    limit = _limit.load(args.limit, repeats=args.repeats)
    if args.json:
        write_json(args.json, limit, force=args.force)
    load = limit.get("load_average")
    print(f"TensorFlow {limit['tensorflow']}, {limit['threads']} threads, measured {limit['measured']}"
          + (f", load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}" if load else "")
          + f", median of {args.repeats} after a warm-up, tf.function")
    print()
    print("| shape | float32 GFLOP/s | bfloat16 GFLOP/s | bfloat16 / float32 |")
    print("|---|---:|---:|---:|")
    labels = {"matmul4096": "matmul 4096 x 4096 x 4096",
              "conv64": "conv 3x3, 64 -> 64, 1 x 256 x 256 (reference)",
              "conv_growth": "conv 3x3, 160 -> 32, 1 x 128 x 128 (CGRDN dense layer)"}
    for name, rates in limit["rates"].items():
        f32, bf16 = rates.get("float32"), rates.get("bfloat16")
        cells = [f"{2 * r / 1e9:,.0f}" if r else "n/a" for r in (f32, bf16)]
        ratio = f"{bf16 / f32:.2f}" if f32 and bf16 else "n/a"
        print(f"| {labels.get(name, name)} | {cells[0]} | {cells[1]} | {ratio} |")

    print()
    f32, bf16 = _limit.mac_rate(limit, "float32"), _limit.mac_rate(limit, "bfloat16")
    head = "| network | parameters | MAC / pixel (256²) | GMAC per 256² |"
    for size in SIZES:
        head += f" least s per {size}², float32 | bfloat16 |"
    print(head)
    print("|---|---:|---:|---:|" + "---:|---:|" * len(SIZES))
    for label, (model, channels) in _limit.paper_networks().items():
        macs = {size: _limit.useful_mac(model, size, size, channels) for size in SIZES}
        row = f"| {label} | {model.count_params() / 1e6:.2f} M | {macs[256] / 256**2:,.0f} | {macs[256] / 1e9:.1f} |"
        for size in SIZES:
            row += "".join(f" {macs[size] / r:.3f} |" if r else " n/a |" for r in (f32, bf16))
        print(row)
    print()
    print("Least seconds = the network's MAC on the frame / the reference (conv64) MAC rate of that precision "
          "(1 MAC = 2 FLOP); MAC counted by tfstem.profiling.multiply_adds (convolutions, transposed convolutions, "
          "dense layers; padding to the network's multiple included).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
