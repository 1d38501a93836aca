"""Ms2b: one fixed 33x33 normalised Gaussian, no padding, no bias, not trainable."""

import keras
import numpy as np
import pytest

from tfstem.noise2atom.lowpass import build_lowpass, gaussian_lowpass_kernel


def test_paper_kernel_is_the_normalised_gaussian():
    taps = gaussian_lowpass_kernel()
    r = np.arange(-16, 17)
    expected = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * 15.0**2))
    expected /= expected.sum()
    np.testing.assert_allclose(taps, expected, rtol=1e-5)
    assert taps.shape == (33, 33) and abs(taps.sum() - 1) < 1e-5
    assert taps[16, 16] == taps.max()


def test_model_structure_and_valid_padding():
    model = build_lowpass()
    conv = model.get_layer("gaussian_layer")
    assert conv.kernel_size == (33, 33) and conv.padding == "valid" and not conv.use_bias
    assert not conv.trainable and model.trainable_weights == []
    np.testing.assert_allclose(conv.get_weights()[0][:, :, 0, 0], gaussian_lowpass_kernel(), rtol=1e-6)
    x = np.ones((2, 40, 50, 1), "float32")
    y = model.predict(x, verbose=0)
    assert y.shape == (2, 8, 18, 1)
    np.testing.assert_allclose(y, 1.0, atol=1e-5)  # a normalised filter keeps constants


def test_same_padding_and_code_intent():
    model = build_lowpass(kernel="code_intent", padding="same")
    assert model.predict(np.zeros((1, 16, 16, 1), "float32"), verbose=0).shape == (1, 16, 16, 1)
    taps = gaussian_lowpass_kernel(kernel="code_intent")
    assert taps[0, 0] == 0 and abs(taps.sum() - 1) < 1e-5  # centred disc of radius 17
    assert taps[16, 16] > 10 * taps[16, 4]  # sigma ~ 3.9 px: much narrower than the paper's 15


def test_keras_round_trip(tmp_path):
    model = build_lowpass(size=5, sigma=1.0)
    model.save(tmp_path / "lp.keras")
    again = keras.models.load_model(tmp_path / "lp.keras")
    np.testing.assert_allclose(again.get_layer("gaussian_layer").get_weights()[0],
                               model.get_layer("gaussian_layer").get_weights()[0])


def test_bad_arguments():
    with pytest.raises(ValueError, match="odd"):
        gaussian_lowpass_kernel(32)
    with pytest.raises(ValueError, match="padding"):
        build_lowpass(padding="reflect")
