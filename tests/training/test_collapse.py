"""The collapse check after training: a flat (or input-unrelated) output is flagged in fit, the CLI and the
examples; noise-free frames and Gaussian-filtered frames are not."""

import warnings
from pathlib import Path

import numpy as np
import pytest

import tfstem
from tfstem import baselines
from tfstem.cli import main
from tfstem.training.collapse import STRUCTURE_THRESHOLD, CollapseWarning, check_collapse, structure_ratios

DATA = Path(__file__).resolve().parents[2] / "examples" / "data"


@pytest.fixture(scope="module")
def n2v_video():
    with np.load(DATA / "n2v_dual_channel_video.npz") as data:
        return data["noisy"][1::8].astype(np.float32), data["clean"][1::8].astype(np.float32)


@pytest.fixture(scope="module")
def noise2atom_series():
    import tifffile

    series = tifffile.imread(DATA / "noise2atom_series.tif")[:8].astype(np.float32)
    with np.load(DATA / "noise2atom_series_truth.npz") as truth:
        return series, truth["atoms"][:8].astype(np.float32), truth["clean"][:8].astype(np.float32)


def _no_collapse(inputs, outputs, method="test"):
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollapseWarning)
        verdict = check_collapse(inputs, outputs, method=method)
    assert not verdict["collapsed"] and "message" not in verdict
    return verdict


def test_noise_free_and_gaussian_filtered_frames_are_not_collapsed(n2v_video, noise2atom_series):
    noisy, clean = n2v_video
    for c in range(2):  # ADF and BF separately: each channel must pass on its own
        assert _no_collapse(noisy[..., c], clean[..., c])["structure"] > 0.6
        assert _no_collapse(noisy[..., c], baselines.gaussian(noisy[..., c], 1.0, stack=True))["structure"] > 0.8
    # a 4 px blur erases the BF lattice but is not flat: still above the threshold
    wide = baselines.gaussian(noisy[..., 1], 4.0, stack=True)
    assert _no_collapse(noisy[..., 1], wide)["structure"] > STRUCTURE_THRESHOLD
    series, atoms, support = noise2atom_series
    # Noise2Atom compares on [0, 1]: the input by the stack's min-max, the output (clean domain) as it is
    unit = (series - series.min()) / (series.max() - series.min())
    assert _no_collapse(unit, atoms / atoms.max(), "noise2atom")["structure"] > 0.5
    assert _no_collapse(series, support)["structure"] > 0.6
    assert _no_collapse(series, baselines.gaussian(series, 1.0, stack=True))["structure"] > 0.8


def test_flat_and_unrelated_outputs_are_collapsed_with_a_plain_message(n2v_video):
    noisy, clean = n2v_video
    mean = noisy.mean(axis=(1, 2), keepdims=True)
    faint = mean + 0.05 * (clean - clean.mean(axis=(1, 2), keepdims=True))  # 5 % of the true structure
    # loud noise unrelated to the input, as a barely trained Noise2Atom returns (contrast ~10x the input's)
    unrelated = np.random.default_rng(0).normal(0, 10 * noisy.std(), noisy.shape)
    for output in (np.broadcast_to(mean, noisy.shape), faint, unrelated):
        with pytest.warns(CollapseWarning, match="TRAINING FAILED") as caught:
            verdict = check_collapse(noisy, output, method="n2v")
        assert verdict["collapsed"] and verdict["structure"] < STRUCTURE_THRESHOLD
        message = str(caught[0].message)
        assert "Do not use this model" in message and "What to do" in message and message == verdict["message"]
    assert structure_ratios(noisy, np.broadcast_to(mean, noisy.shape)) == {"contrast": 0.0, "correlation": 0.0,
                                                                           "structure": 0.0}
    with pytest.raises(ValueError, match="same shape"):
        structure_ratios(noisy, noisy[:1])


def test_fit_flags_a_barely_trained_n2v(n2v_video):
    noisy, _ = n2v_video
    with pytest.warns(CollapseWarning, match="n2v: TRAINING FAILED"):
        result = tfstem.fit("n2v", noisy, preset="quick", steps=3, verbose=False)
    assert result.collapsed and result.extra["collapse"]["structure"] < STRUCTURE_THRESHOLD


@pytest.mark.slow
def test_fit_flags_a_barely_trained_noise2atom(noise2atom_series):
    """The verdict after fit, not the traced step, is under test (the graph runs in tests/golden and the CLI's
    quick run): the two steps run eagerly, which on 2 cores is a fraction of tracing the GAN's three graphs."""
    import tensorflow as tf

    series = noise2atom_series[0][:4, :96, :96]
    tf.config.run_functions_eagerly(True)
    try:
        with pytest.warns(CollapseWarning, match="noise2atom: TRAINING FAILED"):
            result = tfstem.fit("noise2atom", series, preset="quick", steps=2, verbose=False)
    finally:
        tf.config.run_functions_eagerly(False)
    assert result.collapsed and "mapping_correlation" in result.extra


def test_the_cli_says_the_run_failed(n2v_video, tmp_path, capsys):
    path = tmp_path / "video.npy"
    np.save(path, n2v_video[0])
    assert main(["train", "n2v", str(path), "-o", str(tmp_path / "run"), "--preset", "quick", "--steps", "3",
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "n2v: completed after 3 steps" in out and "FAILED: collapsed output" in out
    assert "n2v: TRAINING FAILED" in out and "What to do" in out
