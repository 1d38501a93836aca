"""``tfstem.restore(signal)`` for HyperSpy signals: same class, axes and metadata, a note of the model, lazy stays lazy."""

import subprocess
import sys
import types

import numpy as np
import pytest

hs = pytest.importorskip("hyperspy.api")

import tfstem  # noqa: E402
from tfstem import io  # noqa: E402
from tfstem.hyperspy import METADATA_NODE, restore_signal  # noqa: E402
from tfstem.r_em.cgrdn import build_cgrdn  # noqa: E402

TINY = dict(features=8, growth=4, layers_per_rdb=2, rdbs_per_grdb=1, grdbs=1)
AXIS_FIELDS = ("name", "size", "scale", "offset", "units", "navigate")


@pytest.fixture(scope="module")
def model():
    return build_cgrdn(**TINY)


def _series(shape=(3, 20, 24), seed=0):
    """A Signal2D ``[N | H, W]`` (or any navigation shape) with named, scaled axes and rich metadata."""
    rng = np.random.default_rng(seed)
    signal = hs.signals.Signal2D(rng.poisson(20.0, shape).astype(np.float32))
    navigation = list(signal.axes_manager.navigation_axes)
    for i, axis in enumerate(navigation):
        axis.name, axis.units, axis.scale, axis.offset = f"time{i}", "s", 0.5 + i, 1.0 + i
    x, y = signal.axes_manager.signal_axes
    x.name, x.units, x.scale, x.offset = "x", "nm", 0.25, -2.0
    y.name, y.units, y.scale, y.offset = "y", "nm", 0.2, 3.0
    signal.metadata.General.title = "HAADF"
    signal.metadata.set_item("Signal.quantity", "Intensity (counts)")
    signal.metadata.set_item("Acquisition_instrument.TEM.beam_energy", 300.0)
    signal.original_metadata.set_item("Detector.gain", {"value": 2.5, "unit": "e/count"})
    return signal


def _axes(signal):
    return [{field: getattr(axis, field) for field in AXIS_FIELDS} for axis in signal.axes_manager._axes]


def _snapshot(signal):
    return (np.array(signal.data), _axes(signal), signal.metadata.as_dictionary(),
            signal.original_metadata.as_dictionary())


def _assert_unchanged(signal, snapshot):
    data, axes, metadata, original = snapshot
    np.testing.assert_array_equal(np.asarray(signal.data), data)
    assert _axes(signal) == axes
    assert signal.metadata.as_dictionary() == metadata
    assert signal.original_metadata.as_dictionary() == original


def _assert_same_but_restored(result, signal, expected):
    assert type(result) is type(signal)
    assert _axes(result) == _axes(signal)
    assert result.data.dtype == np.float32 and result.data.shape == signal.data.shape
    np.testing.assert_allclose(np.asarray(result.data), expected, rtol=0, atol=1e-5 * np.ptp(expected))
    metadata, original = result.metadata.as_dictionary(), signal.metadata.as_dictionary()
    title = original["General"].pop("title")
    assert metadata["General"].pop("title") == ("Restored " + title if title else "Restored")
    note = metadata["Signal"].pop("Restoration")
    assert metadata == original
    assert result.original_metadata.as_dictionary() == signal.original_metadata.as_dictionary()
    assert result.original_metadata is not signal.original_metadata
    return note


def test_time_series_round_trip(model):
    signal = _series((3, 20, 24))
    before = _snapshot(signal)
    result = tfstem.restore(signal, model=model, verbose=False)
    note = _assert_same_but_restored(result, signal, tfstem.restore(signal.data, model=model, verbose=False))
    assert note["package"] == "tfstem" and note["version"] == tfstem.__version__
    assert note["model"] == "Functional 'cgrdn'" and "T" in note["timestamp"]
    _assert_unchanged(signal, before)
    # deep copies: editing the result leaves the input alone
    result.metadata.Acquisition_instrument.TEM.beam_energy = 200.0
    result.original_metadata.Detector.gain["value"] = 0.0
    result.axes_manager[0].scale = 9.0
    _assert_unchanged(signal, before)


