"""Noise2Void masking: the jittered grid, the replacements, one mask for every channel, seeds."""

import numpy as np
import tensorflow as tf

from tfstem.n2v.masking import (
    jittered_grid_points, local_mean_excluding_centre, mask_batch, points_to_mask, random_neighbour,
)


def test_masked_positions_lie_on_the_jittered_grid_within_jitter():
    spacing, jitter = 24, 2
    points, origin = jittered_grid_points(16, 64, 80, [5, 6], spacing=spacing, jitter=jitter)
    points, origin = points.numpy(), origin.numpy()
    ny, nx = points.shape[1:3]
    grid_y = origin[:, 0, None, None] + spacing * np.arange(ny)[None, :, None]
    grid_x = origin[:, 1, None, None] + spacing * np.arange(nx)[None, None, :]
    dy, dx = points[..., 0] - grid_y, points[..., 1] - grid_x
    assert np.abs(dy).max() <= jitter and np.abs(dx).max() <= jitter
    assert dy.min() == -jitter and dy.max() == jitter  # the full +-2 px range is used
    assert np.all((origin >= 0) & (origin < spacing))
    mask = points_to_mask(tf.constant(points), 64, 80).numpy()[..., 0]
    for b in range(16):
        inside = [(y, x) for y, x in points[b].reshape(-1, 2) if 0 <= y < 64 and 0 <= x < 80]
        masked = list(zip(*np.nonzero(mask[b])))
        assert sorted(masked) == sorted(map(tuple, inside))  # every masked pixel is a grid point, and back


def test_masks_are_reproducible_from_the_seed_and_change_with_it():
    x = tf.random.stateless_normal([2, 48, 48, 2], seed=[0, 0])
    _, a = mask_batch(x, [1, 2], spacing=24, jitter=2)
    _, b = mask_batch(x, [1, 2], spacing=24, jitter=2)
    _, c = mask_batch(x, [1, 3], spacing=24, jitter=2)
    assert np.array_equal(a.numpy(), b.numpy()) and not np.array_equal(a.numpy(), c.numpy())


def test_local_mean_replacement_excludes_the_centre():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 20, 20, 2)).astype(np.float32)
    r = 3
    out = local_mean_excluding_centre(x, r).numpy()
    for b, y, xx, c in [(0, 10, 10, 0), (1, 5, 12, 1), (0, 0, 0, 1), (1, 19, 2, 0)]:  # interior and border
        window = x[b, max(y - r, 0) : y + r + 1, max(xx - r, 0) : xx + r + 1, c]
        expected = (window.sum() - x[b, y, xx, c]) / (window.size - 1)
        assert np.isclose(out[b, y, xx, c], expected, atol=1e-5)


def test_masked_values_are_the_neighbourhood_mean_in_every_channel_and_nothing_else_changes():
    x = tf.random.stateless_normal([2, 32, 32, 2], seed=[7, 8])
    masked, mask = mask_batch(x, [9, 9], spacing=8, jitter=2, replacement="local_mean", radius=2)
    x, masked, mask = x.numpy(), masked.numpy(), mask.numpy()
    m = np.broadcast_to(mask, x.shape).astype(bool)
    assert mask.shape == (2, 32, 32, 1) and mask.sum() > 0
    np.testing.assert_array_equal(masked[~m], x[~m])  # unmasked pixels untouched
    for b, y, xx in zip(*np.nonzero(mask[..., 0])):  # the same pixels replaced in both channels
        for c in range(2):
            window = x[b, max(y - 2, 0) : y + 3, max(xx - 2, 0) : xx + 3, c]
            assert np.isclose(masked[b, y, xx, c], (window.sum() - x[b, y, xx, c]) / (window.size - 1), atol=1e-5)


def test_random_neighbour_replacement_takes_another_pixel_of_the_window_for_all_channels():
    x = np.arange(2 * 12 * 12 * 2, dtype=np.float32).reshape(2, 12, 12, 2)  # all values distinct
    out = random_neighbour(x, [3, 4], radius=2).numpy()
    for b in range(2):
        for y in range(12):
            for xx in range(12):
                (sb, sy, sx, sc), = np.argwhere(x == out[b, y, xx, 0])
                assert sb == b and sc == 0 and (sy, sx) != (y, xx)
                assert abs(sy - y) <= 2 and abs(sx - xx) <= 2
                assert out[b, y, xx, 1] == x[b, sy, sx, 1]  # same neighbour for the other channel
