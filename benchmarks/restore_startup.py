"""Start-up cost of the command line: `tfstem restore frame.tif -o out.tif` in a fresh process, against the
network's arithmetic alone.

Usage::

    python benchmarks/restore_startup.py [--runs 5] [--size 256] [--model r_em/hrstem]

Runs the command ``--runs + 1`` times, each in a new Python process on the same 256 x 256 frame (the first run
fills the on-disk caches, the ready-to-run copy of ``tfstem.ready`` included, and is not counted), and times each
whole process from outside (``time.perf_counter`` around ``subprocess.run``): once as a user runs it (the
default ``--runtime auto``: the ready LiteRT copy, no TensorFlow import) and once with ``--runtime tensorflow``.
The arithmetic is the median warm call of ``tfstem.restore`` on the same frame in this process, with the
TensorFlow model (float32, the command's default precision for this model) and with the ready copy; the
ratios use the faster of the two (the strict reading of "the network's arithmetic alone"). Then it times, in
fresh processes, the stages each kind of run pays before that arithmetic. Prints one table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

STAGES = """
import time, json
t0 = time.perf_counter()
import numpy as np, tifffile, tfstem
t1 = time.perf_counter()
import tensorflow
t2 = time.perf_counter()
model = tfstem.load_model({model!r})
t3 = time.perf_counter()
frame = tifffile.imread({frame!r})
tfstem.restore(frame, model=model, verbose=False)
t4 = time.perf_counter()
tfstem.restore(frame, model=model, verbose=False)
t5 = time.perf_counter()
print(json.dumps(dict(import_tfstem=t1 - t0, import_tensorflow=t2 - t1, load_model=t3 - t2, first_call=t4 - t3,
                      warm_call=t5 - t4)))
"""


READY_STAGES = """
import time, json
t0 = time.perf_counter()
import numpy as np, tifffile, tfstem, tfstem.cli
from tfstem import ready
t1 = time.perf_counter()
model = ready.load_ready({model!r})
t2 = time.perf_counter()
frame = tifffile.imread({frame!r})
tfstem.restore(frame, model=model, verbose=False)
t3 = time.perf_counter()
tfstem.restore(frame, model=model, verbose=False)
t4 = time.perf_counter()
print(json.dumps(dict(import_tfstem=t1 - t0, load_ready_copy=t2 - t1, first_call=t3 - t2, warm_call=t4 - t3)))
"""


def _tfstem_command() -> list:
    """The ``tfstem`` console script of this interpreter's environment (``python -m tfstem.cli`` if absent)."""
    script = Path(sys.executable).with_name("tfstem")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tfstem.cli"]


def whole_process_seconds(frame: Path, out: Path, model: str, runtime: str) -> float:
    """Wall time of one ``tfstem restore FRAME -o OUT --model MODEL --force --runtime RUNTIME`` process, in seconds."""
    command = _tfstem_command() + ["restore", str(frame), "-o", str(out), "--model", model, "--force", "--quiet",
                                   "--runtime", runtime]
    environment = {k: v for k, v in os.environ.items() if k != "TFSTEM_RUNTIME"}
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=environment)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return seconds


def stage_seconds(frame: Path, model: str, script: str = STAGES) -> dict:
    """The stages of one fresh process (see the module notes), in seconds."""
    import json

    done = subprocess.run([sys.executable, "-c", script.format(model=model, frame=str(frame))],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def arithmetic_seconds(frame, model: str, repeats: int, ready: bool = False) -> float:
    """Median warm ``tfstem.restore`` call on ``frame`` in this process, in seconds (``ready``: the LiteRT copy)."""
    import tfstem
    from tfstem.ready import load_ready

    network = load_ready(model) if ready else tfstem.load_model(model)
    tfstem.restore(frame, model=network, verbose=False)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        tfstem.restore(frame, model=network, verbose=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed fresh processes (median)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--model", default="r_em/hrstem")
    args = parser.parse_args(argv)

    import numpy as np
    import tifffile

    with tempfile.TemporaryDirectory() as tmp:
        frame_path, out = Path(tmp) / "frame.tif", Path(tmp) / "out.tif"
        frame = np.random.default_rng(0).poisson(5.0, (args.size, args.size)).astype(np.uint16)
        tifffile.imwrite(frame_path, frame)
        runtimes = ("auto", "tensorflow")
        for runtime in runtimes:
            whole_process_seconds(frame_path, out, args.model, runtime)  # fills the caches
        runs = {r: [whole_process_seconds(frame_path, out, args.model, r) for _ in range(args.runs)] for r in runtimes}
        stages = {"tensorflow": [stage_seconds(frame_path, args.model) for _ in range(3)],
                  "auto": [stage_seconds(frame_path, args.model, READY_STAGES) for _ in range(3)]}
        arithmetic = {"tensorflow": arithmetic_seconds(frame, args.model, repeats=5),
                      "auto": arithmetic_seconds(frame, args.model, repeats=5, ready=True)}

    fastest = min(arithmetic.values())
    label = {"auto": "default (--runtime auto: ready LiteRT copy)", "tensorflow": "--runtime tensorflow"}
    print(f"`tfstem restore` on one {args.size} x {args.size} frame, {args.model}, {os.cpu_count()} CPU threads, "
          f"median of {args.runs} fresh processes after one that fills the caches; x arithmetic = against the "
          f"faster warm call ({fastest:.2f} s)")
    print("| | seconds | x arithmetic |")
    print("|---|---:|---:|")
    for runtime in runtimes:
        whole = statistics.median(runs[runtime])
        print(f"| whole process, {label[runtime]} (all: {', '.join(f'{r:.2f}' for r in runs[runtime])}) | "
              f"{whole:.2f} | {whole / fastest:.2f} |")
    for runtime in runtimes:
        for name in stages[runtime][0]:
            value = statistics.median(s[name] for s in stages[runtime])
            print(f"| {label[runtime]}, stage in a fresh process: {name.replace('_', ' ')} (median of 3) | "
                  f"{value:.2f} | {value / fastest:.2f} |")
    for runtime in runtimes:
        print(f"| the network's arithmetic alone, {label[runtime]} (warm tfstem.restore, median of 5) | "
              f"{arithmetic[runtime]:.2f} | {arithmetic[runtime] / fastest:.2f} |")


if __name__ == "__main__":
    main()
