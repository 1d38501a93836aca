"""Record the per-step losses of a seeded tiny run of every preset of every training method.

Written before issue 16 (one folder per paper, one training layer) moves the trainers, so that the redesign can
be checked against the numbers of the code it replaces: every (method, preset) below is run for ``STEPS``
steps on a small synthetic input made here from a seed, with the smallest network the preset allows (only
width, depth, patch/crop, batch and step counts shrunk; every option that defines the preset's method kept),
through the Python API of the recorded commit:

* CGRDN (r_em): :func:`tfstem.r_em.training.load_training_config` (presets ``released``, ``paper_gan`` of
  ``models/cgrdn_hrstem.json``; ``--size small`` = ``SMALL_GENERATOR``), :class:`~tfstem.r_em.training.CGRDNTrainer`
  fed by :func:`~tfstem.r_em.training.array_pairs_dataset`.
* N2V: :func:`tfstem.n2v.fit` with the ``config`` of ``models/n2v_stem.json`` (``paper``) and the
  ``CPU_PRESET`` / ``QUICK_PRESET`` of ``examples/train_n2v_stem.py``.
* Noise2Atom: :func:`tfstem.noise2atom.fit` with every preset of ``models/noise2atom.json`` and the overrides
  of ``examples/train_noise2atom.py --quick``.

Usage (CPU; about a minute on two idle cores)::

    python tests/golden/record_losses.py                       # writes tests/golden/losses.json
    python tests/golden/record_losses.py --reverse -o /tmp/again.json --compare tests/golden/losses.json

TensorFlow runs with ``--threads`` (default 1) intra- and inter-op threads, so that the order of float sums does
not depend on the machine's core count. ``--compare`` runs the cases again and checks each recorded loss with ``numpy.isclose(rtol, atol=0)``
(NaN only equals NaN); it exits 1 on any difference. ``--only NAME`` (repeatable) runs some cases.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.util
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # the record is a CPU record

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
STEPS = 3
SEED = 0

# ---------------------------------------------------------------------------------------------- inputs


def lattice(count, size, *, seed, pitch=8.0, width=1.6):
    """Noise-free atom-column images in [0, 1], float64 ``[count, size, size]``.

    A slightly rotated square lattice of Gaussian peaks (``pitch`` px, std ``width`` px) with a random origin,
    rotation and per-column jitter of 0.3 px, one draw per image from ``numpy.random.default_rng(seed)``.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size].astype(np.float64)
    images = np.zeros((count, size, size))
    k = int(size / pitch) + 3
    for i in range(count):
        angle = rng.uniform(-0.2, 0.2)
        basis = pitch * np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
        grid = np.stack(np.meshgrid(np.arange(-k, k + 1), np.arange(-k, k + 1)), -1).reshape(-1, 2)
        centres = grid @ basis + rng.uniform(0, pitch, 2) + size / 2 + rng.normal(0, 0.3, (len(grid), 2))
        centres = centres[np.all((centres > -4) & (centres < size + 4), axis=1)]
        for cy, cx in centres:
            images[i] += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * width**2))
    return images / images.max()


def cgrdn_pairs():
    """(distorted, clean) float32 ``[4, 64, 64, 1]`` in counts: clean = 100 * (0.1 + lattice), distorted its
    Poisson draw plus Gaussian read noise of std 2 counts."""
    clean = 100.0 * (0.1 + lattice(4, 64, seed=11))
    rng = np.random.default_rng(12)
    distorted = rng.poisson(clean) + rng.normal(0.0, 2.0, clean.shape)
    return distorted[..., None].astype(np.float32), clean[..., None].astype(np.float32)


