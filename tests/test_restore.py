"""tfstem.restore: shapes, dtypes, tiling, blending and the errors users see."""

import importlib

import numpy as np
import pytest

import tfstem
from tfstem.r_em.cgrdn import build_cgrdn
from tfstem.restore import blending_window, restore, tile_starts

TINY = dict(features=8, growth=4, layers_per_rdb=2, rdbs_per_grdb=1, grdbs=2)


@pytest.fixture(scope="module")
def tiny_model():
    import keras

    keras.utils.set_random_seed(7)
    return build_cgrdn(**TINY)


@pytest.fixture(scope="module")
def tiny_two_channel_model():
    return build_cgrdn(**TINY, channels=2)


@pytest.mark.parametrize(
    "shape", [(31, 37), (24, 24, 1), (3, 20, 22), (2, 16, 18, 1)], ids=["2d-odd", "hwc", "stack", "nhwc"]
)
def test_returns_float32_in_the_input_shape(tiny_model, shape):
    image = np.random.default_rng(0).poisson(5.0, shape).astype(np.uint16)
    out = restore(image, model=tiny_model, verbose=False)
    assert out.shape == shape and out.dtype == np.float32
    assert np.all(np.isfinite(out))


def test_stack_frames_are_restored_independently(tiny_model):
    rng = np.random.default_rng(1)
    stack = rng.normal(50, 5, (3, 24, 24)).astype(np.float32)
    together = restore(stack, model=tiny_model, verbose=False)
    alone = restore(stack[1], model=tiny_model, verbose=False)
    np.testing.assert_allclose(together[1], alone, rtol=1e-5, atol=1e-4)


def test_does_not_modify_the_callers_array(tiny_model):
    image = np.random.default_rng(2).normal(10, 1, (20, 20)).astype(np.float32)
    before = image.copy()
    restore(image, model=tiny_model, verbose=False)
    np.testing.assert_array_equal(image, before)


def test_multichannel_hwc_and_channel_mismatch(tiny_two_channel_model, tiny_model):
    image = np.random.default_rng(3).normal(0, 1, (20, 22, 2)).astype(np.float32)
    assert restore(image, model=tiny_two_channel_model, verbose=False).shape == (20, 22, 2)
    with pytest.raises(ValueError, match="takes 1 channel"):
        restore(image, model=tiny_model, verbose=False)
    with pytest.raises(ValueError, match="takes 2 channel"):
        restore(np.zeros((3, 20, 22), np.float32), model=tiny_two_channel_model, verbose=False)


@pytest.mark.parametrize(
    "image, message",
    [
        (np.array([[1.0, np.nan], [0.0, 1.0]]), "NaN or inf"),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), "NaN or inf"),
        (np.zeros((0, 5)), "empty"),
        (np.zeros(10), "1-D"),
        (np.zeros((2, 2, 2, 2, 1)), "5-D"),
        (np.zeros((8, 8), np.complex64), "complex"),
        (np.array([["a", "b"], ["c", "d"]]), "real numbers"),
    ],
    ids=["nan", "inf", "empty", "1d", "5d", "complex", "strings"],
)
def test_bad_input_raises_a_clear_value_error(tiny_model, image, message):
    with pytest.raises(ValueError, match=message):
        restore(image, model=tiny_model, verbose=False)


def test_unknown_model_name_lists_what_is_available():
    with pytest.raises(ValueError, match="r_em/hrstem"):
        restore(np.zeros((8, 8), np.float32), model="no-such-model", verbose=False)


@pytest.mark.parametrize("kwargs, message", [(dict(tile_size=8), "tile_size"), (dict(tile_size=64, tile_overlap=64), "tile_overlap"),
                                             (dict(batch_size=0), "batch_size")])