def test_scan_grid_round_trip_and_options_recorded(model, tmp_path):
    signal = _series((2, 3, 40, 36), seed=1)
    path = tmp_path / "tiny.keras"
    model.save(path)
    result = tfstem.restore(signal, model=path, tile_size=32, tile_overlap=8, verbose=False)
    expected = tfstem.restore(signal.data.reshape(6, 40, 36), model=model, tile_size=32, tile_overlap=8,
                              verbose=False).reshape(signal.data.shape)
    note = _assert_same_but_restored(result, signal, expected)
    assert (note["model"], note["tile_size"], note["tile_overlap"]) == (str(path), 32, 8)
    assert "batch_size" not in note and "channels_axis" not in note


def test_single_image_and_what_is_not_copied(model, tmp_path):
    signal = _series((20, 24), seed=2)
    signal.metadata.set_item("Signal.Noise_properties.variance", 20.0)
    signal.save(tmp_path / "raw.hspy")
    loaded = hs.load(tmp_path / "raw.hspy")
    result = tfstem.restore(loaded, model=model, verbose=False)
    assert _axes(result) == _axes(loaded)
    # the input's noise variance and file do not describe the restored signal
    assert loaded.metadata.Signal.Noise_properties.variance == 20.0
    assert not result.metadata.has_item("Signal.Noise_properties")
    with pytest.raises(ValueError, match="File name not defined"):
        result.save()
    # saved by HyperSpy and loaded back: the note survives
    result.save(tmp_path / "restored.hspy")
    again = hs.load(tmp_path / "restored.hspy")
    assert again.metadata.General.title == "Restored HAADF"
    assert again.metadata.get_item(METADATA_NODE + ".model") == "Functional 'cgrdn'"
    assert _axes(again) == _axes(loaded)


def test_channels_axis_makes_a_navigation_axis_the_channels(model):
    dual = build_cgrdn(channels=2, **TINY)
    signal = _series((2, 3, 20, 24), seed=3)  # [channel, time | H, W]
    channel = signal.axes_manager.navigation_axes[1]
    channel.name = "channel"
    signal.metadata.General.title = ""
    assert channel.index_in_array == 0
    result = restore_signal(signal, model=dual, verbose=False, channels_axis="channel")
    expected = np.moveaxis(tfstem.restore(np.moveaxis(signal.data, 0, -1), model=dual, verbose=False), -1, 0)
    note = _assert_same_but_restored(result, signal, expected)
    assert note["channels_axis"] == "channel"
    by_index = restore_signal(signal, model=dual, verbose=False, channels_axis=1)
    np.testing.assert_array_equal(by_index.data, result.data)
    # without it, a dual-channel model is told where the channels are
    with pytest.raises(ValueError, match=r"channels_axis=NAME\)\.\)$") as error:
        tfstem.restore(signal, model=dual, verbose=False)
    assert "\n" not in str(error.value)
    for bad in ("x", "nope", 2, 1.0):
        with pytest.raises(ValueError, match=r"channels_axis must name one navigation axis.*\['time0', 'channel'\]"):
            restore_signal(signal, model=dual, channels_axis=bad)


