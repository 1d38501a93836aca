"""The frames N2V trains on: checks, normalisation, the split, the seeded batch stream and the reader."""

import numpy as np
import pytest

from tfstem.n2v import data
from tfstem.n2v.config import N2VConfig


def _video(n=6, size=40):
    """Noisy dual-channel frames ``float32 [n, size, size, 2]`` (the statistics are what matter here)."""
    return np.random.default_rng(0).normal(3.0, 2.0, (n, size, size, 2)).astype(np.float32)


def test_frames_are_checked_and_not_modified():
    with pytest.raises(ValueError, match="channels last"):
        data.as_frames(np.zeros((2, 10, 32, 32)))
    frames = _video(n=2)
    before = frames.copy()
    normalised = data.normalise_frames(frames)
    np.testing.assert_array_equal(frames, before)
    np.testing.assert_allclose(normalised.mean(axis=(1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(normalised.std(axis=(1, 2)), 0.2, atol=1e-4)  # 1 / (5 std)


def test_every_other_frame_trains_and_the_others_validate():
    frames = np.arange(5)[:, None, None, None] * np.ones((5, 2, 2, 1), np.float32)
    train, validation = data.split_frames(frames, 2)
    assert train[:, 0, 0, 0].tolist() == [0, 2, 4] and validation[:, 0, 0, 0].tolist() == [1, 3]
    train, validation = data.split_frames(frames[:1], 2)  # one frame: it also validates
    assert len(train) == len(validation) == 1


def test_the_batch_stream_started_at_a_step_continues_as_the_full_one():
    config = N2VConfig(features=4, depth=2, patch_size=32, batch_size=2, mask_spacing=8, replacement_radius=2)
    frames = data.normalise_frames(_video())
    full = [tuple(t.numpy() for t in b) for b in data.training_dataset(frames, config).take(5)]
    late = [tuple(t.numpy() for t in b) for b in data.training_dataset(frames, config, start=3).take(2)]
    for (a, b), (c, d) in zip(full[3:], late):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    assert not np.array_equal(full[0][1], full[1][1])


def test_series_reader_keeps_channels_last_for_a_tfstem_tiff_and_the_shipped_npz(tmp_path):
    from tfstem import io
    from tfstem.paths import PACKAGE_ROOT

    video = np.random.default_rng(0).random((3, 16, 20, 2)).astype(np.float32)
    io.write_image(tmp_path / "video.tif", video)  # stored as an ImageJ TCYX hyperstack
    np.testing.assert_array_equal(data.read_series(tmp_path / "video.tif"), video)
    shipped = data.read_series(PACKAGE_ROOT.parent / "examples" / "data" / "n2v_dual_channel_video.npz")
    assert shipped.ndim == 4 and shipped.shape[-1] == 2
