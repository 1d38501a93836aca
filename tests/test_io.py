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


# ---------------------------------------------------------------------------------------------- units


@pytest.mark.parametrize("spelling, canonical", [
    ("µm", "µm"), ("\u03bcm", "µm"), ("um", "µm"), ("micron", "µm"), ("microns", "µm"), ("\\u00B5m", "µm"),
    ("Å", "Å"), ("\u212b", "Å"), ("A", "Å"), ("angstrom", "Å"), ("\\u00C5", "Å"), (" nm ", "nm"),
    ("nanometre", "nm"), ("pm", "pm"), ("cm", "cm"), ("inch", "inch"), ("", None), ("<undefined>", None),
    ("pixel", None), (None, None), ("1/nm", "1/nm"),
])
def test_units_are_normalised(spelling, canonical):
    assert io.normalize_unit(spelling) == canonical


@pytest.mark.parametrize("unit, stored", [("Å", "\\u00C5"), ("µm", "micron"), ("μm", "micron"), ("nm", "nm"),
                                          ("pm", "pm")])
def test_tiff_stores_units_as_imagej_spells_them(tmp_path, unit, stored):
    """Before the fix, unit="Å" or "µm" raised UnicodeEncodeError in the TIFF writer."""
    import tifffile

    path = io.write_image(tmp_path / "q.tif", np.ones((8, 8), np.float32), pixel_size=0.1, unit=unit)
    with tifffile.TiffFile(path) as tif:
        assert tif.imagej_metadata["unit"] == stored
    image = io.read_image(path)
    assert image.pixel_size == pytest.approx(0.1, rel=1e-7) and image.unit == io.normalize_unit(unit)


@pytest.mark.parametrize("spelling", ["\\u00B5m", "micron", "um", "\\u03BCm"])
def test_fiji_spellings_of_micrometre_are_read_as_um(tmp_path, spelling):
    import tifffile

    tifffile.imwrite(tmp_path / "f.tif", np.ones((8, 8), np.float32), imagej=True, resolution=(2.0, 2.0),
                     metadata={"unit": spelling})
    image = io.read_image(tmp_path / "f.tif")
    assert image.pixel_size == 0.5 and image.unit == "µm"


@pytest.mark.parametrize("resolution_unit, per_unit, size, unit", [
    ("CENTIMETER", 250_000_000, 0.04, "nm"), ("CENTIMETER", 10_000, 1.0, "µm"), ("INCH", 300, 84.666667, "µm"),
    ("INCH", 2, 12.7, "mm"),
])
def test_tiff_in_cm_or_inch_comes_back_as_a_metric_length(tmp_path, resolution_unit, per_unit, size, unit):
    """Before the fix a cm/inch TIFF with tifffile's shaped unit 'nm' read as 4e-9 'nm'."""
    import tifffile

    tifffile.imwrite(tmp_path / "c.tif", np.ones((8, 8), np.float32), resolution=(per_unit, per_unit),
                     resolutionunit=resolution_unit, metadata={"unit": "nm"})
    image = io.read_image(tmp_path / "c.tif")
    assert image.pixel_size == pytest.approx(size, rel=1e-6) and image.unit == unit


def test_shipped_examples_read_with_their_pixel_size():
    from pathlib import Path

    data = Path(__file__).resolve().parents[1] / "examples" / "data"
    series = io.read_image(data / "noise2atom_series.tif")
    assert series.data.shape == (40, 256, 256) and (series.pixel_size, series.unit) == (0.04, "nm")
    video = io.read_image(data / "n2v_dual_channel_video.npz")  # keys noisy, clean: 'noisy' is the image
    assert video.data.shape == (48, 128, 128, 2) and (video.pixel_size, video.unit) == (0.025, "nm")
    np.testing.assert_array_equal(video.data, np.load(data / "n2v_dual_channel_video.npz")["noisy"])
    truth = io.read_image(data / "noise2atom_series_truth.npz")  # keys clean, atoms: 'clean' is the image
    assert truth.data.shape == (40, 256, 256) and (truth.pixel_size, truth.unit) == (0.04, "nm")


def test_extreme_pixel_sizes_fit_the_tiff_resolution_tag(tmp_path):
    """Before the fix 1/pixel_size above 2**32 raised 'max_denominator should be at least 1'."""
    path = io.write_image(tmp_path / "tiny.tif", np.ones((4, 4)), pixel_size=2e-11, unit="nm")
    image = io.read_image(path)
    assert io.convert_length(image.pixel_size, image.unit, "m") == pytest.approx(2e-20, rel=1e-6)
    with pytest.raises(ValueError, match="pixel_size=2e-11 px per frame cannot be stored"):
        io.write_image(tmp_path / "bad.tif", np.ones((4, 4)), pixel_size=2e-11, unit="px per frame")
    assert not (tmp_path / "bad.tif").exists()


