"""`tfstem restore` streaming through dask: .zarr in and out, chunked atomic writes, pixel size kept."""

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
zarr = pytest.importorskip("zarr")

import tfstem  # noqa: E402
from tfstem import io, lazy_io  # noqa: E402
from tfstem.cli import main  # noqa: E402
from tfstem.r_em.cgrdn import build_cgrdn  # noqa: E402


@pytest.fixture(scope="module")
def tiny_model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    build_cgrdn(features=8, growth=4, layers_per_rdb=2, rdbs_per_grdb=1, grdbs=1).save(path)
    return path


@pytest.fixture(scope="module")
def series():
    return np.random.default_rng(3).poisson(30.0, (6, 40, 44)).astype(np.float32)


def _restore(*args, model):
    return main(["restore", *map(str, args), "--model", str(model), "--quiet"])


def _no_partial(folder):
    leftovers = [p.name for p in folder.rglob("*") if ".partial-" in p.name]
    assert not leftovers, leftovers


def test_h5_to_zarr_to_h5_streams_and_keeps_pixel_size(tmp_path, tiny_model_path, series, capsys):
    source = io.write_image(tmp_path / "big.h5", series, pixel_size=0.5, unit="Å")
    expected = tfstem.restore(series, model=str(tiny_model_path), verbose=False)
    assert main(["restore", str(source), "-o", str(tmp_path / "big_restored.zarr"), "--model",
                 str(tiny_model_path)]) == 0
    assert "frame" in capsys.readouterr().err  # the progress bar
    stored = zarr.open(str(tmp_path / "big_restored.zarr"), mode="r")
    assert (stored.attrs["pixel_size"], stored.attrs["unit"]) == (0.5, "Å")
    np.testing.assert_allclose(stored[:], expected, atol=1e-5 * np.ptp(expected), rtol=0)
    # and back: .zarr in, .h5 out, as tfstem.io reads it
    assert _restore(tmp_path / "big_restored.zarr", "-o", tmp_path / "again.h5", model=tiny_model_path) == 0
    again = io.read_image(tmp_path / "again.h5")
    assert again.data.shape == series.shape and (again.pixel_size, again.unit) == (0.5, "Å")
    _no_partial(tmp_path)


@pytest.mark.parametrize("suffix", [".tif", ".npy", ".emd"])
def test_lazy_flag_streams_every_format(tmp_path, tiny_model_path, series, suffix):
    if suffix == ".emd":
        pytest.importorskip("rsciio")
    source = io.write_image(tmp_path / f"in{suffix}", series, pixel_size=None if suffix == ".npy" else 0.2,
                            unit=None if suffix == ".npy" else "nm")
    assert _restore(source, "-o", tmp_path / f"out{suffix if suffix != '.emd' else '.tif'}", "--lazy",
                    model=tiny_model_path) == 0
    result = io.read_image(tmp_path / f"out{suffix if suffix != '.emd' else '.tif'}")
    expected = tfstem.restore(series, model=str(tiny_model_path), verbose=False)
    np.testing.assert_allclose(result.data, expected, atol=1e-5 * np.ptp(expected), rtol=0)
    if suffix != ".npy":
        assert (result.pixel_size, result.unit) == (pytest.approx(0.2), "nm")


def test_read_lazy_reads_page_by_page_and_what_io_reads(tmp_path, series):
    for name, data in (("s.tif", series), ("c.tif", np.stack([series, series + 1], -1)), ("s.npy", series),
                       ("s.h5", series)):
        path = io.write_image(tmp_path / name, data, **({} if name.endswith("npy") else dict(pixel_size=2.0,
                                                                                              unit="µm")))
        lazy, eager = lazy_io.read_lazy(path), io.read_image(path)
        assert isinstance(lazy.data, da.Array) and lazy.data.shape == eager.data.shape
        np.testing.assert_array_equal(lazy.data.compute(), eager.data)
        assert (lazy.pixel_size, lazy.unit) == (eager.pixel_size, eager.unit)


class _Interrupt:
    """A chunk function that raises KeyboardInterrupt on the frames from ``frame`` on (a Ctrl-C mid-run)."""

    def __init__(self, frame):
        self.frame = frame

    def __call__(self, block, block_info=None):
        if block_info and block_info[0]["array-location"][0][0] >= self.frame:
            raise KeyboardInterrupt
        return block


@pytest.mark.parametrize("suffix", [".zarr", ".h5", ".tif", ".npy"])
def test_an_interrupted_write_leaves_nothing(tmp_path, series, suffix):
    data = da.from_array(series, chunks=(1, 40, 44)).map_blocks(_Interrupt(4), dtype=np.float32)
    with pytest.raises(KeyboardInterrupt):
        lazy_io.write_lazy(tmp_path / f"out{suffix}", data, pixel_size=1.0, unit="nm")
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_force_and_is_replaced_whole(tmp_path, tiny_model_path, series, capsys):
    source = io.write_image(tmp_path / "in.npy", series)
    target = tmp_path / "out.zarr"
    assert _restore(source, "-o", target, model=tiny_model_path) == 0
    before = zarr.open(str(target), mode="r")[:]
    assert _restore(source, "-o", target, model=tiny_model_path) == 2
    assert "exists" in capsys.readouterr().err
    assert _restore(source, "-o", target, "--force", model=tiny_model_path) == 0
    np.testing.assert_array_equal(zarr.open(str(target), mode="r")[:], before)
    _no_partial(tmp_path)


def test_several_inputs_go_to_a_folder_of_zarr_stores_not_into_one(tmp_path, tiny_model_path, series, capsys):
    sources = [io.write_image(tmp_path / f"f{i}.npy", series[:2]) for i in range(2)]
    assert _restore(*sources, "-o", tmp_path / "all.zarr", model=tiny_model_path) == 2
    assert "names a .zarr store but 2 inputs" in capsys.readouterr().err
    assert _restore(*sources, "-o", tmp_path / "out", "--format", "zarr", model=tiny_model_path) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["f0_restored.zarr", "f1_restored.zarr"]


def test_missing_zarr_input_and_bad_scheduler_are_one_line_errors(tmp_path, tiny_model_path, capsys):
    assert _restore(tmp_path / "nothing.zarr", "-o", tmp_path / "o.zarr", model=tiny_model_path) == 2
    assert "no such file" in capsys.readouterr().err
    source = io.write_image(tmp_path / "in.npy", np.ones((2, 16, 16), np.float32))
    assert _restore(source, "-o", tmp_path / "o.zarr", "--scheduler", "not-an-address:x",
                    model=tiny_model_path) == 2
    err = capsys.readouterr().err
    assert "--scheduler not-an-address:x" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.zarr").exists()


@pytest.mark.distributed
def test_scheduler_address_sends_the_work_to_a_cluster(tmp_path, tiny_model_path, series):
    distributed = pytest.importorskip("distributed")
    source = io.write_image(tmp_path / "in.h5", series, pixel_size=0.1, unit="nm")
    with distributed.LocalCluster(n_workers=1, processes=False, threads_per_worker=2, protocol="tcp",
                                  dashboard_address=None) as cluster:
        assert _restore(source, "-o", tmp_path / "out.zarr", "--scheduler", cluster.scheduler_address,
                        model=tiny_model_path) == 0
    expected = tfstem.restore(series, model=str(tiny_model_path), verbose=False)
    np.testing.assert_allclose(zarr.open(str(tmp_path / "out.zarr"), mode="r")[:], expected,
                               atol=1e-5 * np.ptp(expected), rtol=0)
