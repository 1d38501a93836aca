"""r_em trains on every modality of tfstem.synth, and the default preset trains the paper's cGAN (Eq. 13-14)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tfstem
from tfstem import synth
from tfstem.config import default_preset, load_config
from tfstem.synth import MODALITIES
from tfstem.training.fit import build_method

REPO = Path(__file__).resolve().parents[2]
#: The seven terms of Eq. 13-14 as the step logs them, and the critic's own loss (Eq. 15).
SEVEN_TERMS = ("l1", "l2", "mlwt", "fourier", "mean", "std", "adversarial")
#: The modality trained through the command line; the others go through tfstem.fit.
CLI_MODALITY = "hrtem"


def _first_batch(dataset):
    distorted, clean = next(iter(dataset))
    return np.asarray(distorted), np.asarray(clean)


def test_each_modality_reaches_the_data_and_the_generator():
    """The run's batches are tfstem.synth's pairs of its modality (x1000 counts), different for every modality."""
    batches = {}
    for modality in MODALITIES:
        method = build_method("r_em", "synthetic", preset="quick", modality=modality)
        distorted, clean = _first_batch(method.dataset(0))
        expected_x, expected_y = _first_batch(synth.pairs(modality, size=method.config.patch_size,
                                                          batch_size=method.config.batch_size, seed=0))
        np.testing.assert_allclose(distorted, expected_x * 1000.0, rtol=1e-6)
        np.testing.assert_allclose(clean, expected_y * 1000.0, rtol=1e-6)
        assert method.generator.name == f"cgrdn_{modality}"
        batches[modality] = clean
    for a in MODALITIES:
        for b in MODALITIES:
            if a < b:
                assert not np.allclose(batches[a], batches[b]), f"{a} and {b} trained on the same clean images"


@pytest.mark.parametrize("modality", [m for m in MODALITIES if m != CLI_MODALITY])
def test_quick_preset_trains_on_synthetic_pairs_of_each_modality(modality):
    result = tfstem.fit("r_em", "synthetic", preset="quick", modality=modality, steps=2, verbose=False)
    losses = result.history["losses"]
    assert result.history["step"] == [1, 2] and result.config.modality == modality
    assert all(np.all(np.isfinite(losses[name])) for name in (*SEVEN_TERMS, "critic"))
    assert result.model.name == f"cgrdn_{modality}"


def test_quick_preset_trains_a_modality_through_the_command_line(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    run = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "tfstem.cli", "train", "r_em", "synthetic", "--modality",
                           CLI_MODALITY, "--preset", "quick", "--steps", "2", "-o", str(run), "--quiet"],
                          capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    config = json.loads((run / "config.json").read_text())
    history = json.loads((run / "history.json").read_text())
    assert config["modality"] == CLI_MODALITY and config["_data"] == "synthetic"
    assert history["step"] == [1, 2] and (run / "model.keras").exists()
    assert tfstem.load_model(run / "model.keras").name == f"cgrdn_{CLI_MODALITY}"


def test_default_preset_trains_the_critic_and_all_seven_loss_terms():
    """No preset: the paper's cGAN. Only the sizes shrink here (network, patch, batch); every loss option is the
    default preset's."""
    config = load_config("r_em", default_preset("r_em"))
    assert config.gan
    weights = config.loss_weights
    assert all(getattr(weights, name) > 0 for name in ("l1", "l2", "mlwt", "fourier", "mean", "std", "adversarial"))
    sizes = dict(features=8, growth=8, layers_per_rdb=2, rdbs_per_grdb=1, grdbs=1, critic_features=8, batch_size=2,
                 patch_size=32, warmup_steps=0)
    result = tfstem.fit("r_em", "synthetic", steps=2, verbose=False, **sizes)
    assert result.config.replace(**{k: getattr(config, k) for k in sizes}) == config
    losses = result.history["losses"]
    for name in (*SEVEN_TERMS, "critic"):
        values = np.asarray(losses[name], float)
        assert values.shape == (2,) and np.all(np.isfinite(values)) and np.all(values != 0), (name, values)
    weighted_pixel_wise = sum(getattr(weights, name) * np.asarray(losses[name], float) for name in SEVEN_TERMS[:6])
    generator = weighted_pixel_wise + weights.adversarial * np.asarray(losses["adversarial"], float)
    np.testing.assert_allclose(losses["generator_loss"], generator, rtol=1e-4)
