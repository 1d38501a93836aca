"""tfstem.restore: shapes, dtypes, tiling, blending and the errors users see."""

import numpy as np
import pytest

import tfstem
from tfstem.nets.cgrdn import build_cgrdn
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