# ---------------------------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("shape", [(12, 16, 1), (3, 12, 16, 1), (1, 12, 16), (1, 12, 16, 1), (12, 16, 3),
                                   (2, 12, 16, 3), (2, 12, 16, 4), (12, 16, 4)])
def test_tiff_keeps_every_image_shape(tmp_path, shape):
    """Before the fix [H, W, 1] and [N, H, W, 1] raised tifffile's 'PLANARCONFIG.CONTIG ... storedshape'."""
    data = np.random.default_rng(2).random(shape).astype(np.float32)
    image = io.read_image(io.write_image(tmp_path / "s.tif", data, pixel_size=0.2, unit="Å"))
    assert image.data.shape == shape
    np.testing.assert_array_equal(image.data, data)
    assert (image.pixel_size, image.unit) == (pytest.approx(0.2), "Å")


@pytest.mark.parametrize("axes, shape, expected", [
    ("TCYX", (5, 2, 12, 16), (5, 12, 16, 2)), ("CYX", (3, 12, 16), (12, 16, 3)),
    ("ZCYX", (4, 2, 12, 16), (4, 12, 16, 2)), ("TYX", (5, 12, 16), (5, 12, 16)),
])
def test_fiji_hyperstacks_come_out_channels_last(tmp_path, axes, shape, expected):
    import tifffile

    data = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    tifffile.imwrite(tmp_path / "h.tif", data, imagej=True, metadata={"axes": axes})
    automatic = io.read_image(tmp_path / "h.tif")
    assert automatic.data.shape == expected
    if "C" in axes:
        np.testing.assert_array_equal(automatic.data, np.moveaxis(data, axes.index("C"), -1))
        explicit = io.read_image(tmp_path / "h.tif", channels_axis=axes.index("C"))
        np.testing.assert_array_equal(explicit.data, automatic.data)


def test_channels_axis_moves_that_axis_last(tmp_path):
    data = np.arange(2 * 3 * 8 * 9, dtype=np.float32).reshape(2, 3, 8, 9)
    np.save(tmp_path / "a.npy", data)
    assert io.read_image(tmp_path / "a.npy", channels_axis=1).data.shape == (2, 8, 9, 3)
    assert io.read_image(tmp_path / "a.npy", channels_axis=-3).data.shape == (2, 8, 9, 3)
    assert io.read_image(tmp_path / "a.npy", channels_axis=-1).data.shape == (2, 3, 8, 9)
    with pytest.raises(ValueError, match=r"a\.npy: channels_axis=4 is out of range .*\(2, 3, 8, 9\)"):
        io.read_image(tmp_path / "a.npy", channels_axis=4)


@pytest.mark.parametrize("axis", [True, 1.0, "1", -5])
def test_move_channels_last_refuses_bad_axes(axis):
    with pytest.raises(ValueError, match="channels_axis"):
        io.move_channels_last(np.zeros((2, 3, 4, 5)), axis)


def test_move_channels_last_leaves_the_input_alone():
    data = np.zeros((2, 3, 4))
    moved = io.move_channels_last(data, 0)
    assert moved.shape == (3, 4, 2) and data.shape == (2, 3, 4)


# ------------------------------------------------------------------------------------------ bad files


def _valid_bytes(tmp_path, suffix):
    data = np.random.default_rng(3).random((4, 16, 16) if suffix not in (".png", ".jpg") else (16, 16))
    data = data.astype(np.float32)
    if suffix in (".png", ".jpg"):
        import imageio.v3 as iio

        iio.imwrite(tmp_path / f"v{suffix}", (data * 255).astype(np.uint8))
        return (tmp_path / f"v{suffix}").read_bytes()
    if suffix in (".emd", ".hspy"):
        pytest.importorskip("rsciio")
    return io.write_image(tmp_path / f"v{suffix}", data, pixel_size=1.0, unit="nm").read_bytes()


def _random_bytes(n=3000):
    return np.random.default_rng(4).integers(0, 256, n, dtype=np.uint8).tobytes()


SUFFIXES = (".tif", ".npy", ".npz", ".h5", ".mrc", ".png", ".jpg", ".emd", ".hspy")


