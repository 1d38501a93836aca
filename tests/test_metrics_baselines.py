"""Metrics (PSNR, SSIM, N-RMSE, SNR, CSS), baselines and `tfstem evaluate` on values computed by hand."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from tfstem import baselines, metrics
from tfstem.cli import main


def test_psnr_of_a_known_error():
    ref = np.zeros((10, 10))
    ref[0, 0] = 1.0  # data range 1
    test = ref + 0.1  # MSE 0.01 -> 20 dB
    assert metrics.psnr(ref, test) == pytest.approx(20.0)


def test_ssim_and_nrmse_of_identical_images():
    image = np.random.default_rng(0).random((32, 32))
    assert metrics.ssim(image, image) == pytest.approx(1.0)
    assert metrics.nrmse(image, image) == 0.0


def test_snr_is_peak_over_background_noise():
    image = np.zeros((20, 20))
    image[::2] = 1.0  # background alternates 0/1: mean 0.5, std 0.5
    mask = np.ones_like(image, bool)
    mask[10, 10] = False
    image[10, 10] = 5.5
    assert metrics.snr(image, mask) == pytest.approx((5.5 - 0.5) / 0.5, rel=1e-3)


def test_css_is_one_for_identical_frames_and_near_zero_for_independent_noise():
    rng = np.random.default_rng(1)
    frame = rng.random((64, 64))
    assert metrics.css(np.stack([frame] * 4)) == pytest.approx(1.0)
    noise = rng.normal(0.5, 0.1, (5, 128, 128))
    assert abs(metrics.css(noise)) < 0.05


def test_css_matches_equation_10_by_hand():
    a = np.array([[0.0, 1.0], [0.0, 1.0]])
    b = np.array([[0.0, 1.0], [1.0, 1.0]])
    mu_a, mu_b, var_a, var_b = 0.5, 0.75, 0.25, 0.1875
    cov = np.mean((a - mu_a) * (b - mu_b))
    expected = (2 * mu_a * mu_b + 1e-4) * (2 * cov + 9e-4) / ((mu_a**2 + mu_b**2 + 1e-4) * (var_a + var_b + 9e-4))
    assert metrics.css_pairs(np.stack([a, b]))[0] == pytest.approx(expected)


def test_metric_errors():
    with pytest.raises(ValueError, match="same shape"):
        metrics.psnr(np.zeros((2, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="at least 2 frames"):
        metrics.css(np.zeros((1, 4, 4)))


def test_gaussian_per_channel_and_stack():
    rng = np.random.default_rng(2)
    image = rng.normal(0, 1, (40, 40, 2)).astype(np.float32)
    out = baselines.gaussian(image, sigma=[1.0, 0.0])
    assert out.shape == image.shape and out.dtype == np.float32
    np.testing.assert_allclose(out[..., 1], image[..., 1])  # sigma 0 leaves BF untouched
    assert out[..., 0].std() < 0.5 * image[..., 0].std()
    stack = rng.normal(0, 1, (3, 40, 40))
    assert baselines.gaussian(stack, stack=True).shape == (3, 40, 40)


def test_nrmse_paper_normalisation_on_a_hand_computed_case():
    ref = np.array([[0.0, 2.0], [4.0, 10.0]])  # I_min 0, I_max 10, mean 4
    test = ref + np.array([[1.0, -1.0], [1.0, -1.0]])  # RMSE 1
    assert metrics.nrmse(ref, test, normalization="paper") == pytest.approx(1.0 / 10.0)
    assert metrics.nrmse(ref, test) == pytest.approx(1.0 / np.sqrt(np.mean(ref**2)))  # scikit-image's default
    assert metrics.nrmse(ref, test, normalization="mean") == pytest.approx(1.0 / 4.0)
    with pytest.raises(ValueError, match="normalization"):
        metrics.nrmse(ref, test, normalization="range")


def test_tv_removes_noise_from_a_step():
    rng = np.random.default_rng(3)
    clean = np.zeros((64, 64), np.float32)
    clean[:, 32:] = 1.0
    noisy = clean + rng.normal(0, 0.2, clean.shape).astype(np.float32)
    assert metrics.psnr(clean, baselines.tv(noisy, weight=0.1), data_range=1) > metrics.psnr(clean, noisy, data_range=1) + 5


def test_bm3d_when_installed():
    pytest.importorskip("bm3d")
    rng = np.random.default_rng(4)
    clean = np.tile(np.sin(np.linspace(0, 8 * np.pi, 64)), (64, 1)).astype(np.float32)
    noisy = clean + rng.normal(0, 0.3, clean.shape).astype(np.float32)
    assert metrics.psnr(clean, baselines.bm3d(noisy), data_range=2) > metrics.psnr(clean, noisy, data_range=2) + 5
    # sigma_scale multiplies the per-frame estimate: equal to passing that noise level explicitly
    from skimage.restoration import estimate_sigma

    span = float(np.ptp(noisy))
    unit = (noisy - noisy.min()) / span
    scaled = baselines.bm3d(noisy, sigma_scale=2.0, data_range=span)
    np.testing.assert_allclose(scaled, baselines.bm3d(noisy, sigma_psd=2.0 * float(estimate_sigma(unit)),
                                                      data_range=span), atol=1e-5)
    assert not np.allclose(scaled, baselines.bm3d(noisy, data_range=span), atol=1e-3)


def test_tv_weight_is_the_papers_one_over_lambda_on_the_noise_free_range():
    """Derivation in baselines.tv: 1/lambda on the paper's scale is scikit-image's weight x data_range."""
    from skimage.restoration import denoise_tv_chambolle

    rng = np.random.default_rng(6)
    frame = (40.0 + 25.0 * rng.random((48, 48))).astype(np.float32)  # arbitrary units and offset
    expected = denoise_tv_chambolle(frame - frame.min(), weight=0.75 * 25.0) + frame.min()
    np.testing.assert_allclose(baselines.tv(frame, 0.75, data_range=25.0), expected, rtol=1e-5, atol=1e-3)
    # the same frame in other units gives the same image in those units
    np.testing.assert_allclose(baselines.tv(frame * 8.0, 0.75, data_range=200.0),
                               8.0 * baselines.tv(frame, 0.75, data_range=25.0), rtol=1e-4, atol=1e-2)


def test_paper_settings_by_name_for_adf_and_bf():
    rng = np.random.default_rng(7)
    frames = rng.random((2, 32, 32, 2)).astype(np.float32)
    ranges = np.array([[1.0, 0.3], [1.2, 0.25]])
    np.testing.assert_array_equal(baselines.tv(frames, "paper", data_range=ranges),
                                  baselines.tv(frames, [1.0, 0.75], data_range=ranges))
    with pytest.raises(ValueError, match="ADF"):
        baselines.tv(frames[..., 0], "paper")
    with pytest.raises(ValueError, match="data_range"):
        baselines.tv(frames, 1.0, data_range=[1.0, 2.0, 3.0])
    assert baselines.TV_WEIGHT_PAPER == {"ADF": 1.0, "BF": 0.75}
    assert baselines.BM3D_SIGMA_PAPER == {"ADF": 0.8, "BF": 0.4}
    if importlib.util.find_spec("bm3d") is not None:
        np.testing.assert_allclose(baselines.bm3d(frames[:1], "paper", data_range=ranges[:1]),
                                   baselines.bm3d(frames[:1], [0.8, 0.4], data_range=ranges[:1]), atol=1e-5)


def test_paper_data_range_estimates_the_noise_free_range_of_the_shipped_video():
    with np.load(Path(__file__).resolve().parents[1] / "examples" / "data" / "n2v_dual_channel_video.npz") as data:
        noisy, clean = data["noisy"][::8].astype(np.float32), data["clean"][::8].astype(np.float32)
    estimate = baselines.paper_data_range(noisy)
    truth = clean.max(axis=(1, 2)) - clean.min(axis=(1, 2))
    assert estimate.shape == truth.shape == (6, 2)
    np.testing.assert_allclose(estimate.mean(axis=0) / truth.mean(axis=0), [1.0, 1.0], atol=0.1)
    # the noisy frame's own range (the former scale) is about 3x too large at this 10 dB input
    assert np.all(np.ptp(noisy, axis=(1, 2)).mean(axis=0) > 2.5 * truth.mean(axis=0))


def test_evaluate_command(tmp_path, capsys):
    from tfstem import io

    rng = np.random.default_rng(5)
    ref = (rng.random((32, 32)) + rng.normal(0, 0.05, (3, 32, 32))).astype(np.float32)  # a slowly changing series
    io.write_image(tmp_path / "ref.npy", ref)
    io.write_image(tmp_path / "img.npy", ref + 0.01)
    assert main(["evaluate", str(tmp_path / "img.npy"), "--reference", str(tmp_path / "ref.npy"), "--json"]) == 0
    import json

    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["frames"] == 3 and result["mean_psnr"] > 35 and 0.8 < result["css"] <= 1
    # N-RMSE is the paper's: RMSE (0.01 here) over each reference frame's range
    np.testing.assert_allclose(result["nrmse"], [0.01 / np.ptp(r) for r in ref], rtol=1e-3)
