"""The video a Noise2Void model trains on: reading, checking, normalising, splitting, patches and masks.

* :func:`read_series` (a file) and :func:`as_frames` / :func:`check_frames` (an array): the one place that
  turns what a user gives into float32 ``[N, H, W, C]`` frames, or a one-line ValueError;
* :func:`normalise_frames`: per frame and channel, ``(x - mean) / (5 std)``, as the deployable model does;
* :func:`split_frames`: every ``frame_step``-th frame trains (the paper: every other), the others validate;
* :func:`training_dataset`: the seeded, infinite stream of masked batches (positioned at any step, for resume);
* :func:`validation_batch`: fixed validation patches and masks.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfstem.n2v.config import N2VConfig
from tfstem.n2v.masking import mask_batch
from tfstem.n2v.unet import N2V_STD_FLOOR, N2V_STD_MULTIPLIER

__all__ = ["read_series", "as_frames", "check_frames", "check_channels", "check_patch_fits", "normalise_frames",
           "split_frames", "training_dataset", "validation_batch"]


def read_series(path, channels_axis=None) -> np.ndarray:
    """The video in ``path`` as stored: :func:`tfstem.io.read_series` (``.npz``: its ``noisy`` array)."""
    from tfstem.io import read_series as read

    return read(path, channels_axis=channels_axis)


def as_frames(frames, channels=None) -> np.ndarray:
    """Validate and copy a video to ``float32 [N, H, W, C]``: :func:`tfstem.io.as_series`.

    ``[N, H, W]`` becomes ``[N, H, W, 1]``; more than 8 channels on the last axis (channels first) and
    empty, complex, non-numeric, NaN/inf or beyond-float32 frames are refused in one line that says the fix.
    """
    from tfstem.io import as_series

    return as_series(frames, channels=channels, name="frames")


def check_channels(frames, channels: int) -> None:
    """Raise a one-line ValueError unless ``frames`` (``[N, H, W, C]``) have the ``channels`` a model expects."""
    if frames.shape[-1] != channels:
        raise ValueError(f"the model expects {channels} channels; received frames with {frames.shape[-1]}.")


def normalise_frames(frames, std_multiplier=N2V_STD_MULTIPLIER, std_floor=N2V_STD_FLOOR) -> np.ndarray:
    """Per frame and channel ``(x - mean) / max(std_multiplier · std, std_floor)`` (successor code).

    The same statistics the deployable model's ``StandardizePerImage`` layer computes on each frame.
    ``frames``: float32 ``[N, H, W, C]``; returns a new float32 array of the same shape.
    """
    frames = np.asarray(frames, dtype=np.float32)
    out = np.empty_like(frames)
    for i in range(frames.shape[0]):  # frame by frame: no float64 copy of the whole video
        frame = frames[i].astype(np.float64)
        mean = frame.mean(axis=(0, 1))
        scale = np.maximum(std_multiplier * frame.std(axis=(0, 1)), std_floor)
        out[i] = ((frame - mean) / scale).astype(np.float32)
    return out


def check_frames(frames, config: N2VConfig) -> np.ndarray:
    """Raise a one-line ValueError unless ``frames`` can train ``config``.

    ``frames``: ``[N, H, W]`` or ``[N, H, W, C]`` (C <= 8, channels last), real numbers, finite, N >= 1,
    H and W >= ``config.patch_size``. Returns the frames as :func:`as_frames` gives them.
    """
    frames = as_frames(frames)
    check_patch_fits(frames, config.patch_size)
    return frames


def check_patch_fits(frames, patch_size) -> None:
    """Raise a one-line ValueError unless ``patch_size`` px patches fit in ``frames`` (``[N, H, W, C]``)."""
    if frames.shape[1] < patch_size or frames.shape[2] < patch_size:
        raise ValueError(
            f"patch_size={patch_size} is larger than the frames ({frames.shape[1]}x{frames.shape[2]}); "
            "pass a smaller patch_size (a multiple of 2**depth)."
        )


def split_frames(frames_n, frame_step):
    """Training frames: every ``frame_step``-th (paper: every other); validation: the others (all of them when
    there are no others). ``frames_n``: ``[N, H, W, C]``; returns two arrays of the same layout."""
    train_frames = frames_n[::frame_step]
    others = np.ones(frames_n.shape[0], bool)
    others[::frame_step] = False
    validation_frames = frames_n[others] if others.any() else frames_n
    return train_frames, validation_frames


def training_dataset(frames_n, config: N2VConfig, *, seed=None, start: int = 0):
    """Infinite ``tf.data`` stream of masked training batches from normalised frames.

    Patches are random ``patch_size`` crops of random frames (host-side NumPy indexing, seeded);
    masking is the TensorFlow :func:`mask_batch` with the stateless seed ``(seed, batch index)``.

    Parameters
    ----------
    frames_n : numpy.ndarray, float32 ``[N, H, W, C]``
        Normalised training frames (already every ``frame_step``-th frame).
    config : N2VConfig
    seed : int, optional
        Defaults to ``config.seed``.
    start : int
        Batches to skip: the stream then continues exactly as an uninterrupted one from batch ``start`` on
        (a resumed run). Skipped batches cost only their host-side crops, not their masks.

    Returns
    -------
    tf.data.Dataset
        Elements ``(masked [B, p, p, C], packed [B, p, p, C + 1])`` where ``packed`` is the target
        with the mask as last channel (see :func:`tfstem.n2v.losses.packed_masked_mse`).
    """
    seed = config.seed if seed is None else int(seed)
    p, channels = config.patch_size, frames_n.shape[-1]
    check_patch_fits(frames_n, p)

    def patches():
        rng = np.random.default_rng([seed, 1])
        n, h, w = frames_n.shape[:3]
        while True:
            i, y, x = rng.integers(n), rng.integers(h - p + 1), rng.integers(w - p + 1)
            yield frames_n[i, y : y + p, x : x + p]

    def masked(index, batch):
        masked_batch, mask = mask_batch(
            batch, tf.stack([tf.constant(seed, tf.int64), index]), spacing=config.mask_spacing,
            jitter=config.mask_jitter, replacement=config.replacement, radius=config.replacement_radius,
        )
        return masked_batch, tf.concat([batch, mask], axis=-1)

    dataset = tf.data.Dataset.from_generator(
        patches, output_signature=tf.TensorSpec([p, p, channels], tf.float32)
    )
    batches = dataset.batch(config.batch_size, drop_remainder=True).enumerate()
    return batches.skip(int(start)).map(masked).prefetch(2)


def validation_batch(frames_n, config: N2VConfig):
    """Fixed validation patches and masks (seeded), so that the validation loss compares across epochs.

    Parameters
    ----------
    frames_n : numpy.ndarray, float32 ``[N, H, W, C]``
        Normalised validation frames.
    config : N2VConfig
        ``patch_size``, ``validation_patches``, ``seed`` and the masking options.

    Returns
    -------
    masked : numpy.ndarray, float32 ``[V, p, p, C]``
        The network's input.
    packed : numpy.ndarray, float32 ``[V, p, p, C + 1]``
        The unmasked patches with the mask as last channel (see :func:`tfstem.n2v.losses.packed_masked_mse`).
    """
    p = config.patch_size
    check_patch_fits(frames_n, p)
    rng = np.random.default_rng([config.seed, 2])
    n, h, w = frames_n.shape[:3]
    crops = np.stack([
        frames_n[rng.integers(n), y : y + p, x : x + p]
        for y, x in zip(rng.integers(h - p + 1, size=config.validation_patches),
                        rng.integers(w - p + 1, size=config.validation_patches))
    ])
    masked_batch, mask = mask_batch(crops, [config.seed, -1], spacing=config.mask_spacing, jitter=config.mask_jitter,
                                    replacement=config.replacement, radius=config.replacement_radius)
    return masked_batch.numpy(), np.concatenate([crops, mask.numpy()], axis=-1)
