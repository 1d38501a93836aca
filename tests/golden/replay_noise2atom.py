"""Replay the Noise2Atom runs of ``losses.json`` through the training layer (``tfstem.fit``).

The record's option names and preset are translated to today's: ``base_filters`` -> ``features``,
``crop_size`` -> ``patch_size``, preset ``cpu_budget`` -> ``cpu``. Nothing else changes.
"""

from __future__ import annotations

RENAMED_OPTIONS = {"base_filters": "features", "crop_size": "patch_size"}
RENAMED_PRESETS = {"cpu_budget": "cpu"}


def replay(run_name: str, run: dict) -> list[dict]:
    """Per-step ``{loss name: value or None}`` of ``run`` (an entry of ``losses.json["runs"]``)."""
    import tfstem
    from record_losses import SEED, STEPS, noise2atom_frames

    overrides = {RENAMED_OPTIONS.get(k, k): v for k, v in run["overrides"].items()}
    result = tfstem.fit("noise2atom", noise2atom_frames(), preset=RENAMED_PRESETS.get(run["preset"], run["preset"]),
                        seed=SEED, epochs=1, verbose=False, **overrides)
    losses = result.history["losses"]
    if len(result.history["step"]) != STEPS:
        raise RuntimeError(f"{run_name}: ran {len(result.history['step'])} steps, expected {STEPS}.")
    return [{name: values[i] for name, values in losses.items()} for i in range(STEPS)]
