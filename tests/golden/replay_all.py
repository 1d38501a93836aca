"""Replay every run of ``losses.json`` through today's training layer and compare each loss (rtol 1e-5).

Usage (from any folder; TensorFlow gets 1 intra- and 1 inter-op thread, as when the record was made)::

    python tests/golden/replay_all.py [--only METHOD_OR_RUN ...]

Each method's ``replay_<method>.py`` translates a recorded run (preset, overrides under the names of the
recorded commit) into today's ``tfstem.fit`` call. Prints the largest relative difference per run; exits 1
when a loss differs by more than the tolerance, a run or a loss name is missing, or an input changed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: The recorded method name -> today's (the replay module's suffix).
METHODS = {"cgrdn": "r_em", "n2v": "n2v", "noise2atom": "noise2atom"}


def _close(want, got, rtol) -> tuple[bool, float]:
    if want is None or got is None:
        return want is got, 0.0
    difference = abs(got - want) / abs(want) if want else abs(got)
    return difference <= rtol, difference


def compare_run(name: str, want: list, got: list, rtol: float) -> tuple[list, float]:
    problems, worst = [], 0.0
    if len(want) != len(got):
        problems.append(f"{name}: {len(got)} steps != {len(want)}")
    for i, (w, g) in enumerate(zip(want, got)):
        missing = sorted(set(w) - set(g))
        if missing:
            problems.append(f"{name} step {i + 1}: losses {missing} missing (has {sorted(g)})")
        for key in sorted(set(w) & set(g)):
            ok, difference = _close(w[key], g[key], rtol)
            worst = max(worst, difference)
            if not ok:
                problems.append(f"{name} step {i + 1} {key}: {g[key]!r} != {w[key]!r} (rtol {rtol})")
    return problems, worst


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=None, help="a method (cgrdn, n2v, noise2atom) or a run")
    parser.add_argument("--rtol", type=float, default=1e-5)
    parser.add_argument("--json", default=None, help="write {run: largest relative difference} here")
    args = parser.parse_args(argv)
    os.environ["TF_NUM_INTRAOP_THREADS"] = os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    sys.path.insert(0, str(HERE))
    import keras

    import record_losses

    expected = json.loads((HERE / "losses.json").read_text())
    for method, make in record_losses.INPUTS.items():
        if record_losses.fingerprint(record_losses._as_tuple(make()))["sha256"] != expected["inputs"][method]["sha256"]:
            print(f"the input of {method} is not the recorded one")
            return 1
    problems, worst = [], {}
    for name, run in expected["runs"].items():
        method = run["method"]
        if args.only and method not in args.only and name not in args.only:
            continue
        replay = importlib.import_module(f"replay_{METHODS[method]}").replay
        keras.backend.clear_session()
        start = time.perf_counter()
        found, worst[name] = compare_run(name, run["losses"], replay(name, run), args.rtol)
        problems += found
        print(f"{name}: largest relative difference {worst[name]:.3g} ({time.perf_counter() - start:.0f} s)", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(worst, indent=1))
    print("\n".join(problems) if problems else f"all {len(worst)} runs agree with losses.json (rtol {args.rtol})")
    return 1 if problems or not worst else 0


if __name__ == "__main__":
    sys.exit(main())