def n2v_frames():
    """Dual-channel video float32 ``[8, 64, 64, 2]``: ADF = Poisson(20 * (0.05 + lattice)), BF =
    Poisson(20 * (1 - 0.7 * lattice)), the same lattice drifting by 0.5 px per frame."""
    base = lattice(1, 96, seed=21)[0]
    clean = np.stack([base[t // 2:t // 2 + 64, 16 + (t + 1) // 2:16 + (t + 1) // 2 + 64] for t in range(8)])
    rng = np.random.default_rng(22)
    adf = rng.poisson(20.0 * (0.05 + clean))
    bf = rng.poisson(20.0 * (1.0 - 0.7 * clean))
    return np.stack([adf, bf], axis=-1).astype(np.float32)


def noise2atom_frames():
    """HAADF series float32 ``[8, 64, 64]``: Poisson(5 * (0.2 + lattice)), a new lattice draw per frame."""
    clean = lattice(8, 64, seed=31)
    return np.random.default_rng(32).poisson(5.0 * (0.2 + clean)).astype(np.float32)


INPUTS = {"cgrdn": cgrdn_pairs, "n2v": n2v_frames, "noise2atom": noise2atom_frames}


def _as_tuple(arrays):
    return arrays if isinstance(arrays, tuple) else (arrays,)


def fingerprint(arrays):
    """Shapes, dtypes and the SHA-256 of the bytes of ``arrays`` (a tuple of NumPy arrays)."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return {"shapes": [list(a.shape) for a in arrays], "dtype": str(arrays[0].dtype), "sha256": digest.hexdigest()}


# ---------------------------------------------------------------------------------------------- cases
# Overrides shrink only size and length; each case's note says why any other value is touched.

CGRDN_TINY = dict(features=8, growth=8, layers_per_rdb=2, rdbs_per_grdb=1, grdbs=1, critic_features=8)
# warmup_steps=1: the authors' warm-up is min(512, steps / 2) steps (models/cgrdn_hrstem.json), i.e. 1 for 3
# steps; with 512 the learning rate of the 3 steps would be ~1e-7 and the losses would not show the updates.
CGRDN_RUN = dict(batch_size=4, patch_size=32, warmup_steps=1, seed=SEED)
N2V_TINY = dict(features=4, patch_size=32, steps_per_epoch=STEPS, epochs=1)
N2A_TINY = dict(base_filters=4, num_residual_blocks=1, critic_filters=[4, 4, 8, 8], crop_size=48,
                steps_per_epoch=STEPS)


def _example_module(name):
    spec = importlib.util.spec_from_file_location(f"_golden_{name}", ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cases() -> dict:
    """``{name: {"method", "preset", "source", "overrides", "note"}}`` in recording order."""
    from tfstem.r_em.training import SMALL_GENERATOR

    n2v_example = _example_module("train_n2v_stem")
    out = {}
    for preset in ("released", "paper_gan"):
        out[f"cgrdn/{preset}"] = dict(method="cgrdn", preset=preset, source="models/cgrdn_hrstem.json",
                                      overrides={**CGRDN_TINY, **CGRDN_RUN})
        out[f"cgrdn/{preset}+size_small"] = dict(
            method="cgrdn", preset=preset, source="models/cgrdn_hrstem.json + SMALL_GENERATOR (--size small)",
            overrides={**SMALL_GENERATOR, "critic_features": 8, **CGRDN_RUN},
            note="the generator of --size small as is (tfstem.r_em.training.SMALL_GENERATOR)")
    out["n2v/paper"] = dict(method="n2v", preset="paper", source="models/n2v_stem.json 'config'",
                            overrides=dict(N2V_TINY),
                            note="depth 4, 5x5 first kernel, mask spacing 24, radius 12, lr 1e-5, batch 12 kept")
    out["n2v/cpu"] = dict(method="n2v", preset="cpu", source="examples/train_n2v_stem.py CPU_PRESET",
                          overrides={**n2v_example.CPU_PRESET, **N2V_TINY})
    out["n2v/quick"] = dict(method="n2v", preset="quick", source="examples/train_n2v_stem.py QUICK_PRESET",
                            overrides={**n2v_example.QUICK_PRESET, "steps_per_epoch": STEPS, "epochs": 1},
                            note="QUICK_PRESET is already tiny; only 3 steps in one epoch (it has 2 x 3)")
    document = json.loads((ROOT / "models" / "noise2atom.json").read_text())
    for preset in ("paper", *[p for p in document["presets"] if p != "paper"]):
        out[f"noise2atom/{preset}"] = dict(method="noise2atom", preset=preset, source="models/noise2atom.json",
                                           overrides=dict(N2A_TINY))
    out["noise2atom/cpu_budget+warmup_2"] = dict(
        method="noise2atom", preset="cpu_budget", source="models/noise2atom.json",
        overrides={**N2A_TINY, "adversarial_warmup": 2},
        note="cpu_budget's 150 warm-up iterations shrunk to 2 (a step count), so that iteration 3 runs the "
             "per-update adversarial RMSprop at adversarial_learning_rate after the warm-up; in "
             "'noise2atom/cpu_budget' all 3 iterations are warm-up (gan is NaN)")
    out["noise2atom/paper+example_quick"] = dict(
        method="noise2atom", preset="paper", source="examples/train_noise2atom.py --quick overrides",
        overrides=dict(base_filters=4, num_residual_blocks=1, critic_filters=[4, 4, 8, 8], crop_size=64,
                       batch_size=2, steps_per_epoch=STEPS, critic_steps=1),
        note="the example's --quick run (critic_steps=1, batch 2, 64 px crops) for 3 iterations instead of 2")
    return out


# ---------------------------------------------------------------------------------------------- runners


def run_cgrdn(preset, overrides):
    from tfstem.r_em.training import CGRDNTrainer, array_pairs_dataset, load_training_config

    config = load_training_config("hrstem", preset, **overrides)
    trainer = CGRDNTrainer(config, verbose=False)  # seeds Keras with config.seed itself
    x, y = cgrdn_pairs()
    data = array_pairs_dataset(x, y, batch_size=config.batch_size, patch_size=config.patch_size, seed=config.seed)
    history = trainer.fit(data, STEPS)
    names = sorted(k for k, v in history.items()
                   if k not in ("step", "step_time_s") and isinstance(v, list) and len(v) == STEPS)
    return config.to_dict(), [{k: history[k][i] for k in names} for i in range(STEPS)]


class _BatchLosses:
    """Keras callback: the running mean ``loss`` Keras reports after each batch, and ``val_loss`` per epoch."""

    def __new__(cls):
        import keras

        class Recorder(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.running, self.validation = [], []

            def on_train_batch_end(self, batch, logs=None):
                self.running.append(float(logs["loss"]))

            def on_epoch_end(self, epoch, logs=None):
                self.validation.append(float(logs["val_loss"]))

        return Recorder()


def run_n2v(preset, overrides):
    import keras

    import tfstem.n2v
    from tfstem.n2v.training import N2VConfig

    base = N2VConfig.from_json(ROOT / "models" / "n2v_stem.json") if preset == "paper" else N2VConfig()
    config = dataclasses.replace(base, **overrides)
    # tfstem.n2v.training.train does not seed the weights' initialisation: seed Keras here.
    keras.utils.set_random_seed(SEED)
    recorder = _BatchLosses()
    _, info = tfstem.n2v.fit(n2v_frames(), config=config, seed=SEED, verbose=False, return_info=True,
                             callbacks=[recorder])
    config = dataclasses.replace(config, seed=SEED)
    if info["steps"] != STEPS or len(recorder.running) != STEPS:
        raise RuntimeError(f"n2v/{preset}: ran {info['steps']} steps, expected {STEPS}.")
    # Keras reports the running mean of the epoch; step k's own loss is k * mean_k - (k - 1) * mean_{k-1}.
    steps = []
    for k, mean in enumerate(recorder.running, start=1):
        own = k * mean - (k - 1) * recorder.running[k - 2] if k > 1 else mean
        steps.append({"loss": own, "loss_running_mean": mean})
    steps[-1]["val_loss"] = recorder.validation[-1]
    return config.to_dict(), steps


def run_noise2atom(preset, overrides):
    import tfstem.noise2atom
    from tfstem.noise2atom.training import load_config

    model = tfstem.noise2atom.fit(noise2atom_frames(), epochs=1, seed=SEED, verbose=False, preset=preset,
                                  check_mapping=False, **overrides)  # Noise2AtomTrainer seeds Keras itself
    config = load_config(preset, **{**overrides, "seed": SEED})
    history = model.training_result["history"]
    names = [k for k in history if k != "seconds"]
    if len(history[names[0]]) != STEPS:
        raise RuntimeError(f"noise2atom/{preset}: ran {len(history[names[0]])} iterations, expected {STEPS}.")
    return config.to_dict(), [{k: history[k][i] for k in names} for i in range(STEPS)]


RUNNERS = {"cgrdn": run_cgrdn, "n2v": run_n2v, "noise2atom": run_noise2atom}


# ---------------------------------------------------------------------------------------------- record / compare


def _json_float(value):
    """NaN (a skipped term) as null: JSON has no NaN."""
    value = float(value)
    return None if math.isnan(value) else value


def _git(*args):
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def record(names=None, reverse=False) -> dict:
    import keras
    import tensorflow as tf

    chosen = cases()
    order = [n for n in chosen if names is None or n in names]
    unknown = sorted(set(names or ()) - set(chosen))
    if unknown:
        raise SystemExit(f"unknown case(s) {unknown}; known: {list(chosen)}.")
    if reverse:
        order = order[::-1]
    runs = {}
    for name in order:
        case = chosen[name]
        keras.backend.clear_session()
        start = time.perf_counter()
        config, steps = RUNNERS[case["method"]](case["preset"], case["overrides"])
        seconds = time.perf_counter() - start
        runs[name] = {**case, "config": config, "seconds": round(seconds, 1),
                      "losses": [{k: _json_float(v) for k, v in step.items()} for step in steps]}
        print(f"{name}: {seconds:.1f} s; step {STEPS}: "
              + ", ".join(f"{k} {v:.6g}" for k, v in steps[-1].items()), flush=True)
    runs = {name: runs[name] for name in chosen if name in runs}  # recording order whatever the run order
    dirty = _git("status", "--porcelain", "--", "tfstem", "models", "examples")
    return {
        "description": "Per-step losses of seeded tiny runs of every preset of every method, recorded before "
                       "issue 16's redesign (tests/golden/README.md).",
        "commit": _git("rev-parse", "HEAD"),
        "source_tree_clean": dirty == "",
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "device": "CPU",
        "threads": {"intra_op": int(os.environ.get("TF_NUM_INTRAOP_THREADS", 0)),
                    "inter_op": int(os.environ.get("TF_NUM_INTEROP_THREADS", 0))},
        "steps": STEPS,
        "seed": SEED,
        "tolerance": {"rtol": 1e-5, "atol": 0.0, "determinism_checked_rtol": 1e-6},
        "inputs": {method: fingerprint(_as_tuple(make())) for method, make in INPUTS.items()},
        "runs": runs,
    }


def compare(expected: dict, actual: dict, rtol: float) -> list[str]:
    """Differences between two records (missing runs, steps or names; losses not close), as lines."""
    problems = []
    for method, spec in expected["inputs"].items():
        if actual["inputs"].get(method, {}).get("sha256") != spec["sha256"]:
            problems.append(f"input of {method} differs")
    worst = 0.0
    for name, run in actual["runs"].items():
        if name not in expected["runs"]:
            problems.append(f"{name}: not in the expected record")
            continue
        reference = expected["runs"][name]["losses"]
        if len(reference) != len(run["losses"]):
            problems.append(f"{name}: {len(run['losses'])} steps != {len(reference)}")
        for i, (want, got) in enumerate(zip(reference, run["losses"])):
            if set(want) != set(got):
                problems.append(f"{name} step {i + 1}: names {sorted(got)} != {sorted(want)}")
            for key in sorted(set(want) & set(got)):
                a, b = want[key], got[key]
                if a is None or b is None:
                    if a is not b:
                        problems.append(f"{name} step {i + 1} {key}: {b} != {a}")
                    continue
                if not np.isclose(b, a, rtol=rtol, atol=0.0):
                    problems.append(f"{name} step {i + 1} {key}: {b!r} != {a!r} (rtol {rtol})")
                if a != 0:
                    worst = max(worst, abs(b - a) / abs(a))
    print(f"largest relative difference: {worst:.3g}")
    return problems


def order_sensitivity(record_a: dict, record_b: dict) -> dict:
    """``{run: {loss: [relative difference per step]}}`` between two records of the same runs made with another
    order of float sums (another thread count): how far each loss moves when only rounding changes."""
    out = {}
    for name, run in record_a["runs"].items():
        if name not in record_b["runs"]:
            continue
        table = {}
        for step_a, step_b in zip(run["losses"], record_b["runs"][name]["losses"]):
            for key, a in step_a.items():
                b = step_b.get(key)
                diff = None if a is None or b is None else (abs(b - a) / abs(a) if a else abs(b))
                table.setdefault(key, []).append(None if diff is None else float(f"{diff:.2g}"))
        out[name] = table
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default=str(HERE / "losses.json"), help="where to write the record")
    parser.add_argument("--only", action="append", default=None, metavar="NAME", help="run only this case")
    parser.add_argument("--reverse", action="store_true", help="run the cases in reverse order")
    parser.add_argument("--compare", default=None, metavar="JSON", help="check the new record against this one")
    parser.add_argument("--rtol", type=float, default=1e-6, help="relative tolerance of --compare")
    parser.add_argument("--threads", type=int, default=1,
                        help="TensorFlow intra- and inter-op threads (default 1: the record does not depend on the "
                             "machine's core count; see README)")
    parser.add_argument("--sensitivity", default=None, metavar="JSON",
                        help="a record of the same runs made with another --threads: store how far each loss moved")
    args = parser.parse_args(argv)
    # Before TensorFlow is imported (record() imports it): the thread count sets the order of float sums.
    os.environ["TF_NUM_INTRAOP_THREADS"] = os.environ["TF_NUM_INTEROP_THREADS"] = str(args.threads)
    start = time.perf_counter()
    result = record(args.only, args.reverse)
    result["recording_seconds"] = round(time.perf_counter() - start, 1)
    if args.sensitivity:
        other = json.loads(Path(args.sensitivity).read_text())
        result["order_sensitivity"] = {
            "against": f"the same runs with {other.get('threads', 'default (2 on the recording machine)')} threads",
            "relative_difference": order_sensitivity(result, other)}
    Path(args.output).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.output} in {result['recording_seconds']} s")
    if args.compare:
        problems = compare(json.loads(Path(args.compare).read_text()), result, args.rtol)
        print("\n".join(problems) if problems else f"all losses agree with {args.compare} (rtol {args.rtol})")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
