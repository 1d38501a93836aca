"""The training data of r_em: aligned (distorted, clean) pairs from memory, files or :mod:`tfstem.synth`.

Every batch is a pure function of ``(seed, step)`` (stateless draws), so a resumed run reads exactly the
batches an uninterrupted one would; :func:`distribute_batches` splits each global batch over the replicas of a
``tf.distribute`` strategy without changing the numbers.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tensorflow as tf

__all__ = ["array_pairs_dataset", "as_pairs", "read_pairs", "synthetic_pairs", "distribute_batches",
           "SYNTH_INTENSITY_SCALE", "SYNTHETIC"]

#: tfstem.synth returns clean images scaled to max 1. The authors trained on raw 16-bit counts, where the
#: CGRDN's absolute std floor of 0.1 never acts; scaling the pairs by 1000 keeps it inactive in the same way
#: (the network is otherwise invariant to the intensity scale).
SYNTH_INTENSITY_SCALE = 1000.0

#: The DATA argument that asks for synthetic pairs made on the fly (``tfstem train r_em synthetic``).
SYNTHETIC = "synthetic"


def as_pairs(distorted, clean):
    """Check and convert aligned pairs to float32 ``[N, H, W, C]`` (copies; the caller's arrays are untouched).

    Parameters
    ----------
    distorted, clean : array_like
        ``[N, H, W]`` or ``[N, H, W, C]`` raw intensities of one shape.

    Returns
    -------
    tuple of np.ndarray
        float32 ``[N, H, W, C]`` each.
    """
    distorted = np.array(distorted, dtype=np.float32)
    clean = np.array(clean, dtype=np.float32)
    if distorted.ndim == 3 and clean.ndim == 3:
        distorted, clean = distorted[..., None], clean[..., None]
    if distorted.shape != clean.shape or distorted.ndim != 4:
        raise ValueError(f"distorted and clean must both be [N, H, W] or [N, H, W, C] of one shape; received "
                         f"{distorted.shape} and {clean.shape}.")
    if not (np.all(np.isfinite(distorted)) and np.all(np.isfinite(clean))):
        raise ValueError("the pairs hold NaN or inf values; remove or repair those images.")
    return distorted, clean


def array_pairs_dataset(distorted, clean, *, batch_size: int, patch_size: int, seed: int = 0,
                        start_step: int = 0) -> tf.data.Dataset:
    """Endless dataset of random aligned crops (with flips/transposes) from in-memory pairs.

    Batch ``k`` is a pure function of ``(seed, start_step + k)`` (stateless draws), so a resumed run reads
    exactly the batches an uninterrupted one would.

    Parameters
    ----------
    distorted, clean : array_like
        float32 ``[N, H, W, C]`` raw intensities (also accepted: ``[N, H, W]``), H, W >= ``patch_size``.
    batch_size : int
        Global batch.
    patch_size : int
        Crop side in pixels.
    seed : int
        Seed of the crops.
    start_step : int
        Index of the first batch.

    Returns
    -------
    tf.data.Dataset
        Elements ``(distorted, clean)``, float32 ``[batch_size, patch_size, patch_size, C]``.
    """
    distorted, clean = as_pairs(distorted, clean)
    n, h, w, c = distorted.shape
    if h < patch_size or w < patch_size:
        raise ValueError(f"images of {h}x{w} pixels are smaller than patch_size={patch_size}; lower patch_size.")
    pairs = tf.constant(np.concatenate([distorted, clean], axis=-1))

    def sample(step):
        key = tf.random.experimental.stateless_fold_in(tf.constant([seed, 0x5EED], tf.int64), step)
        keys = tf.random.experimental.stateless_split(key, 4)
        index = tf.random.stateless_uniform([batch_size], keys[0], 0, n, dtype=tf.int32)
        top = tf.random.stateless_uniform([batch_size], keys[1], 0, h - patch_size + 1, dtype=tf.int32)
        left = tf.random.stateless_uniform([batch_size], keys[2], 0, w - patch_size + 1, dtype=tf.int32)
        flips = tf.random.stateless_uniform([batch_size, 3], keys[3], 0, 2, dtype=tf.int32)

        def crop(i):
            patch = pairs[index[i], top[i]:top[i] + patch_size, left[i]:left[i] + patch_size, :]
            patch = tf.cond(flips[i, 0] > 0, lambda: patch[::-1], lambda: patch)
            patch = tf.cond(flips[i, 1] > 0, lambda: patch[:, ::-1], lambda: patch)
            return tf.cond(flips[i, 2] > 0, lambda: tf.transpose(patch, [1, 0, 2]), lambda: patch)

        batch = tf.map_fn(crop, tf.range(batch_size), fn_output_signature=tf.float32)
        batch = tf.ensure_shape(batch, [batch_size, patch_size, patch_size, 2 * c])
        return batch[..., :c], batch[..., c:]

    return tf.data.Dataset.range(int(start_step), 2**62).map(sample, num_parallel_calls=tf.data.AUTOTUNE)


def synthetic_pairs(modality: str, *, batch_size: int, patch_size: int, seed: int = 0,
                    start_step: int = 0) -> tf.data.Dataset:
    """Endless synthetic pairs of ``modality`` (:func:`tfstem.synth.pairs`) times :data:`SYNTH_INTENSITY_SCALE`.

    Returns
    -------
    tf.data.Dataset
        Elements ``(distorted, clean)``, float32 ``[batch_size, patch_size, patch_size, 1]``; element k is
        batch ``start_step + k`` of the run.
    """
    try:
        from tfstem.synth import pairs
    except ImportError as error:
        raise ImportError("synthetic pairs need tfstem.synth.pairs, which this installation lacks; "
                          "pass a .npz file with arrays x and y as DATA instead.") from error

    def scale(x, y):
        return x * SYNTH_INTENSITY_SCALE, y * SYNTH_INTENSITY_SCALE

    dataset = pairs(modality, size=patch_size, batch_size=batch_size, seed=seed)
    return dataset.repeat().skip(start_step).map(scale)


def _read_simulated_pairs(directory: Path):
    """Pairs written by ``tfstem simulate --format npy``, scaled like on-the-fly synthetic data."""
    clean_files = sorted(directory.glob("*_clean.npy"))
    if len(clean_files) != 1:
        raise ValueError(f"DATA {directory} must hold exactly one '<prefix>_clean.npy' written by "
                         f"`tfstem simulate --format npy`; found {[p.name for p in clean_files]}.")
    distorted_file = clean_files[0].with_name(clean_files[0].name.replace("_clean.npy", "_distorted.npy"))
    if not distorted_file.exists():
        raise FileNotFoundError(f"DATA {directory}: {distorted_file.name} is missing beside {clean_files[0].name}.")
    x, y = np.load(distorted_file), np.load(clean_files[0])
    return x * np.float32(SYNTH_INTENSITY_SCALE), y * np.float32(SYNTH_INTENSITY_SCALE)


def _read_arrays(path: Path):
    if path.suffix == ".npz":
        with np.load(path) as archive:
            if "x" not in archive or "y" not in archive:
                raise ValueError(f"DATA {path} must hold arrays 'x' and 'y'; found {sorted(archive.files)}.")
            return archive["x"], archive["y"]
    if path.suffix in (".h5", ".hdf5"):
        import h5py

        with h5py.File(path, "r") as f:
            if "x" not in f or "y" not in f:
                raise ValueError(f"DATA {path} must hold datasets 'x' and 'y'; found {sorted(f)}.")
            return f["x"][()], f["y"][()]
    raise ValueError(f"DATA must be a .npz or .h5 file, a `tfstem simulate --format npy` folder or "
                     f"'{SYNTHETIC}'; received {path.name}.")


def read_pairs(path, *, channels_axis: int | None = None):
    """The (distorted, clean) pairs in ``path``, or None for ``"synthetic"``.

    Parameters
    ----------
    path : str or path-like
        A ``.npz`` or ``.h5`` file with arrays ``x`` (distorted) and ``y`` (clean), ``[N, H, W(, C)]`` raw
        intensities; a ``tfstem simulate --format npy`` folder (scaled by :data:`SYNTH_INTENSITY_SCALE`, like
        on-the-fly synthetic pairs); or ``"synthetic"`` (pairs made on the fly from the config's modality).
    channels_axis : int, optional
        The axis of ``x`` and ``y`` that holds channels, if it is not the last (moved last).

    Returns
    -------
    tuple of np.ndarray or None
        ``(x, y)`` as stored, or None for synthetic pairs.
    """
    if str(path) == SYNTHETIC and not Path(path).exists():
        return None
    path = Path(os.fspath(path))
    if not path.exists():
        raise FileNotFoundError(f"DATA {path} does not exist (pass a .npz/.h5 file of pairs, a `tfstem simulate` "
                                f"folder or '{SYNTHETIC}').")
    x, y = _read_simulated_pairs(path) if path.is_dir() else _read_arrays(path)
    if channels_axis is not None:
        x, y = np.moveaxis(x, channels_axis, -1), np.moveaxis(y, channels_axis, -1)
    return x, y


def distribute_batches(strategy, make_dataset, batch_size: int):
    """Split every global batch of ``make_dataset()`` over the workers and replicas of ``strategy``.

    Replica ``r`` (global index over all workers) receives rows ``[r * b, (r + 1) * b)`` of each global
    batch, ``b = batch_size / replicas``, so the split does not change the numbers.

    Parameters
    ----------
    strategy : tf.distribute.Strategy
    make_dataset : callable
        ``make_dataset() -> tf.data.Dataset`` of ``(distorted, clean)`` global batches, float32
        ``[batch_size, H, W, C]``, endless; called on each input worker (under its device scope).
    batch_size : int
        The global batch.

    Returns
    -------
    tf.distribute.DistributedDataset
    """
    replicas = strategy.num_replicas_in_sync

    def dataset_fn(context: tf.distribute.InputContext):
        pipelines = context.num_input_pipelines
        local_replicas = replicas // pipelines
        per_pipeline = batch_size // pipelines
        per_replica = batch_size // replicas
        first = context.input_pipeline_id * per_pipeline
        dataset = make_dataset()

        def split(x, y):
            tf.debugging.assert_equal(
                tf.shape(x)[0], batch_size,
                message=f"every dataset element must hold the global batch of {batch_size} examples")
            x = tf.cast(x[first:first + per_pipeline], tf.float32)
            y = tf.cast(y[first:first + per_pipeline], tf.float32)
            shape = tf.concat([[local_replicas, per_replica], tf.shape(x)[1:]], axis=0)
            return tf.data.Dataset.from_tensor_slices((tf.reshape(x, shape), tf.reshape(y, shape)))

        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        return dataset.flat_map(split).with_options(options).prefetch(tf.data.AUTOTUNE)

    return strategy.distribute_datasets_from_function(dataset_fn)