@pytest.mark.parametrize("make, match", [
    (lambda: hs.signals.Signal1D(np.ones((4, 5, 30))), r"Signal1D with axes \(5, 4\|30\).*as_signal2D\(\(0, 1\)\)"),
    (lambda: hs.signals.Signal1D(np.ones((4, 30))), r"Signal1D with axes \(4\|30\).*as_signal2D"),
    (lambda: hs.signals.BaseSignal(np.ones((3, 4, 5))), r"BaseSignal with axes \(\|5, 4, 3\).*dimension 3"),
    (lambda: hs.signals.ComplexSignal2D(np.ones((8, 8), np.complex64)), r"complex ComplexSignal2D.*signal.amplitude"),
    (lambda: hs.signals.Signal2D(np.ones((8, 8), np.float32)).as_lazy().fft(), r"complex .*ComplexSignal2D"),
    (lambda: np.ones((8, 8)).tolist(), r"received list"),
    (lambda: hs.signals.Signal2D(np.full((8, 8), "a")),
     r"Signal2D with axes \(\|8, 8\): its data must hold real numbers; received dtype <U1"),
])
def test_bad_signals_are_refused_in_one_line(model, make, match):
    with pytest.raises(ValueError, match=match) as error:
        restore_signal(make(), model=model)
    assert "\n" not in str(error.value) and "Signal2D or LazySignal2D" in str(error.value)


def _stand_in_lazy_module():
    """A ``tfstem.lazy`` that restores whole frames chunk by chunk (the real one adds spatial overlap)."""

    def restore_dask(image, **options):
        whole = image.rechunk({1: -1, 2: -1, 3: -1})
        return whole.map_blocks(lambda block: tfstem.restore(block, **options), dtype=np.float32,
                                meta=np.empty((0, 0, 0, 0), np.float32))

    return types.SimpleNamespace(restore_dask=restore_dask)


def test_lazy_signal_stays_lazy(model, monkeypatch):
    """The plumbing of a lazy signal (reshape, rechunk, class), whatever :mod:`tfstem.lazy` does."""
    monkeypatch.setitem(sys.modules, "tfstem.lazy", _stand_in_lazy_module())
    eager = _series((2, 3, 20, 24), seed=4)
    signal = eager.as_lazy()
    signal.data = signal.data.rechunk((1, 2, 20, 24))
    before = _snapshot(signal)
    result = tfstem.restore(signal, model=model, verbose=False)
    assert type(result).__name__ == "LazySignal2D" and result._lazy
    assert result.data.chunks == signal.data.chunks
    _assert_unchanged(signal, before)
    expected = tfstem.restore(eager.data.reshape(6, 20, 24), model=model, verbose=False).reshape(eager.data.shape)
    result.compute()  # in place, as HyperSpy does
    _assert_same_but_restored(result, eager, expected)


def test_lazy_signal_through_tfstem_lazy(model):
    pytest.importorskip("tfstem.lazy", reason="tfstem.lazy (the dask restore) is not written yet")
    eager = _series((2, 3, 40, 48), seed=5)
    signal = eager.as_lazy()
    signal.data = signal.data.rechunk((1, 2, 40, 48))  # navigation chunks that do not divide the grid's rows
    result = tfstem.restore(signal, model=model, verbose=False)
    assert type(result).__name__ == "LazySignal2D" and result.data.chunks == signal.data.chunks
    expected = tfstem.restore(eager.data.reshape(6, 40, 48), model=model, verbose=False).reshape(eager.data.shape)
    result.compute()
    _assert_same_but_restored(result, eager, expected)


@pytest.mark.parametrize("shape, scale, unit", [((20, 24), 0.25, "nm"), ((3, 20, 24), 1.5, "Å"),
                                                 ((2, 3, 20, 24), 0.002, "µm")])
def test_tfstem_io_reads_hspy_written_by_hyperspy(tmp_path, shape, scale, unit):
    signal = _series(shape)
    for axis in signal.axes_manager.signal_axes:
        axis.scale, axis.units = scale, unit
    signal.save(tmp_path / "s.hspy")
    image = io.read_image(tmp_path / "s.hspy")
    np.testing.assert_array_equal(image.data, signal.data)
    assert (image.pixel_size, image.unit) == (pytest.approx(scale), unit)


def test_import_tfstem_does_not_import_hyperspy():
    code = ("import sys, numpy, tfstem, tfstem.hyperspy, tfstem.restore; "
            "loaded = [m for m in ('hyperspy', 'rsciio', 'dask') if m in sys.modules]; "
            "assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", code], check=True)
