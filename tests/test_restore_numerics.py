"""tfstem.restore at any intensity scale: no overflow, exact scale equivariance, the model's own result
where its std floor does not bite, constant frames, and which models are standardised (issue 15)."""

import numpy as np
import pytest

from tfstem.r_em.cgrdn import build_cgrdn
from tfstem.restore import restore, standardisation_layer

TINY = dict(features=8, growth=4, layers_per_rdb=2, rdbs_per_grdb=1, grdbs=2)
F32_MAX = float(np.finfo(np.float32).max)


def _with_random_biases(model, seed):
    """Give every bias a random value: with zero biases a ReLU network is positively homogeneous, and
    scale equivariance (and the floor's effect) could not be told from it."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(rng.normal(0.0, 0.2, layer.bias.shape).astype(np.float32))
    return model


@pytest.fixture(scope="module")
def tiny_model():
    import keras

    keras.utils.set_random_seed(7)
    return _with_random_biases(build_cgrdn(**TINY), 7)


@pytest.fixture(scope="module")
def frame():
    """``[31, 37]`` float64 Poisson counts, std ~2.2 (far above the CGRDN floor of 0.1)."""
    return np.random.default_rng(11).poisson(5.0, (31, 37)).astype(np.float64)


def _relative_error(got, expected):
    return float(np.abs(np.asarray(got, np.float64) - expected).max() / np.ptp(expected))


# --- which models are mapped -----------------------------------------------------------------------------

def _raw_skip_model():
    """A CGRDN-like graph that also adds the raw image to its output: not affine-equivariant."""
    import keras

    from tfstem.layers import Destandardize, StandardizePerImage

    image = keras.Input((None, None, 1), name="image")
    x_n, mean, scale = StandardizePerImage()(image)
    y = Destandardize()([keras.layers.Conv2D(1, 3, padding="same")(x_n), mean, scale])
    return keras.Model(image, keras.layers.Add()([y, image]))


def test_standardised_models_are_recognised():
    from tfstem.n2v.unet import build_n2v_unet
    from tfstem.noise2atom.xception_unet import build_denoiser, build_xception_unet

    assert standardisation_layer(build_cgrdn(**TINY)).std_floor == pytest.approx(0.1)
    assert standardisation_layer(build_n2v_unet(channels=2, features=8, depth=2)).std_multiplier == 5
    assert standardisation_layer(build_cgrdn(**TINY, pad_mode="zero")) is None  # zero padding is not affine
    noise2atom = build_denoiser(build_xception_unet(features=8, num_residual_blocks=1), minimum=0, maximum=9)
    assert standardisation_layer(noise2atom) is None  # fixed training min/max: intensities must stay raw
    assert standardisation_layer(_raw_skip_model()) is None
    assert standardisation_layer(lambda batch: batch) is None


def test_a_saved_and_reloaded_cgrdn_is_still_recognised(tmp_path, tiny_model):
    from tfstem.registry import load_model

    tiny_model.save(tmp_path / "tiny.keras")
    assert standardisation_layer(load_model(tmp_path / "tiny.keras")) is not None


# --- the model's own result, scale equivariance ------------------------------------------------------

def test_the_result_is_the_models_own_call_where_the_floor_does_not_bite(tiny_model, frame):
    raw = np.asarray(tiny_model(frame[None, ..., None].astype(np.float32), training=False))[0, ..., 0]
    assert _relative_error(restore(frame, model=tiny_model, verbose=False), raw) < 1e-5


@pytest.mark.parametrize("scale", [1e-6, 1e-3, 1e3, 1e6])
@pytest.mark.parametrize("offset", [0.0, -7.5])
def test_restore_is_scale_equivariant(tiny_model, frame, scale, offset):
    reference = restore(frame, model=tiny_model, verbose=False).astype(np.float64)
    got = restore(scale * frame + offset * scale, model=tiny_model, verbose=False)
    assert _relative_error(got, scale * reference + offset * scale) < 1e-5


def test_restore_is_scale_equivariant_in_tiles_with_whole_frame_statistics(tiny_model):
    image = np.random.default_rng(12).poisson(5.0, (70, 66)).astype(np.float32)
    reference = restore(image, model=tiny_model, tile_size=32, tile_overlap=8, verbose=False)
    got = restore(image * np.float32(1e-6), model=tiny_model, tile_size=32, tile_overlap=8, verbose=False)
    assert _relative_error(got, 1e-6 * reference.astype(np.float64)) < 1e-5


def test_small_values_are_no_longer_flattened_by_the_absolute_floor(tiny_model, frame):
    small = frame * 1e-4  # std ~2e-4, far below the floor of 0.1: the raw call returns almost its input
    raw = np.asarray(tiny_model(small[None, ..., None].astype(np.float32), training=False))[0, ..., 0]
    restored = restore(small, model=tiny_model, verbose=False)
    expected = 1e-4 * restore(frame, model=tiny_model, verbose=False).astype(np.float64)
    assert _relative_error(restored, expected) < 1e-5
    assert _relative_error(raw, expected) > 1e-2  # the authors' floor would have changed the answer


@pytest.mark.parametrize("channels", [1, 2])
def test_statistics_are_per_frame_and_channel(channels):
    import keras

    keras.utils.set_random_seed(3)
    model = _with_random_biases(build_cgrdn(**TINY, channels=channels), 3)
    rng = np.random.default_rng(13)
    stack = rng.poisson(5.0, (3, 20, 24, channels)).astype(np.float64)
    scales = np.array([1e-5, 1.0, 1e5])[:, None, None, None] * np.array([1.0, 1e3])[:channels]
    reference = restore(stack, model=model, verbose=False).astype(np.float64)
    assert _relative_error(restore(stack * scales, model=model, verbose=False) / scales, reference) < 1e-5


# --- any finite input of any real dtype -------------------------------------------------------------

def test_float32_near_its_maximum(tiny_model, frame):
    reference = restore(frame, model=tiny_model, verbose=False).astype(np.float64)
    factor = 3e38 / max(frame.max(), np.abs(reference).max())  # input and result both within float32
    image = (frame * factor).astype(np.float32)
    assert np.isfinite(image).all() and image.max() > 1e38
    got = restore(image, model=tiny_model, verbose=False)
    assert np.isfinite(got).all()
    assert _relative_error(got, factor * reference) < 1e-5


@pytest.mark.parametrize("factor", [1e30, 1e-30, 1e-200])
def test_float64_far_from_one(tiny_model, frame, factor):
    got = restore(frame * factor, model=tiny_model, verbose=False)
    expected = factor * restore(frame, model=tiny_model, verbose=False).astype(np.float64)
    if factor < 1e-45:  # below float32's smallest subnormal: the float32 result is 0, and must not be NaN
        assert np.array_equal(got, np.zeros_like(got))
    else:
        assert _relative_error(got, expected) < 1e-5


def test_uint64_near_two_to_the_64_and_int64_extremes(tiny_model):
    rng = np.random.default_rng(14)
    near_top = np.full((2, 20, 20), np.iinfo(np.uint64).max, np.uint64) - rng.integers(0, 1 << 40, (2, 20, 20),
                                                                                       dtype=np.uint64)
    extremes = rng.choice(np.array([np.iinfo(np.int64).min, 0, np.iinfo(np.int64).max]), (24, 24))
    for image in (near_top, extremes):
        got = restore(image, model=tiny_model, verbose=False)
        assert got.dtype == np.float32 and got.shape == image.shape and np.isfinite(got).all()
    as_float = extremes.astype(np.float64)
    expected = 2.0**63 * restore(as_float / 2.0**63, model=tiny_model, verbose=False).astype(np.float64)
    assert _relative_error(restore(extremes, model=tiny_model, verbose=False), expected) < 1e-5


@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.int16, np.float16])
def test_small_dtypes(tiny_model, dtype):
    image = (np.random.default_rng(15).random((20, 20)) > 0.5).astype(dtype)
    got = restore(image, model=tiny_model, verbose=False)
    assert got.dtype == np.float32 and np.isfinite(got).all()


def test_huge_float64_is_refused_for_its_range_not_called_nan(tiny_model):
    image = np.full((20, 20), 1e300)
    image[0, 0] = 2e300
    with pytest.raises(ValueError, match=r"up to 2e\+300 \(dtype float64\), beyond float32's range") as caught:
        restore(image, model=tiny_model, verbose=False)
    assert "NaN" not in str(caught.value)


def test_real_nan_and_inf_are_still_reported_with_their_count(tiny_model):
    image = np.ones((20, 20))
    image[0, :3] = [np.nan, np.inf, -np.inf]
    with pytest.raises(ValueError, match="contains 3 NaN or inf values"):
        restore(image, model=tiny_model, verbose=False)


# --- constant frames --------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [0.0, 7.25, -3e38, 1e-30])
def test_constant_frames_come_back_as_their_constant(tiny_model, value):
    stack = np.full((2, 21, 22), value)
    stack[1] = np.random.default_rng(16).poisson(5.0, (21, 22))  # a normal frame beside it is unaffected
    got = restore(stack, model=tiny_model, verbose=False)
    np.testing.assert_array_equal(got[0], np.float32(value))
    np.testing.assert_allclose(got[1], restore(stack[1], model=tiny_model, verbose=False), rtol=1e-5, atol=1e-5)


# --- results that float32 cannot hold are errors, not inf ---------------------------------------------

def _amplifying_standardised_model(gain):
    """Standardise, multiply by ``gain``, de-standardise: affine-equivariant, overshoots the input's range."""
    import keras

    from tfstem.layers import Destandardize, StandardizePerImage

    image = keras.Input((None, None, 1), name="image")
    x_n, mean, scale = StandardizePerImage()(image)
    return keras.Model(image, Destandardize()([keras.layers.Rescaling(gain)(x_n), mean, scale]))


