"""The GPU path in one run (issue 18): the speed benchmarks at small, fixed settings, each under a time limit.

Usage (on a machine with an accelerator and this package's dependencies installed)::

    python benchmarks/gpu_check.py [--out DIR] [--budget 450]

Runs, one after the other, each as its own process with its own timeout, and stops starting new ones when
``--budget`` seconds are spent (default 450 s, so that one run of under 8 minutes answers everything):

1. ``compute_limit.py``: the device's float32 and bfloat16 rates;
2. ``restore_speed.py`` at 256, 1024 (one frame; default, float32, bfloat16, XLA) and a 4096 x 4096 frame through
   ``tfstem.restore`` (tiled);
3. ``n2v_speed.py --no-peers``: N2V prediction of a 512 x 512 dual-channel frame and training images/s;
4. ``noise2atom_step.py`` at the ``cpu`` and ``paper`` presets (graph mode);
5. ``train_throughput.py``: CGRDN training steps (released preset: L1 only; paper preset: the cGAN);
6. ``synth_throughput.py``: the synthetic hrstem pipeline, whose noise ops then run on the GPU.

Each step's output goes to ``DIR/<step>.log`` (written atomically; an earlier run's logs are kept unless
``--force``); a summary table (step, exit code, seconds) is printed and written
to ``DIR/summary.md``. The figures themselves are the tables in the logs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

STEPS = [
    ("compute_limit", ["compute_limit.py", "--repeats", "5", "--json", "{out}/limit.json"], 60),
    ("restore_256_1024", ["restore_speed.py", "--sizes", "256", "1024", "--series", "1", "--repeats", "3",
                          "--methods", "default", "float32", "bfloat16", "xla", "--limit", "{out}/limit.json"], 150),
    ("restore_4096", ["-c", "import time, numpy as np, tfstem; x = np.random.default_rng(0).poisson(5.0, "
                      "(4096, 4096)).astype('float32'); m = tfstem.load_model('r_em/hrstem'); "
                      "tfstem.restore(x[:512, :512], model=m, verbose=False); t = time.perf_counter(); "
                      "y = tfstem.restore(x, model=m, verbose=False); "
                      "print(f'4096 x 4096 tfstem.restore (default): {time.perf_counter() - t:.2f} s, finite: "
                      "{bool(np.isfinite(y).all())}')"], 90),
    ("n2v_speed", ["n2v_speed.py", "--no-peers", "--frames", "3", "--train-steps", "5",
                   "--limit", "{out}/limit.json"], 60),
    ("noise2atom_cpu", ["noise2atom_step.py", "--preset", "cpu", "--iterations", "3",
                        "--limit", "{out}/limit.json"], 60),
    ("noise2atom_paper", ["noise2atom_step.py", "--preset", "paper", "--iterations", "3",
                          "--limit", "{out}/limit.json"], 120),
    ("cgrdn_train", ["train_throughput.py", "--preset", "released", "--steps", "3"], 60),
    ("cgrdn_train_paper", ["train_throughput.py", "--preset", "paper", "--steps", "3"], 60),
    ("synth", ["synth_throughput.py", "--modalities", "hrstem", "--size", "256", "--batches", "20",
               "--batch-size", "8"], 45),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gpu_check", help="folder for the logs and the summary")
    parser.add_argument("--budget", type=float, default=450.0, help="seconds after which no new step starts")
    parser.add_argument("--force", action="store_true", help="replace the logs of an earlier run in --out")
    args = parser.parse_args(argv)
    from tfstem.outputs import write_text

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started, rows = time.monotonic(), []
    for name, command, limit in STEPS:
        left = args.budget - (time.monotonic() - started)
        if left < 10:
            rows.append((name, "not started (budget spent)", 0.0))
            continue
        argv_ = [a.format(out=out) for a in command]
        if name == "compute_limit" and args.force:
            argv_.append("--force")
        full = [sys.executable, *argv_] if argv_[0] == "-c" else [sys.executable, str(HERE / argv_[0]), *argv_[1:]]
        begin = time.monotonic()
        try:
            done = subprocess.run(full, capture_output=True, text=True, timeout=min(limit, left))
            code, text = str(done.returncode), done.stdout + done.stderr
        except subprocess.TimeoutExpired as expired:
            code = f"timeout after {min(limit, left):.0f} s"
            text = (expired.stdout or b"").decode(errors="replace") + (expired.stderr or b"").decode(errors="replace")
        seconds = time.monotonic() - begin
        write_text(out / f"{name}.log", text, force=args.force)
        rows.append((name, code, seconds))
        print(f"{name}: {code} in {seconds:.0f} s", flush=True)
    table = ["| step | exit | seconds |", "|---|---|---:|"] + [f"| {n} | {c} | {s:.0f} |" for n, c, s in rows]
    write_text(out / "summary.md", "\n".join(table) + "\n", force=args.force)
    print("\n".join(table))


if __name__ == "__main__":
    main()
