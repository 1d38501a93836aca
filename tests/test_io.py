"""Reading and writing EM files: round trips, pixel sizes, and clear errors."""

import numpy as np
import pytest

from tfstem import io


@pytest.mark.parametrize("suffix", [".tif", ".npy", ".h5"])
@pytest.mark.parametrize("shape", [(30, 40), (3, 30, 40), (30, 40, 2)])
def test_round_trip_keeps_data_and_pixel_size(tmp_path, suffix, shape):
    data = np.random.default_rng(0).random(shape).astype(np.float32)
    path = io.write_image(tmp_path / f"img{suffix}", data, pixel_size=0.05, unit="nm")
    image = io.read_image(path)
    np.testing.assert_array_equal(image.data, data)
    if suffix != ".npy":
        assert image.pixel_size == pytest.approx(0.05) and image.unit == "nm"


def test_mrc_and_png_are_read(tmp_path):
    import imageio.v3 as iio
    import mrcfile

    data = np.arange(20 * 30, dtype=np.float32).reshape(20, 30)
    with mrcfile.new(tmp_path / "a.mrc") as mrc:
        mrc.set_data(data)
        mrc.voxel_size = 1.5
    image = io.read_image(tmp_path / "a.mrc")
    np.testing.assert_array_equal(image.data, data)
    assert image.pixel_size == pytest.approx(1.5) and image.unit == "Å"
    iio.imwrite(tmp_path / "a.png", (data % 256).astype(np.uint8))
    assert io.read_image(tmp_path / "a.png").data.shape == (20, 30)


def test_emd_through_rosettasciio(tmp_path):
    emd = pytest.importorskip("rsciio.emd")
    data = np.random.default_rng(1).random((24, 32)).astype(np.float32)
    axes = [dict(name=n, size=s, scale=0.02, offset=0.0, units="nm", navigate=False) for n, s in (("y", 24), ("x", 32))]
    emd.file_writer(str(tmp_path / "a.emd"), dict(data=data, axes=axes, metadata={"General": {"title": "t"}, "Signal": {}},
                                                   original_metadata={}))
    image = io.read_image(tmp_path / "a.emd")
    np.testing.assert_allclose(image.data, data)
    assert image.pixel_size == pytest.approx(0.02) and image.unit == "nm"


def test_existing_file_is_not_overwritten(tmp_path):
    path = io.write_image(tmp_path / "a.npy", np.zeros((4, 4)))
    with pytest.raises(FileExistsError, match="force"):
        io.write_image(path, np.ones((4, 4)))
    np.testing.assert_array_equal(np.load(path), np.zeros((4, 4)))
    io.write_image(path, np.ones((4, 4)), overwrite=True)  # the former keyword still works
    np.testing.assert_array_equal(np.load(path), np.ones((4, 4)))
    io.write_image(path, np.full((4, 4), 2.0), force=True)
    np.testing.assert_array_equal(np.load(path), np.full((4, 4), 2.0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy"]  # no temporary file left beside it


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.with_suffix(".tif").write_bytes(b""), "empty"),
        (lambda p: p.with_suffix(".tif").write_bytes(b"not a tiff at all"), "cannot read"),
        (lambda p: p.with_suffix(".xyz").write_bytes(b"123"), "unsupported format"),
    ],
    ids=["empty", "corrupt", "unknown-suffix"],
)
def test_bad_files_raise_one_line_value_errors(tmp_path, make, message):
    make(tmp_path / "bad")
    path = next(tmp_path.glob("bad.*"))
    with pytest.raises(ValueError, match=message) as info:
        io.read_image(path)
    assert "\n" not in str(info.value)


def test_missing_file():
    with pytest.raises(FileNotFoundError):
        io.read_image("/no/such/file.tif")


def test_unwritable_format(tmp_path):
    with pytest.raises(ValueError, match="cannot write"):
        io.write_image(tmp_path / "a.png", np.zeros((4, 4)))
