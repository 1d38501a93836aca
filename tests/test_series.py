"""tfstem.io.read_series and tfstem.io.as_series: the one reader and the one validator of frames and series."""

import numpy as np
import pytest

from tfstem import io
from tfstem.io import series


@pytest.mark.parametrize("shape, expected", [
    ((5, 16, 20), (5, 16, 20, 1)), ((5, 16, 20, 2), (5, 16, 20, 2)), ((16, 20), (1, 16, 20, 1)),
    ((3, 16, 2), (3, 16, 2, 1)),  # a 3-D array is a series: never [H, W, C] here
])
def test_as_series_shapes(shape, expected):
    out = io.as_series(np.ones(shape, np.uint16))
    assert out.shape == expected and out.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.int64, np.uint64, np.float16, np.float64])
def test_as_series_takes_every_real_dtype_and_keeps_the_values(dtype):
    data = (np.arange(2 * 6 * 7) % 2).reshape(2, 6, 7).astype(dtype)
    np.testing.assert_array_equal(io.as_series(data)[..., 0], data.astype(np.float32))


def test_as_series_never_modifies_nor_shares_the_callers_array():
    data = np.random.default_rng(0).random((3, 8, 8, 1)).astype(np.float32)
    before = data.copy()
    out = io.as_series(data)
    out += 1
    np.testing.assert_array_equal(data, before)
    assert not np.shares_memory(out, data)
    view = io.series_view(data)  # the view keeps the caller's dtype and memory
    assert view.dtype == np.float32 and np.shares_memory(view, data)


def test_as_series_accepts_lists():
    assert io.as_series([[[0, 1], [2, 3]]]).shape == (1, 2, 2, 1)


@pytest.mark.parametrize("data, fragment", [
    (np.ones((2, 8, 8)) + 1j, r"frames must hold real numbers; received dtype complex128 \(pass np.abs"),
    (np.full((2, 8, 8), "a"), r"frames must hold real numbers; received dtype <U1\."),
    (np.array([[[None]]], dtype=object), "received dtype object"),
    (np.zeros((0, 8, 8)), r"frames are empty: they hold no pixels \(shape \(0, 8, 8\)\)"),
    (np.zeros((2, 0, 8, 1)), "frames are empty"),
    (np.arange(64.0), r"series \[N, H, W\] or \[N, H, W, C\] \(or one frame \[H, W\]\); received 1-D shape \(64,\)"),
    (np.ones((2, 3, 8, 8, 1)), r"received 5-D shape \(2, 3, 8, 8, 1\)"),
    (np.zeros((2, 10, 32, 32)), r"32 channels on its last axis \(shape \(2, 10, 32, 32\)\); pass \[N, H, W, C\] "
                                r"with the channels last"),
    (np.full((4, 40, 40), np.nan), "frames contain 6400 NaN or inf values; replace them"),
    (np.array([[[1.0, np.inf]]]), "contain 1 NaN or inf values"),
    (np.full((2, 4, 4), 1e300), r"frames has values up to 1e\+300 \(dtype float64\), beyond float32's range"),
])
def test_as_series_refusals_say_what_was_received(data, fragment):
    with pytest.raises(ValueError, match=fragment) as error:
        io.as_series(data)
    assert "\n" not in str(error.value)


def test_as_series_channels():
    assert io.as_series(np.ones((2, 8, 8)), channels=1).shape == (2, 8, 8, 1)
    assert io.as_series(np.ones((2, 8, 8, 2)), channels=2).shape == (2, 8, 8, 2)
    with pytest.raises(ValueError, match=r"must have 1 channel\(s\); received 3 .*pass \[N, H, W\] or \[N, H, W, 1\]"):
        io.as_series(np.ones((2, 8, 8, 3)), channels=1)
    with pytest.raises(ValueError, match=r"must have 2 channel\(s\); received 1 on the channels axis .*\[N, H, W, 2\]"):
        io.as_series(np.ones((2, 8, 8)), channels=2)


def test_as_series_min_size():
    assert io.as_series(np.ones((2, 32, 40)), min_size=32).shape == (2, 32, 40, 1)
    assert io.as_series(np.ones((2, 32, 40)), min_size=(32, 40)).shape == (2, 32, 40, 1)
    with pytest.raises(ValueError, match=r"frames of 24x40 px are smaller than 32x32 px \(min_size=32\)"):
        io.as_series(np.ones((2, 24, 40)), min_size=32)
    with pytest.raises(ValueError, match=r"32x40 px are smaller than 32x48 px"):
        io.as_series(np.ones((2, 32, 40)), min_size=(32, 48))
    for bad in (0, -1, 2.5, True, (1, 2, 3), "32"):
        with pytest.raises(ValueError, match=r"min_size must be an integer >= 1"):
            io.as_series(np.ones((2, 32, 40)), min_size=bad)


