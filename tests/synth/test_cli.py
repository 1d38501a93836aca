"""`tfstem simulate` (tfstem.synth.cli)."""

import argparse

import numpy as np
import pytest

from tfstem.synth import cli


def _args(tmp_path, *extra):
    parser = argparse.ArgumentParser()
    cli.add_cli_arguments(parser)
    return parser.parse_args(["--modality", "hrstem", "-n", "3", "--size", "32", "--batch-size", "2",
                              "--format", "npy", "-o", str(tmp_path), *extra])


def test_simulate_writes_pairs_and_config(tmp_path):
    assert cli.run_cli(_args(tmp_path)) == 0
    x = np.load(tmp_path / "hrstem_distorted.npy")
    y = np.load(tmp_path / "hrstem_clean.npy")
    assert x.shape == y.shape == (3, 32, 32) and x.dtype == np.float32
    assert (tmp_path / "hrstem_config.json").read_text().count('"jitter_probability": 0.9') == 1
    with pytest.raises(ValueError, match="exists; pass --overwrite"):
        cli.run_cli(_args(tmp_path))
    assert cli.run_cli(_args(tmp_path, "--overwrite")) == 0
    assert np.array_equal(np.load(tmp_path / "hrstem_distorted.npy"), x)  # same seed, same pairs