def test_bad_tiling_options(tiny_model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        restore(np.zeros((100, 100), np.float32), model=tiny_model, verbose=False, **kwargs)


def test_tile_starts_cover_the_image_with_the_requested_overlap():
    for length, tile, overlap in [(100, 32, 8), (1024, 256, 64), (257, 256, 64), (50, 64, 16)]:
        starts = tile_starts(length, tile, overlap)
        assert starts[0] == 0 and starts[-1] + min(tile, length) == length
        gaps = np.diff(starts)
        assert np.all(gaps <= tile - overlap) and np.all(gaps > 0)


def test_blending_window_is_smooth_positive_and_centred():
    window = blending_window(64, 48)
    assert window.shape == (64, 48) and window.min() > 1e-3  # corners: ~0.04 squared
    assert window.max() == pytest.approx(1.0, abs=1e-3)
    np.testing.assert_allclose(window, window[::-1, ::-1], rtol=1e-6)


def test_tiled_restoration_of_a_local_operator_matches_the_whole_image():
    # A 3x3 filter network has a tiny receptive field: with enough overlap tiling must be exact
    # away from tile borders, and blending must not change a constant-weight result.
    import keras

    inputs = keras.Input((None, None, 1), name="image")
    outputs = keras.layers.Conv2D(1, 3, padding="same", use_bias=False,
                                  kernel_initializer=keras.initializers.Constant(1 / 9))(inputs)
    box = keras.Model(inputs, outputs)
    image = np.random.default_rng(4).normal(0, 1, (150, 170)).astype(np.float32)
    whole = restore(image, model=box, tile_size=1000, verbose=False)
    tiled = restore(image, model=box, tile_size=48, tile_overlap=16, verbose=False)
    interior = (slice(1, -1), slice(1, -1))
    # tiles see a zero border, so only pixels within 1 px of a tile edge may differ, where weights are small
    assert tfstem.metrics.psnr(whole[interior], tiled[interior]) > 45


def test_saved_model_runner_is_accepted(tmp_path, tiny_model):
    from tfstem.export import export_model

    version_dir = export_model(tiny_model, tmp_path, name="tiny", version=3)
    image = np.random.default_rng(5).normal(5, 1, (21, 23)).astype(np.float32)
    expected = restore(image, model=tiny_model, verbose=False)
    import shutil

    (version_dir / "tiny.keras").unlink()  # force the SavedModel path
    got = restore(image, model=str(version_dir), verbose=False)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    shutil.rmtree(version_dir)


def test_top_level_restore_stays_callable_after_submodule_imports():
    """``tfstem.restore`` must remain the function even once ``tfstem.restore`` the module has been imported."""
    import subprocess
    import sys

    code = (
        "import tfstem.cli, tfstem.restore\n"
        "from tfstem.restore import tile_starts\n"
        "import tfstem\n"
        "assert callable(tfstem.restore), type(tfstem.restore)\n"
        "import sys; assert 'tensorflow' not in sys.modules, 'import tfstem must stay light'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- options: every bad value is a ValueError that names the option (issue 15) ----------------------

@pytest.mark.parametrize("option", ["tile_size", "batch_size", "tile_overlap"])
@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), True, False, "8", -1, 2.5, [8]],
                         ids=["inf", "-inf", "nan", "true", "false", "text", "negative", "fraction", "list"])
def test_bad_option_values_name_the_option(tiny_model, option, value):
    if option == "tile_size" and value is False:
        value = 0  # tile_size=False would read as "no tile size"; 0 is the same mistake
    kwargs = {option: value}
    if option == "tile_overlap":
        kwargs["tile_size"] = 64
    with pytest.raises(ValueError, match=f"{option} must be an integer") as caught:
        restore(np.zeros((100, 100), np.float32), model=tiny_model, verbose=False, **kwargs)
    assert f"{option}={value!r}" in str(caught.value) or option == "tile_size"


@pytest.mark.parametrize("tile_size, tile_overlap", [(64, 63), (64, 33), (32, 31)])
def test_an_overlap_above_half_a_tile_is_refused_with_its_tile_count(tiny_model, tile_size, tile_overlap):
    from tfstem.restore import tile_count

    image = np.zeros((300, 200), np.float32)
    expected = tile_count(300, 200, tile_size, tile_overlap)
    with pytest.raises(ValueError, match=rf"tile_size // 2 = {tile_size // 2}.*into {expected} tiles"):
        restore(image, model=tiny_model, tile_size=tile_size, tile_overlap=tile_overlap, verbose=False)


def test_an_overlap_of_half_a_tile_is_accepted_and_integral_floats_too(tiny_model):
    image = np.random.default_rng(8).normal(5, 1, (70, 70)).astype(np.float32)
    out = restore(image, model=tiny_model, tile_size=32.0, tile_overlap=16, batch_size=np.int64(3), verbose=False)
    assert out.shape == image.shape and np.isfinite(out).all()


def test_tile_count_matches_tile_starts():
    from tfstem.restore import tile_count

    for height, width, tile, overlap in [(300, 200, 64, 16), (64, 64, 64, 0), (1000, 37, 256, 128), (65, 65, 32, 16)]:
        expected = len(tile_starts(height, min(tile, height), overlap)) * len(tile_starts(width, min(tile, width), overlap))
        assert tile_count(height, width, tile, overlap) == expected


@pytest.mark.parametrize("option, value", [("verbose", "yes"), ("progress", 1), ("progress", "auto")])
def test_verbose_and_progress_take_booleans(tiny_model, option, value):
    with pytest.raises(ValueError, match=f"{option} must be True"):
        restore(np.zeros((20, 20), np.float32), model=tiny_model, **{option: value})


# --- shapes the model cannot take ---------------------------------------------------------------------

def test_a_two_channel_model_says_what_it_received_and_what_it_accepts(tiny_two_channel_model):
    for shape in [(20, 22), (3, 20, 22), (20, 22, 3)]:
        with pytest.raises(ValueError, match=r"takes 2 channel") as caught:
            restore(np.zeros(shape, np.float32), model=tiny_two_channel_model, verbose=False)
        message = str(caught.value)
        assert f"received shape {shape}" in message and "[H, W, 2] or [N, H, W, 2]" in message


