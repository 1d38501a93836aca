"""Replay the golden N2V runs (``n2v/paper``, ``n2v/cpu``, ``n2v/quick``) through the new training layer.

Each recorded run is rebuilt as ``tfstem.training.fit.fit("n2v", n2v_frames(), preset=<preset>, steps=3,
**overrides)`` with the record's overrides minus ``epochs`` (the 3 steps are set by ``steps``; the record's one
epoch of 3 steps is kept by ``steps_per_epoch=3``). Names: ``loss`` is each step's own masked MSE, as
recorded; ``loss_running_mean`` (what Keras reported) is rebuilt from those; ``val_loss`` (recorded at the
last step, the end of the epoch) is the epoch's ``val_loss`` of the new history. No loss was renamed.

Run it alone (a fresh process, 1 intra- and 1 inter-op TensorFlow thread, as the record was made)::

    python tests/golden/replay_n2v.py            # prints the largest relative difference per run
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS = ("n2v/paper", "n2v/cpu", "n2v/quick")


def replay(run_name: str, run: dict) -> list[dict]:
    """Per-step ``{loss name: value}`` of ``run`` (an entry of ``losses.json``'s ``runs``) re-run now."""
    sys.path.insert(0, str(HERE))
    from record_losses import n2v_frames

    from tfstem.training.fit import fit

    overrides = {k: v for k, v in run["overrides"].items() if k != "epochs"}
    steps = len(run["losses"])
    result = fit("n2v", n2v_frames(), preset=run["preset"], steps=steps, verbose=False, seed=run["config"]["seed"],
                 **overrides)
    losses = result.history["losses"]["loss"]
    out, running = [], 0.0
    for k, loss in enumerate(losses, start=1):
        running += loss
        out.append({"loss": loss, "loss_running_mean": running / k})
    for epoch in result.history["epochs"]:
        out[epoch["step"] - 1]["val_loss"] = epoch["val_loss"]
    return out


def largest_relative_difference(expected: list[dict], actual: list[dict]) -> float:
    worst = 0.0
    for want, got in zip(expected, actual):
        if set(want) != set(got):
            raise AssertionError(f"loss names {sorted(got)} != recorded {sorted(want)}")
        for key, value in want.items():
            worst = max(worst, abs(got[key] - value) / abs(value))
    return worst


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    record = json.loads((HERE / "losses.json").read_text())
    failed = False
    for name in RUNS:
        run = record["runs"][name]
        actual = replay(name, run)
        worst = largest_relative_difference(run["losses"], actual)
        close = all(np.isclose(got[k], want[k], rtol=1e-5, atol=0) for want, got in zip(run["losses"], actual)
                    for k in want)
        failed |= not close
        print(f"{name}: largest relative difference {worst:.3g} ({'ok' if close else 'NOT within rtol 1e-5'})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
