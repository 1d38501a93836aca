"""`tfstem evaluate`: figures of real images; one-line refusals (exit 2) of what cannot be scored; the report."""

import hashlib
import json

import numpy as np
import pytest

from tfstem.cli import main
from tfstem.evaluate import evaluate


def _series(n=3, size=32, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    clean = (np.sin(yy / 3.0) + np.cos(xx / 4.0))[None] * np.ones((n, 1, 1))
    return (clean + 0.1 * rng.normal(size=clean.shape)).astype(np.float32)


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_series_and_reference_figures(tmp_path, capsys):
    image, reference = _series(seed=1), _series(seed=2)
    result = evaluate(image, reference)
    assert result["frames"] == 3 and np.isfinite(result["mean_psnr"]) and 0 < result["css"] <= 1
    np.save(tmp_path / "x.npy", image)
    np.save(tmp_path / "y.npy", reference)
    assert main(["evaluate", str(tmp_path / "x.npy"), "--reference", str(tmp_path / "y.npy"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["mean_psnr"] == pytest.approx(result["mean_psnr"])


def test_channel_last_image_is_refused_or_one_channel_scored(tmp_path, capsys):
    """An [H, W, 2] image was read as 32 frames of 32 x 2 and given a CSS with exit 0."""
    two = np.stack([_series(n=1)[0], _series(n=1, seed=3)[0]], axis=-1)  # [32, 32, 2]
    np.save(tmp_path / "two.npy", two)
    assert main(["evaluate", str(tmp_path / "two.npy")]) == 2
    err = capsys.readouterr().err
    assert "2 channels on its last axis; pass one channel (--channel K" in err and err.count("\n") == 1
    assert main(["evaluate", str(tmp_path / "two.npy"), "--channel", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"frames": 1}
    assert evaluate(two[..., :1]) == {"frames": 1}  # a single channel needs no --channel
    with pytest.raises(ValueError, match=r"channel must lie in \[0, 1\]"):
        evaluate(two, channel=2)


@pytest.mark.parametrize("array, message", [
    (np.full((2, 16, 16), np.nan, np.float32), "contains 512 NaN or inf values"),
    (np.ones((2, 16, 16)) + 1j, r"must hold real numbers; received dtype complex128 \(pass np.abs"),
    (np.zeros((0, 16, 16), np.float32), "holds no pixels"),
    (np.arange(16.0), r"shape \(16,\); evaluate takes \[H, W\] or \[N, H, W\]"),
    (np.ones((2, 3, 16, 16, 1)), r"shape \(2, 3, 16, 16, 1\); evaluate takes"),
])
def test_bad_images_are_one_line_errors_with_exit_2(tmp_path, capsys, array, message):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(ValueError, match=message):
        evaluate(array)
    assert main(["evaluate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err


def test_mismatched_reference_is_refused(tmp_path, capsys):
    np.save(tmp_path / "x.npy", _series(n=3))
    np.save(tmp_path / "y.npy", _series(n=2))
    assert main(["evaluate", str(tmp_path / "x.npy"), "--reference", str(tmp_path / "y.npy")]) == 2
    assert "reference shape (2, 32, 32) differs from the image shape (3, 32, 32)" in capsys.readouterr().err


def test_report_is_checked_first_and_replaced_only_with_force(tmp_path, capsys):
    np.save(tmp_path / "x.npy", _series())
    report = tmp_path / "report.json"
    assert main(["evaluate", str(tmp_path / "x.npy"), "-o", str(report)]) == 0
    first = json.loads(report.read_text())
    assert first["frames"] == 3 and first["image"] == str(tmp_path / "x.npy")
    digest = _digest(report)
    capsys.readouterr()
    np.save(tmp_path / "nan.npy", np.full((2, 8, 8), np.nan))  # the report is checked before the image
    assert main(["evaluate", str(tmp_path / "nan.npy"), "-o", str(report)]) == 2
    assert "report.json exists; pass --force" in capsys.readouterr().err and _digest(report) == digest
    assert main(["evaluate", str(tmp_path / "x.npy"), "-o", str(tmp_path / "r.txt")]) == 2
    assert "ending in .json" in capsys.readouterr().err and not (tmp_path / "r.txt").exists()
    assert main(["evaluate", str(tmp_path / "x.npy"), "-o", str(report), "--force", "--channel", "0"]) == 2
    assert "no channel axis" in capsys.readouterr().err and _digest(report) == digest
    np.save(tmp_path / "x.npy", _series(seed=4))
    assert main(["evaluate", str(tmp_path / "x.npy"), "-o", str(report), "--force"]) == 0
    assert _digest(report) != digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.npy", "report.json", "x.npy"]