# --- progress ------------------------------------------------------------------------------------------

def test_a_single_large_frame_shows_a_bar_and_verbose_false_stays_silent(tiny_model, capsys, monkeypatch):
    module = importlib.import_module("tfstem.restore")  # `import tfstem.restore` gives the function
    monkeypatch.setattr(module, "PROGRESS_PIXELS", 30 * 30)  # "large" for the test: 40 x 40
    image = np.random.default_rng(9).normal(5, 1, (40, 40)).astype(np.float32)
    restore(image, model=tiny_model, verbose=True)
    assert "restore" in capsys.readouterr().err
    restore(image, model=tiny_model, verbose=False, progress=True)
    restore(np.zeros((20, 20), np.float32), model=tiny_model, verbose=True)  # small and single: no bar
    restore(image, model=tiny_model, verbose=True, progress=False)
    assert capsys.readouterr().err == ""
    restore(np.zeros((20, 20), np.float32), model=tiny_model, verbose=True, progress=True)
    assert "restore" in capsys.readouterr().err


def test_the_bar_is_refreshed_while_one_long_network_call_runs(monkeypatch, capsys):
    import threading

    import tqdm.std

    progress = importlib.import_module("tfstem.progress")
    refreshes = []
    original = tqdm.std.tqdm.refresh

    def counting_refresh(self, *args, **kwargs):
        refreshes.append(threading.current_thread().name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(tqdm.std.tqdm, "refresh", counting_refresh)
    monkeypatch.setattr(progress, "PROGRESS_REFRESH_SECONDS", 0.01)
    ticked = threading.Event()

    def slow_network(batch):  # returns only once the bar has been redrawn from the ticker thread
        deadline = 200
        while "tfstem-progress" not in refreshes and deadline:
            ticked.wait(0.05)
            deadline -= 1
        return batch

    restore(np.ones((8, 8), np.float32), model=slow_network, verbose=True, progress=True)
    assert "tfstem-progress" in refreshes
    assert not any(t.name == "tfstem-progress" for t in threading.enumerate())  # the ticker has stopped


# --- registry: files and names that are not models -----------------------------------------------------

@pytest.fixture(scope="module")
def saved_tiny_keras(tmp_path_factory, tiny_model):
    path = tmp_path_factory.mktemp("models") / "tiny.keras"
    tiny_model.save(path)
    return path


def _corrupt_files(directory, good):
    import zipfile

    garbage = directory / "garbage.keras"
    garbage.write_bytes(b"\x00not a zip archive at all" * 40)
    truncated = directory / "truncated.keras"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    no_config = directory / "no_config.keras"
    with zipfile.ZipFile(no_config, "w") as archive:
        archive.writestr("readme.txt", "hello")
    empty = directory / "empty.keras"
    empty.write_bytes(b"")
    return {"garbage": garbage, "truncated": truncated, "no_config": no_config, "empty": empty}


@pytest.mark.parametrize("kind", ["garbage", "truncated", "no_config", "empty"])
def test_a_corrupt_keras_file_is_said_not_to_be_a_keras_model_file(tmp_path, saved_tiny_keras, kind):
    from tfstem.registry import load_model

    path = _corrupt_files(tmp_path, saved_tiny_keras)[kind]
    before = path.read_bytes()
    with pytest.raises(ValueError, match="not a valid Keras model file") as caught:
        load_model(path)
    assert str(path) in str(caught.value) and "not found" not in str(caught.value).lower()
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["garbage.keras", "truncated.keras", "no_config.keras", "empty.keras"])


@pytest.mark.parametrize("name", ["", "   ", "\t"])
def test_an_empty_model_name_is_refused_not_read_as_the_current_directory(name):
    with pytest.raises(ValueError, match="empty.*r_em/hrstem"):
        restore(np.zeros((8, 8), np.float32), model=name, verbose=False)


def test_a_directory_that_is_no_model_says_so(tmp_path, saved_tiny_keras):
    from tfstem.registry import load_model

    with pytest.raises(ValueError, match="neither a SavedModel .* nor holds a .keras file"):
        load_model(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="neither a SavedModel"):
        load_model(tmp_path)
    import shutil

    shutil.copy(saved_tiny_keras, tmp_path / "a.keras")
    assert load_model(tmp_path).count_params() > 0  # a folder holding one .keras file loads it
    shutil.copy(saved_tiny_keras, tmp_path / "b.keras")
    with pytest.raises(ValueError, match="holds 2 .keras files"):
        load_model(tmp_path)


def test_a_corrupt_saved_model_names_the_directory(tmp_path):
    from tfstem.registry import load_model

    (tmp_path / "saved_model.pb").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=f"{tmp_path} is not a valid SavedModel"):
        load_model(tmp_path)