@pytest.mark.parametrize("damage", ["truncated", "random", "png-inside"])
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_corrupt_files_raise_one_line_naming_the_file(tmp_path, suffix, damage):
    """Before the fix a corrupt .mrc read as a 0-d object array with only RuntimeWarnings, and a truncated
    4-frame TIFF read as its first frame with only a logged tifffile error."""
    valid = _valid_bytes(tmp_path, suffix)
    content = {"truncated": valid[: len(valid) // 2], "random": _random_bytes(),
               "png-inside": _valid_bytes(tmp_path, ".png")}[damage]
    if damage == "png-inside" and suffix == ".png":
        pytest.skip("a PNG named .png is a valid file")
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(content)
    with _no_warnings():  # no RuntimeWarning from numpy or mrcfile: the error says it all
        with pytest.raises(ValueError) as info:
            io.read_image(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def _no_warnings():
    import warnings

    class _Guard:
        def __enter__(self):
            self.context = warnings.catch_warnings(record=True)
            self.caught = self.context.__enter__()
            warnings.simplefilter("always")
            return self

        def __exit__(self, *exc):
            self.context.__exit__(None, None, None)
            assert not [w for w in self.caught if issubclass(w.category, RuntimeWarning)], self.caught
            return False

    return _Guard()


def test_mrc_with_a_wrong_header_is_refused(tmp_path):
    path = io.write_image(tmp_path / "h.mrc", np.ones((8, 8), np.float32))
    raw = bytearray(path.read_bytes())
    raw[0:4] = np.int32(2**30).tobytes()  # nx far beyond the data block
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"h\.mrc: not a valid MRC file"):
        io.read_image(path)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_zero_byte_files_are_refused(tmp_path, suffix):
    (tmp_path / f"z{suffix}").write_bytes(b"")
    with pytest.raises(ValueError, match=r"z\.\w+ is empty \(0 bytes\)"):
        io.read_image(tmp_path / f"z{suffix}")


@pytest.mark.parametrize("make, message", [
    (lambda p: np.save(p / "obj.npy", np.array([1, "a"], dtype=object), allow_pickle=True), "cannot read"),
    (lambda p: np.save(p / "c.npy", np.ones((4, 4), np.complex64)), "complex values"),
    (lambda p: np.save(p / "b.npy", np.ones((4, 4), bool)), "booleans"),
    (lambda p: np.save(p / "line.npy", np.zeros(8)), "1-D array"),
    (lambda p: np.save(p / "scalar.npy", np.float32(1)), "0-D array"),
    (lambda p: np.savez(p / "none.npz", a=np.zeros(3), b=np.zeros(2)), "no image"),
    (lambda p: np.savez(p / "two.npz", left=np.zeros((4, 4)), right=np.zeros((4, 4))), r"\['left', 'right'\]"),
    (lambda p: _h5(p / "none.h5", {"spectrum": np.zeros(9)}), "no image"),
    (lambda p: _h5(p / "two.h5", {"a": np.zeros((4, 4)), "b": np.zeros((4, 4))}), "cannot tell which"),
    (lambda p: _h5(p / "empty.h5", {}), "holds no dataset"),
], ids=["object", "complex", "bool", "1-D", "0-D", "npz-no-image", "npz-two-images", "h5-no-image",
        "h5-two-images", "h5-empty"])
def test_files_without_a_real_image_are_refused(tmp_path, make, message):
    make(tmp_path)
    path = next(tmp_path.iterdir())
    with pytest.raises(ValueError, match=message) as info:
        io.read_image(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def _h5(path, datasets):
    import h5py

    with h5py.File(path, "w") as handle:
        for name, value in datasets.items():
            handle[name] = value


# ------------------------------------------------------------------------------------------ bad writes


@pytest.mark.parametrize("pixel_size", [float("nan"), float("inf"), -0.1, 0, "0.1", True, [0.1]])
@pytest.mark.parametrize("suffix", [".tif", ".h5", ".mrc"])
def test_bad_pixel_sizes_are_refused_before_writing(tmp_path, suffix, pixel_size):
    """Before the fix a NaN or negative pixel size gave struct.error or 'max_denominator' from tifffile."""
    with pytest.raises(ValueError, match="pixel_size must be a finite number > 0") as info:
        io.write_image(tmp_path / f"p{suffix}", np.ones((4, 4)), pixel_size=pixel_size, unit="nm")
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_unit_without_pixel_size_is_refused(tmp_path):
    with pytest.raises(ValueError, match="without pixel_size"):
        io.write_image(tmp_path / "u.tif", np.ones((4, 4)), unit="nm")
    assert list(tmp_path.iterdir()) == []


def test_pixel_size_without_unit_is_not_relabelled(tmp_path):
    for suffix in (".tif", ".h5", ".npz"):
        image = io.read_image(io.write_image(tmp_path / f"n{suffix}", np.ones((4, 4)), pixel_size=0.3))
        assert image.pixel_size == pytest.approx(0.3) and image.unit is None


@pytest.mark.parametrize("suffix, unit, message", [
    (".mrc", None, "must be a length"), (".mrc", "1/nm", "must be a length"), (".emd", None, "only with its unit"),
    (".hspy", None, "only with its unit"),
])
def test_formats_that_need_a_length_refuse_a_pixel_size_without_one(tmp_path, suffix, unit, message):
    if suffix != ".mrc":
        pytest.importorskip("rsciio")
    with pytest.raises(ValueError, match=message):
        io.write_image(tmp_path / f"m{suffix}", np.ones((4, 4)), pixel_size=0.3, unit=unit)
    with pytest.raises(ValueError, match=message):
        io.check_writable_format(tmp_path / f"m{suffix}", pixel_size=0.3, unit=unit)
    assert list(tmp_path.iterdir()) == []


def test_mrc_converts_lengths_to_angstrom(tmp_path):
    image = io.read_image(io.write_image(tmp_path / "a.mrc", np.ones((4, 4)), pixel_size=0.15, unit="nm"))
    assert image.pixel_size == pytest.approx(1.5) and image.unit == "Å"


@pytest.mark.parametrize("suffix", [".mrc", ".emd", ".hspy"])
def test_formats_without_channels_drop_one_and_refuse_several(tmp_path, suffix):
    if suffix != ".mrc":
        pytest.importorskip("rsciio")
    single = io.read_image(io.write_image(tmp_path / f"one{suffix}", np.ones((2, 8, 8, 1)), pixel_size=1, unit="Å"))
    assert single.data.shape == (2, 8, 8)
    with pytest.raises(ValueError, match="not 2 channels"):
        io.write_image(tmp_path / f"two{suffix}", np.ones((8, 8, 2)))
    assert not (tmp_path / f"two{suffix}").exists()


def test_float64_beyond_float32_is_refused_for_float32_formats(tmp_path):
    with pytest.raises(ValueError, match="exceed float32's range"):
        io.write_image(tmp_path / "big.tif", np.full((4, 4), 1e300))
    assert list(tmp_path.iterdir()) == []
    io.write_image(tmp_path / "big.npy", np.full((4, 4), 1e300))  # a container keeps float64


def test_unwritable_targets_are_refused_before_writing(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        io.write_image(tmp_path / "file" / "a.tif", np.ones((4, 4)))
    (tmp_path / "folder.tif").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder"):
        io.write_image(tmp_path / "folder.tif", np.ones((4, 4)))


def test_an_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    def interrupted(tmp, array, pixel_size, unit, path):
        tmp.write_bytes(b"partial")
        raise KeyboardInterrupt

    from tfstem.io import writers

    monkeypatch.setitem(writers.WRITERS, ".npy", interrupted)
    with pytest.raises(KeyboardInterrupt):
        io.write_image(tmp_path / "a.npy", np.ones((4, 4)))
    assert list(tmp_path.iterdir()) == []


def test_check_writable_format_checks_shape_and_metadata():
    io.check_writable_format("a.tif", pixel_size=0.1, unit="Å", shape=(2, 8, 8, 1))
    with pytest.raises(ValueError, match="pixel_size"):
        io.check_writable_format("a.tif", pixel_size=-1, unit="nm")
    with pytest.raises(ValueError, match=r"received shape \(8,\)"):
        io.check_writable_format("a.tif", shape=(8,))


def test_hyperspy_spectra_and_non_square_pixels_are_refused(tmp_path):
    hs = pytest.importorskip("hyperspy.api")
    spectra = hs.signals.Signal1D(np.ones((4, 5, 30), np.float32))
    spectra.axes_manager[-1].scale, spectra.axes_manager[-1].units = 0.1, "eV"
    spectra.save(tmp_path / "spectra.hspy")
    with pytest.raises(ValueError, match="spectra.hspy holds no image"):
        io.read_image(tmp_path / "spectra.hspy")
    oblong = hs.signals.Signal2D(np.ones((8, 10), np.float32))
    for axis, scale in zip(oblong.axes_manager.signal_axes, (0.1, 0.2)):  # x then y
        axis.scale, axis.units = scale, "nm"
    oblong.save(tmp_path / "oblong.hspy")
    with pytest.raises(ValueError, match="non-square pixels"):
        io.read_image(tmp_path / "oblong.hspy")
