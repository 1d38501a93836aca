"""The napari reader and sample data: no display or napari needed (they return plain layer tuples)."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
import yaml

from tfstem import io
from tfstem.napari import reader, sample_data

ROOT = Path(__file__).resolve().parents[2]


def test_reader_declines_what_tfstem_cannot_read(tmp_path):
    assert reader.get_reader(str(tmp_path / "notes.txt")) is None
    assert reader.get_reader([str(tmp_path / "a.tif"), str(tmp_path / "b.txt")]) is None
    assert reader.get_reader([]) is None
    assert reader.get_reader(str(tmp_path / "a.MRC")) is reader.read_layers


def test_manifest_reader_patterns_are_tfstem_io_formats():
    manifest = yaml.safe_load((ROOT / "tfstem" / "napari" / "napari.yaml").read_text())
    (entry,) = manifest["contributions"]["readers"]
    assert sorted(entry["filename_patterns"]) == sorted(f"*{suffix}" for suffix in io.READ_FORMATS)
    commands = {c["id"]: c["python_name"] for c in manifest["contributions"]["commands"]}
    import importlib

    for python_name in commands.values():  # every command points at something that exists
        module, name = python_name.split(":")
        assert callable(getattr(importlib.import_module(module), name))


def test_stack_keeps_pixel_size_as_scale_and_unit(tmp_path):
    data = np.arange(3 * 20 * 24, dtype=np.uint16).reshape(3, 20, 24)
    path = io.write_image(tmp_path / "series.tif", data, pixel_size=0.5, unit="Å")
    (layer,) = reader.get_reader(str(path))(str(path))
    array, kwargs, kind = layer
    assert kind == "image" and array.shape == (3, 20, 24)
    np.testing.assert_array_equal(array, data)
    assert kwargs["scale"] == pytest.approx((1.0, 0.5, 0.5))
    assert kwargs["units"] == ("pixel", "Å", "Å") and kwargs["axis_labels"] == ("frame", "y", "x")
    assert kwargs["name"] == "series"
    assert kwargs["metadata"]["tfstem"] == {"pixel_size": pytest.approx(0.5), "unit": "Å", "source": str(path),
                                            "channel": None, "channels": 1}


def test_mrc_frame_and_channels(tmp_path):
    frame = np.random.default_rng(0).random((16, 18), dtype=np.float32)
    path = io.write_image(tmp_path / "frame.mrc", frame, pixel_size=0.2, unit="nm")
    ((array, kwargs, _),) = reader.read_layers(path)
    assert array.shape == (16, 18) and kwargs["scale"] == pytest.approx((2.0, 2.0))  # MRC stores Å
    assert kwargs["units"] == ("Å", "Å")
    video = np.zeros((4, 16, 18, 2), np.float32)
    video[..., 1] = 1
    path = io.write_image(tmp_path / "video.npz", video, pixel_size=0.025, unit="nm")
    layers = reader.read_layers([str(path)])
    assert [layer[1]["name"] for layer in layers] == ["video [0]", "video [1]"]
    assert [float(layer[0].mean()) for layer in layers] == [0.0, 1.0]
    assert all(layer[1]["scale"] == pytest.approx((1, 0.025, 0.025)) for layer in layers)


def test_no_pixel_size_gives_unit_scale_and_pixels(tmp_path):
    path = tmp_path / "plain.npy"
    np.save(path, np.ones((5, 8, 9), np.float32))
    ((array, kwargs, _),) = reader.read_layers(path)
    assert kwargs["scale"] == (1.0, 1.0, 1.0) and kwargs["units"] == ("pixel",) * 3
    assert reader.napari_units("arb. units") == "pixel" and reader.napari_units("µm") == "µm"


def test_reader_errors_name_the_file(tmp_path):
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"not a tiff")
    with pytest.raises(ValueError, match="broken.tif"):
        reader.read_layers(str(bad))


@pytest.mark.parametrize("name", ["noise2atom_series.tif", "n2v_dual_channel_video.npz"])
def test_sample_files_are_copies_of_the_examples(name):
    """The packaged copies must follow examples/data when an example maker regenerates it."""
    packaged, original = sample_data.DATA_DIR / name, ROOT / "examples" / "data" / name
    assert hashlib.sha256(packaged.read_bytes()).hexdigest() == hashlib.sha256(original.read_bytes()).hexdigest(), \
        f"copy {original} to {packaged}"


def test_sample_data_layers():
    ((series, kwargs, _),) = sample_data.noise2atom_series()
    assert series.shape == (40, 256, 256) and kwargs["scale"] == pytest.approx((1, 0.04, 0.04))
    adf, bf = sample_data.n2v_dual_channel_video()
    assert adf[0].shape == bf[0].shape == (48, 128, 128)
    assert (adf[1]["name"], bf[1]["name"]) == ("n2v video [ADF]", "n2v video [BF]")
    assert adf[1]["units"][-1] == "nm" and adf[1]["scale"] == pytest.approx((1, 0.025, 0.025))
    assert not np.array_equal(adf[0], bf[0])
