"""N2VConfig: the paper's numbers from models/n2v.json, presets as data, messages that say the fix."""

import json

import pytest

from tfstem.config import load_config, model_file, preset_names
from tfstem.n2v.config import N2VConfig


def test_config_validates_with_a_clear_message():
    with pytest.raises(ValueError, match="mask_jitter"):
        N2VConfig(mask_spacing=4, mask_jitter=2)
    with pytest.raises(ValueError, match="patch_size must be a multiple of 2\\*\\*depth = 16; received patch_size=100"):
        N2VConfig(patch_size=100)
    with pytest.raises(ValueError, match="batch_size must be a positive integer; received batch_size=2.5"):
        N2VConfig(batch_size=2.5)
    with pytest.raises(ValueError, match="unknown n2v option"):
        N2VConfig.from_dict({"learning_rte": 1e-3})
    with pytest.raises(ValueError, match="replacement must be one of"):
        load_config("n2v", "quick", replacement="median")


def test_paper_preset_is_the_defaults_and_the_papers_numbers():
    config = load_config("n2v", "paper")
    assert config == N2VConfig()
    assert (config.depth, config.features, config.learning_rate, config.batch_size, config.epochs,
            config.mask_spacing, config.mask_jitter, config.frame_step) == (4, 64, 1e-5, 12, 32, 24, 2, 2)


def test_model_file_has_a_source_for_every_option_and_the_presets():
    document = json.loads(model_file("n2v").read_text())
    assert document["method"] == "n2v"
    assert set(document["options"]) == set(N2VConfig().to_dict())
    assert all(spec["source"] for spec in document["options"].values())
    assert preset_names("n2v") == ("paper", "cpu", "quick")
    assert document["presets"]["paper"]["set"] == {}
    quick = load_config("n2v", "quick")
    assert (quick.depth, quick.features, quick.patch_size, quick.steps_per_epoch, quick.epochs) == (2, 4, 32, 3, 2)
    cpu = load_config("n2v", "cpu", seed=3)
    assert (cpu.features, cpu.patch_size, cpu.learning_rate, cpu.seed) == (16, 64, 4e-4, 3)
