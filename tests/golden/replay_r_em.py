"""Replay the golden r_em (CGRDN) runs of ``losses.json`` through the training layer (``tfstem.fit("r_em", ...)``).

The records were made by ``record_losses.py`` with the former ``CGRDNTrainer``; here each run is rebuilt from its
preset and overrides under the new names (``paper_gan`` is now the ``paper`` preset; the options kept their names
and the loss names are unchanged), on the same input pairs (``record_losses.cgrdn_pairs``), and its resolved
config is checked against the recorded one (``decay_steps`` is now ``steps_per_epoch``; the nested
``loss_weights`` are now flat options).

The lambdas of Eq. 13-14 are passed as the recorded values: the ``paper`` preset's lambdas changed on purpose
after the record (issue 17: from the hand-set ``paper_gan`` values to the result of
``benchmarks/r_em_lambda_search.py``), and the replay checks the training step, not the preset's numbers.

    python tests/golden/replay_r_em.py          # every cgrdn/* run; prints the largest relative difference

The process must use 1 intra- and 1 inter-op thread (set before any TensorFlow op), as the record did.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from record_losses import cgrdn_pairs  # noqa: E402

#: Old preset name -> preset of models/r_em.json.
PRESETS = {"released": "released", "paper_gan": "paper"}
#: The lambdas of Eq. 13-14: pinned to the recorded values (an intended preset change since the record).
PINNED_WEIGHTS = ("l1", "l2", "mlwt", "fourier", "mean", "std", "adversarial")
#: Old nested loss_weights key -> the flat option.
LOSS_OPTIONS = {"l1": "l1_weight", "l2": "l2_weight", "mlwt": "mlwt_weight", "fourier": "fourier_weight",
                "mean": "mean_weight", "std": "std_weight", "adversarial": "adversarial_weight",
                "sigma_min": "sigma_min", "gamma": "fourier_gamma", "squared_l2_weight": "squared_l2_weight",
                "mlwt_window_weights": "mlwt_window_weights"}


def new_options(old: dict) -> dict:
    """A recorded CGRDNTrainingConfig dict in the option names of models/r_em.json."""
    new = {k: v for k, v in old.items() if k not in ("loss_weights", "decay_steps")}
    new["steps_per_epoch"] = old["decay_steps"]
    new.update({LOSS_OPTIONS[k]: v for k, v in old["loss_weights"].items()})
    return new


def replay(run_name: str, run: dict) -> list[dict]:
    """The per-step losses ``[{name: value}, ...]`` of the golden run ``run`` rebuilt through ``tfstem.fit``."""
    import keras

    from tfstem.training.fit import fit

    if run["method"] != "cgrdn":
        raise ValueError(f"{run_name} is not an r_em (cgrdn) run.")
    keras.backend.clear_session()
    recorded_weights = {LOSS_OPTIONS[k]: run["config"]["loss_weights"][k] for k in PINNED_WEIGHTS}
    result = fit("r_em", cgrdn_pairs(), preset=PRESETS[run["preset"]], steps=len(run["losses"]), verbose=False,
                 **run["overrides"], **recorded_weights)
    expected = new_options(run["config"])
    got = {k: v for k, v in result.config.to_dict().items() if k in expected}
    differ = {k: (expected[k], got.get(k)) for k in expected if json.dumps(expected[k]) != json.dumps(got.get(k))}
    missing = sorted(set(expected) - set(got))
    # New options (channels, pad_mode, epochs) did not exist; their defaults are the former fixed behaviour.
    if differ or missing:
        raise AssertionError(f"{run_name}: the config differs from the record: {differ or missing}")
    losses = result.history["losses"]
    return [{name: values[i] for name, values in losses.items()} for i in range(len(run["losses"]))]


def largest_relative_difference(recorded: list[dict], replayed: list[dict]) -> float:
    worst = 0.0
    for want, got in zip(recorded, replayed):
        if set(want) != set(got):
            raise AssertionError(f"loss names {sorted(got)} != {sorted(want)}")
        for name, a in want.items():
            b = got[name]
            if (a is None) != (b is None):
                raise AssertionError(f"{name}: {b} != {a}")
            if a is not None and a != 0:
                worst = max(worst, abs(b - a) / abs(a))
    return worst


def main() -> int:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    record = json.loads((HERE / "losses.json").read_text())
    failed = False
    for name, run in record["runs"].items():
        if run["method"] != "cgrdn":
            continue
        replayed = replay(name, run)
        worst = largest_relative_difference(run["losses"], replayed)
        close = all(np.isclose(step[k], want[k], rtol=1e-5, atol=0) for want, step in zip(run["losses"], replayed)
                    for k in want if want[k] is not None)
        failed |= not close
        print(f"{name}: largest relative difference {worst:.3g} ({'ok' if close else 'FAILED'} at rtol 1e-5)",
              flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
