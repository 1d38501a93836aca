"""The tfstem command: restore round trips, no silent overwrite, one-line errors with exit status 2."""

import subprocess
import sys

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


@pytest.mark.parametrize("suffix", [".tif", ".npy", ".h5"])
def test_restore_round_trip(tmp_path, tiny_model_path, suffix):
    data = np.random.default_rng(0).poisson(4.0, (3, 20, 24)).astype(np.uint16)
    source = io.write_image(tmp_path / f"in{suffix}", data, pixel_size=0.1)
    target = tmp_path / f"out{suffix}"
    assert main(["restore", str(source), "-o", str(target), "--model", str(tiny_model_path), "--quiet"]) == 0
    result = io.read_image(target)
    assert result.data.shape == data.shape and result.data.dtype == np.float32
    if suffix != ".npy":
        assert result.pixel_size == pytest.approx(0.1)


def test_restore_reads_a_rosettasciio_format(tmp_path, tiny_model_path):
    emd = pytest.importorskip("rsciio.emd")
    data = np.random.default_rng(1).random((24, 32)).astype(np.float32)
    axes = [dict(name=n, size=s, scale=0.02, offset=0.0, units="nm", navigate=False) for n, s in (("y", 24), ("x", 32))]
    emd.file_writer(str(tmp_path / "in.emd"), dict(data=data, axes=axes, metadata={"General": {"title": "t"}, "Signal": {}}, original_metadata={}))
    assert main(["restore", str(tmp_path / "in.emd"), "-o", str(tmp_path / "out.tif"), "--model",
                 str(tiny_model_path), "--quiet"]) == 0
    result = io.read_image(tmp_path / "out.tif")
    assert result.data.shape == (24, 32) and result.pixel_size == pytest.approx(0.02) and result.unit == "nm"


def test_several_inputs_into_a_directory(tmp_path, tiny_model_path):
    sources = [io.write_image(tmp_path / f"f{i}.npy", np.ones((16, 16)) * i) for i in range(2)]
    out_dir = tmp_path / "out"
    assert main(["restore", *map(str, sources), "-o", str(out_dir), "--model", str(tiny_model_path), "--quiet"]) == 0
    assert sorted(p.name for p in out_dir.iterdir()) == ["f0_restored.tif", "f1_restored.tif"]


def test_existing_output_is_kept_without_force(tmp_path, tiny_model_path, capsys):
    source = io.write_image(tmp_path / "in.npy", np.ones((16, 16)))
    target = io.write_image(tmp_path / "out.npy", np.full((2, 2), 7.0))
    assert main(["restore", str(source), "-o", str(target), "--model", str(tiny_model_path)]) == 2
    assert "--force" in capsys.readouterr().err
    np.testing.assert_array_equal(np.load(target), np.full((2, 2), 7.0))
    assert main(["restore", str(source), "-o", str(target), "--model", str(tiny_model_path), "--force", "--quiet"]) == 0
    assert np.load(target).shape == (16, 16)


def _empty_file(path):
    path.write_bytes(b"")
    return path


@pytest.mark.parametrize(
    "make, args",
    [
        (lambda d: d / "missing.tif", []),
        (lambda d: _empty_file(d / "empty.tif"), []),
        (lambda d: io.write_image(d / "nan.npy", np.full((8, 8), np.nan)), []),
        (lambda d: io.write_image(d / "line.npy", np.zeros(8)), []),
        (lambda d: io.write_image(d / "ok.npy", np.zeros((8, 8))), ["--model", "no-such-model"]),
    ],
    ids=["missing", "empty", "nan", "1d", "unknown-model"],
)
def test_bad_input_prints_one_line_and_exits_2(tmp_path, tiny_model_path, capsys, make, args):
    source = make(tmp_path)
    model_args = args or ["--model", str(tiny_model_path)]
    status = main(["restore", str(source), "-o", str(tmp_path / "out.tif"), *model_args, "--quiet"])
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert len(err.splitlines()) == 1 and err.startswith("tfstem restore: error:")
    assert not (tmp_path / "out.tif").exists()


def test_console_script_runs_as_a_process(tmp_path, tiny_model_path):
    source = io.write_image(tmp_path / "in.npy", np.ones((3, 16, 16)))
    done = subprocess.run([sys.executable, "-m", "tfstem.cli", "restore", str(source), "-o", str(tmp_path / "o.npy"),
                           "--model", str(tiny_model_path), "--quiet"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    bad = subprocess.run([sys.executable, "-m", "tfstem.cli", "restore", str(tmp_path / "nope.tif"), "-o",
                          str(tmp_path / "x.tif")], capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_models_lists_r_em(capsys):
    assert main(["models"]) == 0
    assert "r_em/hrstem" in capsys.readouterr().out
