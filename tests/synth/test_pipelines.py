"""Pipelines, full distortion chains and configs: shapes, determinism, validation."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

import tfstem.synth as synth
from tfstem.synth.configs import MODALITIES, ModalityConfig, STEMNoiseConfig, modality_config
from tfstem.synth.distortion import sample_dose


@pytest.mark.parametrize("modality", MODALITIES)
def test_pairs_shapes_and_ranges(modality):
    a = next(iter(synth.pairs(modality, size=32, batch_size=2, seed=5)))
    for t in a:
        assert t.shape == (2, 32, 32, 1) and t.dtype == tf.float32
        assert np.all(np.isfinite(t.numpy()))
    clean = a[1].numpy()
    if modality.endswith("tem") and not modality.endswith("stem"):
        # the TEM target carries the camera PSF (Eq. 27), whose ringing may overshoot the normalised maximum a little
        assert clean.max() <= 1.3
    else:
        assert clean.max() <= 1.0 + 1e-5 and clean.min() >= -1e-6
    assert not np.allclose(a[0].numpy(), clean)  # something was distorted


def test_pairs_same_seed_same_bits_other_seed_differs():
    a = next(iter(synth.pairs("hrstem", size=32, batch_size=2, seed=5)))
    b = next(iter(synth.pairs("hrstem", size=32, batch_size=2, seed=5)))
    c = next(iter(synth.pairs("hrstem", size=32, batch_size=2, seed=6)))
    assert np.array_equal(a[0].numpy(), b[0].numpy()) and np.array_equal(a[1].numpy(), b[1].numpy())
    assert not np.array_equal(a[0].numpy(), c[0].numpy()) and not np.array_equal(a[1].numpy(), c[1].numpy())


@pytest.mark.parametrize("first, second", [("hrstem", "hrsem"), ("lrstem", "lrtem"), ("lrtem", "lrsem")])
def test_modalities_with_one_seed_differ(first, second):
    # same imaging config and (for STEM/SEM) the same extended box: only the modality key tells them apart
    a = synth.clean_images(first, 2, size=32, seed=7)
    b = synth.clean_images(second, 2, size=32, seed=7)
    assert np.array_equal(a, synth.clean_images(first, 2, size=32, seed=7))
    assert not np.array_equal(a[0], b[0]) and not np.array_equal(a[1], b[1])
    x, y = next(iter(synth.pairs(first, size=32, batch_size=2, seed=7)))
    u, v = next(iter(synth.pairs(second, size=32, batch_size=2, seed=7)))
    assert not np.array_equal(y.numpy(), v.numpy()) and not np.array_equal(x.numpy(), u.numpy())


@pytest.mark.parametrize("modality", ["hrstem", "hrtem", "lrsem"])
def test_distort_is_deterministic_and_keeps_scale(modality):
    clean = tf.random.stateless_uniform([4, 32, 32, 1], [1, 2], minval=0.2, maxval=1.0)
    x1, y1 = synth.distort(clean, modality, seed=3)
    x2, y2 = synth.distort(clean, modality, seed=3)
    x3, _ = synth.distort(clean, modality, seed=4)
    assert np.array_equal(x1.numpy(), x2.numpy()) and np.array_equal(y1.numpy(), y2.numpy())
    assert not np.array_equal(x1.numpy(), x3.numpy())
    # noise is zero-mean in the clean scale: the means agree to within the shot-noise spread
    ratio = x1.numpy().mean(axis=(1, 2, 3)) / y1.numpy().mean(axis=(1, 2, 3))
    assert np.all((ratio > 0.3) & (ratio < 3.0))


def test_distort_runs_inside_tf_function():
    clean = tf.random.stateless_uniform([2, 32, 32, 1], [1, 2])
    fn = tf.function(lambda c, s: synth.distort(c, "hrstem", s))
    x, y = fn(clean, tf.constant([1, 2], tf.int64))
    ex, ey = synth.distort(clean, "hrstem", tf.constant([1, 2], tf.int64))
    np.testing.assert_allclose(x.numpy(), ex.numpy(), rtol=1e-4, atol=1e-4)


def test_dose_distribution_is_exponential_on_the_range():
    counts = sample_dose(tf.constant([1, 2], tf.int64), 20000, (0.5, 750.0), 0.5, "linear").numpy()
    assert counts.min() >= 0.5 and counts.max() <= 750.0
    t = (counts - 0.5) / 749.5
    expected_mean = 0.5 - 1.0 / (np.exp(2.0) - 1.0)  # mean of Exp(0.5) truncated to [0, 1]
    assert abs(t.mean() - expected_mean) < 5 * t.std() / np.sqrt(t.size)
    log_counts = sample_dose(tf.constant([1, 2], tf.int64), 20000, (0.5, 750.0), 0.5, "log").numpy()
    assert np.median(log_counts) < np.median(counts) / 10


def test_configs_validate_and_round_trip():
    for name in MODALITIES:
        cfg = modality_config(name)
        assert ModalityConfig.from_json(cfg.to_json()) == cfg
    assert modality_config("hrsem").stem.black_probability == 0.0  # Eq. 52: no black pixels for SEM
    assert modality_config("hrstem").stem.jitter_probability == 0.9
    with pytest.raises(ValueError, match="modality must be one of"):
        modality_config("xray")
    with pytest.raises(ValueError, match="jitter_probability must be in"):
        STEMNoiseConfig(jitter_probability=1.5)
    with pytest.raises(ValueError, match="low <= high"):
        dataclasses.replace(STEMNoiseConfig(), jitter_phi=(0.7, 0.1))
    with pytest.raises(ValueError, match="size must be at least 16"):
        synth.pairs("hrstem", size=8)


def test_paper_preset_sets_every_option_beyond_the_paper_as_the_text_reads():
    from tfstem.synth.configs import PAPER_SETTINGS

    assert synth.PRESETS == ("default", "paper")
    for name in MODALITIES:
        cfg = synth.modality_config(name, preset="paper")
        assert ModalityConfig.from_json(cfg.to_json()) == cfg
        for section, settings in PAPER_SETTINGS.items():
            for option, value in settings.items():
                assert getattr(getattr(cfg, section), option) == value, (name, option)
        default = synth.modality_config(name)
        assert dataclasses.replace(default.imaging, **PAPER_SETTINGS["imaging"]) == cfg.imaging
        assert cfg.stem == default.stem and cfg.postprocess == default.postprocess
    assert synth.modality_config("hrstem").imaging.support_composition == "light"
    assert synth.modality_config("hrstem", "paper").imaging.max_atoms is None
    with pytest.raises(ValueError, match="preset must be one of"):
        synth.modality_config("hrstem", preset="released")
    x, y = next(iter(synth.pairs(synth.modality_config("hrstem", "paper"), size=32, batch_size=2, seed=5)))
    assert x.shape == (2, 32, 32, 1) and np.all(np.isfinite(x.numpy())) and np.all(np.isfinite(y.numpy()))


def test_clean_images_are_normalised():
    images = synth.clean_images("lrstem", 2, size=32, seed=1)
    assert images.shape == (2, 32, 32, 1)
    assert np.allclose(images.max(axis=(1, 2, 3)), 1.0, atol=1e-5)
