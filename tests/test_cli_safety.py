"""`tfstem restore` keeps metadata, refuses what would lose data before any work, and stays quiet.

Each test here reproduces a case of the reliability trial (issue 15) that lost or mislabelled data.
"""

import hashlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tfstem import io
from tfstem.cli import main
from tfstem.r_em.cgrdn import build_cgrdn


@pytest.fixture(scope="module")
def tiny_model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    build_cgrdn(features=8, growth=4, layers_per_rdb=2, rdbs_per_grdb=1, grdbs=1).save(path)
    return path


def _tree(folder):
    """``{relative path: sha256}`` of every file under ``folder``."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _restore(*args, model):
    return main(["restore", *map(str, args), "--model", str(model), "--quiet"])


@pytest.mark.parametrize("unit", ["pm", "Å", "µm", "nm"])
def test_pixel_size_unit_survives_the_command_line(tmp_path, tiny_model_path, unit):
    source = io.write_image(tmp_path / "in.h5", np.ones((20, 20), np.float32), pixel_size=15.0, unit=unit)
    assert _restore(source, "-o", tmp_path / "out.tif", model=tiny_model_path) == 0
    result = io.read_image(tmp_path / "out.tif")
    assert (result.pixel_size, result.unit) == (pytest.approx(15.0), unit)


def test_mrc_in_angstrom_stays_in_angstrom(tmp_path, tiny_model_path):
    mrcfile = pytest.importorskip("mrcfile")
    with mrcfile.new(tmp_path / "in.mrc") as mrc:
        mrc.set_data(np.ones((20, 24), np.float32))
        mrc.voxel_size = 1.5
    assert _restore(tmp_path / "in.mrc", "-o", tmp_path / "out.tif", model=tiny_model_path) == 0
    result = io.read_image(tmp_path / "out.tif")
    assert (result.pixel_size, result.unit) == (pytest.approx(1.5), "Å")


def test_two_inputs_with_one_name_are_refused_before_any_work(tmp_path, tiny_model_path, capsys):
    (tmp_path / "d1").mkdir(), (tmp_path / "d2").mkdir()
    first = io.write_image(tmp_path / "d1" / "x.npy", np.ones((16, 16)))
    second = io.write_image(tmp_path / "d2" / "x.npy", np.zeros((16, 16)))
    for extra in ([], ["--force"]):
        assert _restore(first, second, "-o", tmp_path / "out", *extra, model=tiny_model_path) == 2
        err = capsys.readouterr().err
        assert "would both be written to" in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "out").exists()


def test_several_inputs_into_a_file_name_is_refused(tmp_path, tiny_model_path, capsys):
    sources = [io.write_image(tmp_path / f"f{i}.npy", np.ones((16, 16))) for i in range(2)]
    assert _restore(*sources, "-o", tmp_path / "multi.tif", model=tiny_model_path) == 2
    assert "names a file but 2 inputs" in capsys.readouterr().err
    assert not (tmp_path / "multi.tif").exists()


def test_unwritable_output_is_reported_before_the_model_loads(tmp_path, capsys):
    source = io.write_image(tmp_path / "in.npy", np.ones((16, 16)))
    (tmp_path / "afile").write_text("not a folder")
    before = _tree(tmp_path)
    # the model name is bad too: the output problem must be the one reported, since it is checked first
    status = main(["restore", str(source), "-o", str(tmp_path / "afile" / "out.tif"), "--model", "no-such", "--quiet"])
    err = capsys.readouterr().err
    assert status == 2 and "is a file, not a folder" in err and "no-such" not in err
    assert _tree(tmp_path) == before


def test_read_only_folder_is_reported_before_any_work(tmp_path, capsys, monkeypatch):
    from tfstem import outputs

    source = io.write_image(tmp_path / "in.npy", np.ones((16, 16)))
    (tmp_path / "ro").mkdir()

    def refuse(*args, dir=None, **kwargs):  # root ignores folder permissions: simulate a read-only filesystem
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(outputs.tempfile, "mkstemp", refuse)
    status = main(["restore", str(source), "-o", str(tmp_path / "ro" / "out.tif"), "--model", "no-such", "--quiet"])
    err = capsys.readouterr().err
    assert status == 2 and "Read-only file system" in err and "--output" in err


def test_output_that_is_also_an_input_is_refused(tmp_path, tiny_model_path, capsys):
    source = io.write_image(tmp_path / "in.tif", np.ones((16, 16)))
    before = _tree(tmp_path)
    assert _restore(source, "-o", source, "--force", model=tiny_model_path) == 2
    assert "is also an input" in capsys.readouterr().err
    assert _tree(tmp_path) == before


def test_npz_input_and_channels_axis(tmp_path, capsys):
    model = tmp_path / "two.keras"
    build_cgrdn(channels=2, features=8, growth=4, layers_per_rdb=2, rdbs_per_grdb=1, grdbs=1).save(model)
    stack = np.random.default_rng(0).random((3, 2, 16, 18)).astype(np.float32)  # T, C, Y, X as Fiji stores it
    np.savez(tmp_path / "video.npz", frames=stack)
    assert _restore(tmp_path / "video.npz", "-o", tmp_path / "out.npy", "--channels-axis", "1", model=model) == 0
    assert np.load(tmp_path / "out.npy").shape == (3, 16, 18, 2)
    assert _restore(tmp_path / "video.npz", "-o", tmp_path / "bad.npy", "--channels-axis", "7", model=model) == 2
    assert "channels" in capsys.readouterr().err.lower()


def _run_cli(*args, **kwargs):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the command itself must keep TensorFlow quiet
    return subprocess.Popen([sys.executable, "-m", "tfstem.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kwargs)


def test_tensorflow_start_up_lines_stay_off_the_terminal(tmp_path, tiny_model_path):
    source = io.write_image(tmp_path / "in.npy", np.ones((16, 16)))
    process = _run_cli("restore", source, "-o", tmp_path / "out.npy", "--model", tiny_model_path, "--quiet")
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert err.strip() == ""
    verbose = _run_cli("--verbose", "restore", source, "-o", tmp_path / "out2.npy", "--model", tiny_model_path,
                       "--quiet")
    _, err = verbose.communicate(timeout=300)
    assert verbose.returncode == 0 and ("oneDNN" in err or "absl" in err or "cuda" in err.lower()), err


@pytest.mark.slow
def test_ctrl_c_during_a_multi_file_restore_leaves_whole_files_only(tmp_path, tiny_model_path):
    frames = np.random.default_rng(0).random((4, 256, 256)).astype(np.float32)
    long_series = np.random.default_rng(1).random((600, 256, 256)).astype(np.float32)  # interrupted in its middle
    sources = [io.write_image(tmp_path / f"in{i}.npy", long_series if i == 1 else frames) for i in range(3)]
    out = tmp_path / "out"
    out.mkdir()
    io.write_image(out / "in1_restored.npy", np.full((2, 2), 7.0))  # an earlier result, replaced only when complete
    before = _tree(out)
    process = _run_cli("restore", *sources, "-o", out, "--format", "npy", "--force", "--quiet", "--model", tiny_model_path)
    first = process.stdout.readline()  # "in0.npy -> .../in0_restored.npy": the second file is now being restored
    assert "->" in first, process.stderr.read()
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err and len(err.strip().splitlines()) == 1
    after = _tree(out)
    assert sorted(after) == ["in0_restored.npy", "in1_restored.npy"]  # nothing partial, in2 not started
    assert np.load(out / "in0_restored.npy").shape == frames.shape
    assert after["in1_restored.npy"] == before["in1_restored.npy"]


def test_the_python_api_keeps_tensorflow_quiet_too(tmp_path, tiny_model_path):
    script = ("import numpy as np, tfstem; "
              f"out = tfstem.restore(np.ones((16, 16)), model={str(tiny_model_path)!r}, verbose=False); "
              "print(out.shape)")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(16, 16)" and done.stderr.strip() == "", done.stderr