def test_a_result_beyond_float32_is_an_error(frame):
    image = (frame - frame.mean()) * (1e38 / np.abs(frame - frame.mean()).max())
    with pytest.raises(ValueError, match=r"restored frame 0 reaches .* beyond float32's range"):
        restore(image, model=_amplifying_standardised_model(100.0), verbose=False)


def test_a_model_that_is_not_standardised_gets_raw_values_and_its_overflow_is_an_error(frame):
    seen = []

    def squaring_model(batch):
        seen.append(np.asarray(batch))
        return batch * batch

    image = frame * 1e20
    with pytest.raises(ValueError, match=r"returned \d+ NaN or inf values .* does not standardise its input"):
        restore(image, model=squaring_model, verbose=False)
    np.testing.assert_array_equal(seen[0][0, ..., 0], image.astype(np.float32))  # not rescaled


# --- the default model: the authors' r_em/hrstem CGRDN ----------------------------------------------

@pytest.fixture(scope="module")
def hrstem():
    pytest.importorskip("tk_r_em", reason="the default model and its test images ship with tk-r-em")
    from tfstem.r_em import load_test_data
    from tfstem.registry import load_model

    x, y = load_test_data("hrstem")
    return load_model("r_em/hrstem"), x[:2, ..., 0].astype(np.float64), y[:2, ..., 0].astype(np.float64)


def test_default_model_reproduces_the_authors_network_where_the_floor_does_not_bite(hrstem):
    model, x, _ = hrstem
    x = x[:, 64:192, 64:192]  # std ~5000 in the authors' 0-65535 units: far above the floor of 0.1
    raw = np.asarray(model.predict(x[..., None].astype(np.float32), verbose=0))[..., 0]
    got = restore(x, precision="float32", verbose=False)  # the authors' arithmetic, whatever "auto" picks
    assert _relative_error(got, raw) <= 1e-4


def test_default_model_is_scale_equivariant_from_1e_minus_6_to_1e6(hrstem):
    from tfstem.metrics import psnr

    _, x, y = hrstem
    crop, clean = x[0, 64:160, 40:136], y[0, 64:160, 40:136]
    reference = restore(crop, verbose=False).astype(np.float64)
    for scale in (1e-6, 1e-3, 1e3, 1e6):
        got = restore(crop * scale, verbose=False)
        assert _relative_error(got, scale * reference) < 1e-5, scale
        assert psnr(clean * scale, got) == pytest.approx(psnr(clean, reference), abs=0.01)
