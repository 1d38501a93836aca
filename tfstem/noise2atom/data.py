"""The noisy domain of Noise2Atom: the series scaled to [-1, 1], its frames sampled, random patches streamed.

Wang et al. 2020, "Training Details": 120 frames sampled from the series, min-max normalised as a stack, random
128 x 128 crops, batch 6. The stream is a stateless function of ``(seed, batch index)``, so a resumed run sees
the batches an uninterrupted one would.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfstem.io.series import series_view

__all__ = ["prepare_frames", "check_patch_fits", "check_frames", "noisy_dataset"]


def prepare_frames(frames, *, training_frames: int = 120, seed: int = 0):
    """Stack min-max normalisation to [-1, 1] and random sampling of ``training_frames`` frames.

    Parameters
    ----------
    frames : array_like, ``[T, H, W]`` or ``[T, H, W, 1]``, any real dtype
        The noisy series (raw counts or intensities). Not modified.
    training_frames : int
        Frames sampled (without replacement, kept in time order) when T is larger (paper: 120).

    Returns
    -------
    scaled : numpy.ndarray, float32 ``[T', H, W, 1]`` in [-1, 1]
    minimum, maximum : float
        Raw stack minimum and maximum (stored in the denoiser).
    """
    try:
        array = series_view(frames, channels=1, name="frames")[..., 0]
    except ValueError as error:
        if "channel" in str(error):
            raise ValueError(f"{error} Multi-channel series: train one model per channel.") from None
        raise
    if array.shape[0] > training_frames:
        rng = np.random.default_rng(seed)
        array = array[np.sort(rng.choice(array.shape[0], training_frames, replace=False))]
    array = array.astype(np.float64)  # float64: finite values up to 1.8e308 neither overflow nor lose the range
    minimum, maximum = float(array.min()), float(array.max())
    if maximum <= minimum:
        raise ValueError(f"frames are constant ({minimum}); nothing to learn.")
    scaled = (2.0 * ((array - minimum) / (maximum - minimum)) - 1.0).astype(np.float32)
    return scaled[..., None], minimum, maximum


def check_patch_fits(frames, patch_size):
    """Raise ValueError unless ``frames`` (``[T, H, W, 1]``) are at least ``patch_size`` px high and wide."""
    height, width = frames.shape[1:3]
    if height < patch_size or width < patch_size:
        raise ValueError(f"frames of {height}x{width} px are smaller than patch_size={patch_size}; "
                         "use a smaller patch_size (multiple of 16) or larger frames.")


def check_frames(frames, config: "Noise2AtomConfig") -> None:
    """Raise a one-line ValueError unless ``frames`` can train ``config`` (see :func:`prepare_frames`).

    ``frames``: ``[T, H, W]`` or ``[T, H, W, 1]``, real numbers, finite, not constant, T >= 1 and
    H, W >= ``config.patch_size``.
    """
    scaled, _, _ = prepare_frames(frames, training_frames=config.training_frames, seed=config.seed)
    check_patch_fits(scaled, config.patch_size)


def noisy_dataset(frames, *, batch_size, patch_size, sampling, seed, start=0):
    """Endless stateless stream of ``[batch_size, crop, crop, 1]`` crops from ``frames`` [T, H, W, 1]."""
    t_count, height, width = frames.shape[:3]
    check_patch_fits(frames, patch_size)
    if sampling == "consecutive" and t_count < batch_size:
        raise ValueError(f"consecutive crop sampling needs >= batch_size={batch_size} frames; received {t_count}.")
    stack = tf.constant(frames)
    base = tf.constant([1, int(seed)], tf.int32)

    def crops(i):
        s = tf.random.experimental.stateless_split(tf.random.experimental.stateless_fold_in(base, i), 3)
        if sampling == "consecutive":
            t0 = tf.random.stateless_uniform([], s[0], 0, t_count - batch_size + 1, dtype=tf.int32)
            t = t0 + tf.range(batch_size)
            r = tf.fill([batch_size], tf.random.stateless_uniform([], s[1], 0, height - patch_size + 1, dtype=tf.int32))
            c = tf.fill([batch_size], tf.random.stateless_uniform([], s[2], 0, width - patch_size + 1, dtype=tf.int32))
        else:
            t = tf.random.stateless_uniform([batch_size], s[0], 0, t_count, dtype=tf.int32)
            r = tf.random.stateless_uniform([batch_size], s[1], 0, height - patch_size + 1, dtype=tf.int32)
            c = tf.random.stateless_uniform([batch_size], s[2], 0, width - patch_size + 1, dtype=tf.int32)
        return tf.map_fn(lambda trc: tf.slice(stack, [trc[0], trc[1], trc[2], 0], [1, patch_size, patch_size, 1])[0],
                         tf.stack([t, r, c], axis=1), fn_output_signature=tf.float32)

    return tf.data.Dataset.counter(int(start)).map(crops, num_parallel_calls=2, deterministic=True).prefetch(2)