def test_as_series_names_the_array():
    with pytest.raises(ValueError, match=r"^movie.tif contains 1 NaN"):
        io.as_series(np.array([[[np.nan]]]), name="movie.tif")


def test_series_view_keeps_the_float64_range():
    huge = np.full((2, 4, 4), 1e300)
    assert series.series_view(huge).dtype == np.float64  # Noise2Atom scales in float64
    with pytest.raises(ValueError, match="beyond float32's range"):
        io.as_series(huge)


@pytest.mark.parametrize("shape, expected", [
    ((16, 20), (1, 16, 20, 1)), ((16, 20, 3), (1, 16, 20, 3)), ((6, 16, 20), (6, 16, 20, 1)),
    ((6, 16, 20, 2), (6, 16, 20, 2)),
])
def test_frames_view_is_the_rule_of_restore(shape, expected):
    data = np.zeros(shape, np.int16)
    view = series.frames_view(data)
    assert view.shape == expected and view.dtype == np.int16 and np.shares_memory(view, data)


@pytest.mark.parametrize("data, fragment", [
    (np.zeros(10), r"image must be \[H, W\], \[H, W, C\], \[N, H, W\] or \[N, H, W, C\]; received 1-D"),
    (np.zeros((0, 5)), r"image is empty"),
    (np.zeros((8, 8), np.complex64), "complex64"),
    (np.array([[1.0, np.nan], [0.0, 1.0]]), "image contains 1 NaN or inf values"),
])
def test_frames_view_refusals(data, fragment):
    with pytest.raises(ValueError, match=fragment):
        series.frames_view(data)


def test_read_series_gives_the_array_as_stored(tmp_path):
    video = np.random.default_rng(0).random((3, 16, 20, 2)).astype(np.float32)
    io.write_image(tmp_path / "video.tif", video)  # an ImageJ TCYX hyperstack: channels come back last
    np.testing.assert_array_equal(io.read_series(tmp_path / "video.tif"), video)
    stack = np.arange(4 * 6 * 7, dtype=np.uint16).reshape(4, 6, 7)
    np.save(tmp_path / "stack.npy", stack)
    out = io.read_series(tmp_path / "stack.npy")
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, stack)


def test_read_series_moves_the_channels_axis_last(tmp_path):
    nchw = np.random.default_rng(1).random((3, 2, 8, 9)).astype(np.float32)
    np.save(tmp_path / "nchw.npy", nchw)
    np.testing.assert_array_equal(io.read_series(tmp_path / "nchw.npy", channels_axis=1), np.moveaxis(nchw, 1, -1))
    with pytest.raises(ValueError, match=r"nchw.npy: channels_axis=4 is out of range"):
        io.read_series(tmp_path / "nchw.npy", channels_axis=4)


def test_read_series_gives_the_noisy_array_of_an_npz(tmp_path):
    noisy, clean = np.ones((2, 8, 8, 2), np.float16), np.zeros((2, 8, 8, 2), np.float16)
    np.savez(tmp_path / "video.npz", noisy=noisy, clean=clean, pixel_size_nm=np.float32(0.1))
    np.testing.assert_array_equal(io.read_series(tmp_path / "video.npz"), noisy)


@pytest.mark.parametrize("name, content, fragment", [
    ("missing.tif", None, "no such file"),
    ("empty.npy", b"", r"empty.npy is empty \(0 bytes\)"),
    ("junk.tif", b"not a tiff at all", r"junk.tif: cannot read it as .tif"),
])
def test_read_series_errors_are_one_line_naming_the_file(tmp_path, name, content, fragment):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with pytest.raises((ValueError, FileNotFoundError), match=fragment) as error:
        io.read_series(tmp_path / name)
    assert "\n" not in str(error.value)


def test_read_then_validate_a_complex_file_is_refused(tmp_path):
    np.save(tmp_path / "c.npy", np.ones((2, 4, 4), np.complex64))
    with pytest.raises(ValueError, match="c.npy holds complex values"):
        io.as_series(io.read_series(tmp_path / "c.npy"))
