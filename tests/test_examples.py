"""The examples run as a user runs them: from another folder, against the installed tfstem, one-line errors."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py")) + sorted((ROOT / "benchmarks").glob("*.py"))


def _run(script, *args, cwd):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env={**env, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=300)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_scripts_import_the_installed_package_not_the_checkout(script):
    """A script that puts the repository root on sys.path would never exercise the installed tfstem."""
    assert "sys.path.insert" not in script.read_text() and "sys.path.append" not in script.read_text()


@pytest.fixture
def small_frame(tmp_path):
    from tfstem import io

    frame = np.random.default_rng(0).poisson(30.0, (40, 48)).astype(np.float32)
    return io.write_image(tmp_path / "frame.tif", frame, pixel_size=0.05, unit="nm")


def test_restore_image_refuses_an_existing_output_in_one_line(tmp_path, small_frame):
    target = tmp_path / "frame_restored.tif"
    target.write_bytes(b"earlier result")
    result = _run(EXAMPLES / "restore_image.py", small_frame, "--model", "cgrdn_hrstem", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert str(target) in result.stderr and "--force" in result.stderr
    assert target.read_bytes() == b"earlier result"


def test_restore_image_names_a_missing_input(tmp_path):
    result = _run(EXAMPLES / "restore_image.py", tmp_path / "absent.tif", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "absent.tif" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_restore_image_writes_then_replaces_only_with_force(tmp_path, small_frame):
    from tfstem import io

    target = tmp_path / "out" / "restored.tif"
    target.parent.mkdir()
    first = _run(EXAMPLES / "restore_image.py", small_frame, "-o", target, "--model", "cgrdn_hrstem", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    written = io.read_image(target)
    assert written.data.shape == (40, 48) and written.data.dtype == np.float32
    assert written.pixel_size == pytest.approx(0.05) and written.unit == "nm"
    before = _digest(target)
    again = _run(EXAMPLES / "restore_image.py", small_frame, "-o", target, "--model", "cgrdn_hrstem", cwd=tmp_path)
    assert again.returncode == 2 and _digest(target) == before
    forced = _run(EXAMPLES / "restore_image.py", small_frame, "-o", target, "--model", "cgrdn_hrstem", "--force",
                  cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert sorted(p.name for p in target.parent.iterdir()) == ["restored.tif"]  # no partial file left


def test_demo_refuses_an_existing_output_folder_before_any_work(tmp_path):
    out = tmp_path / "demo_output"
    out.mkdir()
    (out / "metrics.txt").write_text("earlier run\n")
    result = _run(EXAMPLES / "demo.py", "-o", out, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0 and "--force" in result.stderr and str(out) in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo_output"]  # no staging folder left
    assert sorted(p.name for p in out.iterdir()) == ["metrics.txt"]
    assert (out / "metrics.txt").read_text() == "earlier run\n"


def test_demo_refuses_a_file_where_its_folder_goes(tmp_path):
    out = tmp_path / "demo_output"
    out.write_text("not a folder")
    result = _run(EXAMPLES / "demo.py", "--out", out, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr and str(out) in result.stderr
    assert out.read_text() == "not a folder"


@pytest.mark.parametrize("script, shipped", [("make_n2v_video.py", ["n2v_dual_channel_video.npz"]),
                                             ("make_noise2atom_series.py", ["noise2atom_series.tif",
                                                                            "noise2atom_series_truth.npz"])])
def test_data_generators_keep_the_shipped_files_without_force(tmp_path, script, shipped):
    before = {name: _digest(EXAMPLES / "data" / name) for name in shipped}
    result = _run(EXAMPLES / script, cwd=tmp_path)  # default target: the shipped files
    assert result.returncode == 2 and "--force" in result.stderr and "Traceback" not in result.stderr
    assert {name: _digest(EXAMPLES / "data" / name) for name in shipped} == before
    assert not [p.name for p in (EXAMPLES / "data").iterdir() if ".partial-" in p.name]


def test_data_generators_write_new_files(tmp_path):
    video = _run(EXAMPLES / "make_n2v_video.py", "-o", tmp_path / "video.npz", "--frames", "2", "--size", "64",
                 cwd=tmp_path)
    assert video.returncode == 0, video.stderr
    assert np.load(tmp_path / "video.npz")["noisy"].shape == (2, 64, 64, 2)
    series = _run(EXAMPLES / "make_noise2atom_series.py", "--out", tmp_path / "series", "--frames", "2",
                  "--size", "128", cwd=tmp_path)
    assert series.returncode == 0, series.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["series.tif", "series_truth.npz", "video.npz"]


@pytest.mark.parametrize("script, report, args", [("train_n2v_stem.py", "metrics.json", ()),
                                                  ("train_noise2atom.py", "report.json", ()),
                                                  ("train_cgrdn.py", "summary.json", ("--json", "out/summary.json"))])
def test_training_examples_keep_an_earlier_report_without_force(tmp_path, script, report, args):
    """A report is written atomically and, like the run folder, replaced only with --force (or --resume)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / report).write_text("earlier")
    result = _run(EXAMPLES / script, "--quick", "-o", out, *args, cwd=tmp_path)
    assert result.returncode == 2 and "--force" in result.stderr and "Traceback" not in result.stderr
    assert str(out / report) in result.stderr or f"out/{report}" in result.stderr
    assert (out / report).read_text() == "earlier" and [p.name for p in out.iterdir()] == [report]  # no work done


@pytest.mark.slow
@pytest.mark.parametrize("script, extra, outputs", [
    ("train_cgrdn.py", (), ["model.keras", "history.json", "config.json"]),
    ("train_n2v_stem.py", ("--no-bm3d",), []),
    ("train_noise2atom.py", (), ["denoised.tif", "losses.png", "side_by_side.png", "report.json", "run/model.keras"]),
])
def test_training_examples_quick_run_through_the_public_api(tmp_path, script, extra, outputs):
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, str(EXAMPLES / script), "--quick", "-o", str(out), *extra],
                          capture_output=True, text=True, cwd=tmp_path, env={**env, "TF_CPP_MIN_LOG_LEVEL": "2"},
                          timeout=900)
    report = {"train_n2v_stem.py": out / "metrics.json", "train_noise2atom.py": out / "report.json"}.get(script)
    collapsed = report is not None and json.loads(report.read_text())["collapse"]["collapsed"]
    # a collapsed model is reported as a failure: exit status 3, the verdict in the printout and the report
    assert done.returncode == (3 if collapsed else 0), done.stdout[-2000:] + done.stderr[-2000:]
    assert ("TRAINING FAILED" in done.stdout) == collapsed
    if report is not None:
        assert json.loads(report.read_text())["verdict"] == ("FAILED: collapsed output" if collapsed else "trained")
    if script == "train_n2v_stem.py":
        assert collapsed and "n2v (FAILED: collapsed)" in (out / "metrics.md").read_text()  # a few steps
    assert out.is_dir() and any(out.rglob("*.keras"))
    for name in outputs:
        assert (out / name).exists(), f"{script} --quick did not write {name}"
