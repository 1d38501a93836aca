"""Every readable format x every writable format keeps the data, the pixel size and its unit.

Each source file is made by its format's own library (tifffile as Fiji spells units, mrcfile, h5py, NumPy,
RosettaSciIO's writers for .emd/.hspy, imageio for PNG/JPEG), read with ``tfstem.io.read_image``, written
with ``write_image`` to every writable format and read back. ``.dm3``, ``.dm4`` and ``.ser`` cannot be
written by any library here (RosettaSciIO reads them only), so they are not among the sources.
"""

import numpy as np
import pytest

from tfstem import io

PIXEL_SIZE = 0.15
UNITS = ("nm", "Å", "µm", "pm")
FIJI_SPELLING = {"µm": "\\u00B5m", "Å": "\\u00C5"}  # what Fiji's FileSaver writes in the TIFF description
SOURCES = ("tif", "npy", "npz", "h5", "mrc", "emd", "hspy", "png", "jpg")
TARGETS = ("tif", "npy", "npz", "h5", "mrc", "emd", "hspy")
NO_STACK = ("png", "jpg")  # single frames only
NO_METADATA = ("npy", "png", "jpg")
LOSSY = ("jpg",)


def _rsciio_signal(data, unit):
    spatial = dict(scale=PIXEL_SIZE, offset=0.0, units=unit, navigate=False)
    axes = [dict(name="frame", size=data.shape[0], scale=1.0, offset=0.0, units="", navigate=True),
            dict(name="y", size=data.shape[1], **spatial), dict(name="x", size=data.shape[2], **spatial)]
    return dict(data=data, axes=axes, metadata={"General": {"title": "t"}, "Signal": {"signal_type": ""}},
                original_metadata={}, tmp_parameters={}, attributes={"_lazy": False}, learning_results={},
                models={}, package_info={"name": "test", "version": "0"})


def make_source(kind, folder, data, unit):
    """Write ``data`` (float32 [N, H, W], or uint8 [H, W] for PNG/JPEG) with the format's own library."""
    path = folder / f"source.{kind}"
    if kind == "tif":
        import tifffile

        tifffile.imwrite(path, data, imagej=True, resolution=(1 / PIXEL_SIZE, 1 / PIXEL_SIZE),
                         metadata={"axes": "TYX", "unit": FIJI_SPELLING.get(unit, unit)})
    elif kind == "npy":
        np.save(path, data)
    elif kind == "npz":
        np.savez(path, data=data, pixel_size=PIXEL_SIZE, unit=unit)
    elif kind == "h5":
        import h5py

        with h5py.File(path, "w") as handle:
            dataset = handle.create_dataset("image", data=data)
            dataset.attrs["pixel_size"], dataset.attrs["unit"] = PIXEL_SIZE, unit
    elif kind == "mrc":
        import mrcfile

        with mrcfile.new(path) as mrc:
            mrc.set_data(data)
            mrc.voxel_size = io.convert_length(PIXEL_SIZE, unit, "Å")
    elif kind in ("emd", "hspy"):
        module = pytest.importorskip(f"rsciio.{kind}")
        options = {"show_progressbar": False} if kind == "hspy" else {}
        module.file_writer(str(path), _rsciio_signal(data, unit), **options)
    else:
        import imageio.v3 as iio

        iio.imwrite(path, data)
    return path


def expected_size(kind, unit):
    """(pixel size, unit) that reading a ``kind`` file written with PIXEL_SIZE ``unit`` must give."""
    if kind in NO_METADATA:
        return None, None
    if kind == "mrc":
        return io.convert_length(PIXEL_SIZE, unit, "Å"), "Å"
    return PIXEL_SIZE, unit


def assert_size(image, size, unit):
    assert image.unit == unit
    if size is None:
        assert image.pixel_size is None
    else:
        assert image.pixel_size == pytest.approx(size, rel=1e-6)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("source", SOURCES)
def test_format_pair_keeps_data_pixel_size_and_unit(tmp_path, source, target):
    rng = np.random.default_rng(0)
    for unit in UNITS:
        folder = tmp_path / ("u" + str(UNITS.index(unit)))
        folder.mkdir()
        if source in NO_STACK:
            data = rng.integers(0, 256, (12, 16)).astype(np.uint8)
        else:
            data = rng.random((2, 12, 16)).astype(np.float32)
        first = io.read_image(make_source(source, folder, data, unit))
        assert first.data.shape == data.shape
        if source not in LOSSY:
            np.testing.assert_array_equal(first.data.astype(np.float32), data.astype(np.float32))
        size, expected_unit = expected_size(source, unit)
        assert_size(first, size, expected_unit)

        written = io.write_image(folder / f"copy.{target}", first.data, pixel_size=first.pixel_size, unit=first.unit)
        second = io.read_image(written)
        assert second.data.shape == data.shape
        np.testing.assert_array_equal(second.data.astype(np.float32), first.data.astype(np.float32))
        if target in NO_METADATA:
            assert_size(second, None, None)
        elif target == "mrc" and size is not None:
            assert_size(second, io.convert_length(size, expected_unit, "Å"), "Å")
        else:
            assert_size(second, size, expected_unit)


def test_read_formats_and_write_formats_are_the_ones_tested():
    assert {s.lstrip(".") for s in io.WRITE_FORMATS} - {"tiff", "hdf5"} == set(TARGETS)
    assert {s.lstrip(".") for s in io.READ_FORMATS} - {"tiff", "hdf5", "jpeg"} == set(SOURCES) | {"dm3", "dm4", "ser"}
