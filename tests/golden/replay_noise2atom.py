"""Replay the Noise2Atom runs of ``losses.json`` through the training layer (``tfstem.fit``).

The record's option names and preset are translated to today's: ``base_filters`` -> ``features``,
``crop_size`` -> ``patch_size``, ``crop_sampling`` -> ``patch_sampling``, preset ``cpu_budget`` -> ``cpu``.

The presets changed since the record (issue 17: the ``paper`` preset draws one u per pixel in Eq. 4, uses the
released code's critic grid and RMSprop without heavy-ball momentum, and logs the paper's convergence thresholds
instead of stopping; ``released`` runs 1024 loops of 64 iterations). So every value of the record's full resolved
config (``config``) is passed on top of the preset, which pins the recorded run whatever the preset says today;
``early_stop`` (new) is true where the record had both thresholds, the rule of that time. Only ``epochs`` and
``seed`` are left out: ``epochs=1`` and ``seed=SEED`` of the call set them, as before. :data:`CHANGED_SINCE_RECORD` names, per run, the
options whose value today's preset would change.
"""

from __future__ import annotations

RENAMED_OPTIONS = {"base_filters": "features", "crop_size": "patch_size", "crop_sampling": "patch_sampling"}
RENAMED_PRESETS = {"cpu_budget": "cpu"}

#: Options of each recorded run whose value the preset (with the run's overrides) no longer gives: what the pin
#: holds. Checked by :func:`changed_since_record`, so a preset change that touches a recorded run is named here.
CHANGED_SINCE_RECORD = {
    "noise2atom/paper": {"critic_grid", "gp_interpolation", "rmsprop_momentum", "early_stop"},
    "noise2atom/released": {"early_stop"},
    "noise2atom/cpu_budget": {"early_stop_cycle", "early_stop_lfc"},  # today's cpu logs the thresholds' event
    "noise2atom/cpu_budget+warmup_2": {"early_stop_cycle", "early_stop_lfc"},
    "noise2atom/paper+example_quick": {"critic_grid", "gp_interpolation", "rmsprop_momentum", "early_stop"},
}


def pinned_options(run: dict) -> dict:
    """Every option of the record's resolved config under today's names (``epochs`` left out), with
    ``early_stop`` as the record's rule had it."""
    pinned = {RENAMED_OPTIONS.get(k, k): v for k, v in run["config"].items() if k not in ("epochs", "seed")}
    pinned["early_stop"] = pinned["early_stop_cycle"] is not None and pinned["early_stop_lfc"] is not None
    return pinned


def changed_since_record(run: dict) -> set:
    """Options whose value today's preset (plus the run's overrides) differs from the recorded one."""
    from tfstem.config import load_config

    overrides = {RENAMED_OPTIONS.get(k, k): v for k, v in run["overrides"].items()}
    today = load_config("noise2atom", RENAMED_PRESETS.get(run["preset"], run["preset"]), **overrides).to_dict()
    return {k for k, v in pinned_options(run).items() if today[k] != v}


def replay(run_name: str, run: dict) -> list[dict]:
    """Per-step ``{loss name: value or None}`` of ``run`` (an entry of ``losses.json["runs"]``)."""
    import tfstem
    from record_losses import SEED, STEPS, noise2atom_frames

    changed = changed_since_record(run)
    if changed != CHANGED_SINCE_RECORD[run_name]:
        raise RuntimeError(f"{run_name}: today's preset changes {sorted(changed)} of the recorded config; "
                           f"CHANGED_SINCE_RECORD names {sorted(CHANGED_SINCE_RECORD[run_name])}.")
    overrides = {RENAMED_OPTIONS.get(k, k): v for k, v in run["overrides"].items()}
    overrides.update(pinned_options(run))
    result = tfstem.fit("noise2atom", noise2atom_frames(), preset=RENAMED_PRESETS.get(run["preset"], run["preset"]),
                        seed=SEED, epochs=1, verbose=False, **overrides)
    losses = result.history["losses"]
    if len(result.history["step"]) != STEPS:
        raise RuntimeError(f"{run_name}: ran {len(result.history['step'])} steps, expected {STEPS}.")
    return [{name: values[i] for name, values in losses.items()} for i in range(STEPS)]
