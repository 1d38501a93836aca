"""`tfstem simulate` (tfstem.synth.cli): pairs and config written atomically, never over another dataset."""

import argparse
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from tfstem.cli import main
from tfstem.synth import cli

SMALL = ["--modality", "hrstem", "-n", "3", "--size", "32", "--batch-size", "2", "--format", "npy"]


def _args(tmp_path, *extra):
    parser = argparse.ArgumentParser()
    cli.add_cli_arguments(parser)
    return parser.parse_args([*SMALL, "-o", str(tmp_path), *extra])


def _hashes(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_simulate_writes_pairs_and_config(tmp_path):
    assert cli.run_cli(_args(tmp_path)) == 0
    x = np.load(tmp_path / "hrstem_distorted.npy")
    y = np.load(tmp_path / "hrstem_clean.npy")
    assert x.shape == y.shape == (3, 32, 32) and x.dtype == np.float32
    assert (tmp_path / "hrstem_config.json").read_text().count('"jitter_probability": 0.9') == 1
    with pytest.raises(FileExistsError, match="exists; pass --force"):
        cli.run_cli(_args(tmp_path))
    assert cli.run_cli(_args(tmp_path, "--force")) == 0
    assert np.array_equal(np.load(tmp_path / "hrstem_distorted.npy"), x)  # same seed, same pairs
    assert cli.run_cli(_args(tmp_path, "--overwrite")) == 0  # the former spelling still means --force
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hrstem_clean.npy", "hrstem_config.json",
                                                          "hrstem_distorted.npy"]  # no temporary left


def test_an_earlier_config_alone_is_not_overwritten(tmp_path, capsys, monkeypatch):
    """Only <prefix>_config.json exists (e.g. pairs in the other format): refused before any pair is made."""
    (tmp_path / "hrstem_config.json").write_text('{"earlier": "dataset"}')
    before = _hashes(tmp_path)
    monkeypatch.setattr(cli, "simulate", lambda *a, **k: pytest.fail("pairs generated before the checks"))
    assert main(["simulate", *SMALL, "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "hrstem_config.json exists; pass --force" in err and err.count("\n") == 1
    assert _hashes(tmp_path) == before


@pytest.mark.parametrize("extra, message", [
    (["--size", "8"], "--size must be at least 16; received 8"),
    (["-n", "0"], "-n/--count must be >= 1; received 0"),
    (["--batch-size", "0"], "--batch-size must be >= 1; received 0"),
    (["--prefix", "a/b"], "--prefix must be a non-empty file name prefix"),
])
def test_bad_options_are_one_line_errors_before_any_work(tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.setattr(cli, "simulate", lambda *a, **k: pytest.fail("pairs generated before the checks"))
    assert main(["simulate", *SMALL, "-o", str(tmp_path / "out"), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def _unwritable_folder(tmp_path):
    """A folder no file can be created in: read-only for a normal user, /proc (a pseudo filesystem) for root."""
    if os.geteuid() == 0:
        return Path("/proc")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    return locked


@pytest.mark.skipif(os.name != "posix" or not Path("/proc").is_dir(), reason="needs POSIX permissions or /proc")
def test_unwritable_folder_is_refused_before_generating(tmp_path, capsys, monkeypatch):
    locked = _unwritable_folder(tmp_path)
    before = sorted(os.listdir(locked))
    monkeypatch.setattr(cli, "simulate", lambda *a, **k: pytest.fail("pairs generated before the checks"))
    try:
        assert main(["simulate", *SMALL, "-o", str(locked / "tfstem-pairs")]) == 2
        err = capsys.readouterr().err
        assert f"cannot write in {locked}" in err and err.count("\n") == 1
        assert not (locked / "tfstem-pairs").exists()
        if locked != Path("/proc"):
            assert sorted(os.listdir(locked)) == before
    finally:
        if locked != Path("/proc"):
            locked.chmod(0o700)


def test_output_that_is_a_file_is_refused(tmp_path, capsys, monkeypatch):
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    monkeypatch.setattr(cli, "simulate", lambda *a, **k: pytest.fail("pairs generated before the checks"))
    assert main(["simulate", *SMALL, "-o", str(target)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert target.read_text() == "keep me"
