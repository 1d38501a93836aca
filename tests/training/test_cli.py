"""`tfstem train` and the run folder through the real entry point: one-line errors, exit codes, and an earlier
run never touched by a refused command."""

import hashlib

import numpy as np
import pytest

from tfstem.cli import main


def _digests(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("data") / "video.npy"
    np.save(path, rng.poisson(10.0, (6, 64, 64, 2)).astype(np.float32))
    return path


def _train(video, out, *flags):
    return main(["train", "n2v", str(video), "-o", str(out), "--preset", "quick", "--steps", "1", "--quiet", *flags])


def test_run_folder_refusals_are_one_line_and_leave_the_run_untouched(video, tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(video, out) == 0
    assert "n2v: completed after 1 steps" in capsys.readouterr().out
    before = _digests(out)
    other = tmp_path / "other.npy"
    np.save(other, np.load(video)[:, ::-1].copy())
    for flags, message in (((), "holds an earlier run"), (("--resume", "--seed", "1"), "seed 0 -> 1"),
                           (("--resume", "--force"), "not both"), (("--set", "no_such_option=1"), "unknown n2v option")):
        assert _train(video, out, *flags) == 2, flags
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, (flags, err)
        assert _digests(out) == before
    assert main(["train", "n2v", str(other), "-o", str(out), "--preset", "quick", "--resume", "--quiet"]) == 2
    assert "data (another series or pairs)" in capsys.readouterr().err
    assert main(["train", "n2v", str(tmp_path / "missing.npy"), "-o", str(tmp_path / "o2"), "--quiet"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert _train(video, out, "--resume", "--steps", "2") == 0  # the same settings continue
    assert "n2v: completed after 2 steps" in capsys.readouterr().out
    assert _train(video, out, "--force", "--seed", "1") == 0
    assert '"seed": 1' in (out / "config.json").read_text()
    assert not list(out.rglob("*.partial*"))
