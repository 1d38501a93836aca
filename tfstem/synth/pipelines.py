"""``tf.data`` pipelines of synthetic (distorted, clean) pairs for the r_em modalities.

Per element: a random specimen (NumPy, CPU, seeded by ``(seed, modality key, index)``) -> undistorted image
(TensorFlow, Eq. 16-26). Per batch: the modality's random distortions (:func:`tfstem.synth.distort`, TensorFlow,
stateless seed ``fold_in(fold_in([seed, 1], modality key), batch index)``) on an extended field of view for scanning
modalities, then the central crop. The modality key is ``zlib.crc32`` of the config name, so one seed gives
independent data for each modality; the same ``(modality, seed)`` gives bit-identical batches.
"""

from __future__ import annotations

import zlib

import numpy as np
import tensorflow as tf

from tfstem.synth import imaging
from tfstem.synth.configs import ModalityConfig, modality_config
from tfstem.synth.distortion import distort
from tfstem.synth.random import as_seed
from tfstem.synth.specimen import sample_specimen

__all__ = ["pairs", "clean_images", "make_clean_example", "modality_key", "example_rng"]


def modality_key(modality) -> int:
    """Stable 31-bit integer of a modality (``zlib.crc32`` of its config name), folded into every seed.

    Without it ``hrstem`` and ``hrsem`` (and the three low-resolution modalities) drew identical specimens and
    distortion parameters from one seed: their clean images were pixel for pixel the same.
    """
    return zlib.crc32(modality_config(modality).name.encode("utf-8")) & 0x7FFFFFFF


def example_rng(modality, seed: int, index: int) -> np.random.Generator:
    """The NumPy generator of element ``index`` of ``pairs(modality, seed=seed)`` / ``clean_images``."""
    return np.random.default_rng([int(seed), modality_key(modality), int(index)])


def _margin(cfg: ModalityConfig, size: int) -> int:
    """Extra pixels per side for scan distortions (the paper's extended box); none for TEM."""
    return 0 if cfg.detector == "tem" else max(size // 8, 4)


def make_clean_example(cfg: ModalityConfig, seed: int, index: int, height: int, width: int, margin: int = 0):
    """NumPy part of one element: everything the TensorFlow renderer needs.

    Returns
    -------
    tuple of np.ndarray
        positions_px float32 [K, 2], species_index int32 [K], profiles float32 [S, 5], low-resolution table float32
        [rows, 12], finish parameters float32 [10], pixel size float32 [] (Angstrom).
    """
    rng = example_rng(cfg, seed, index)
    icfg = cfg.imaging
    he, we = height + 2 * margin, width + 2 * margin
    finish = imaging.sample_finish(rng, icfg)
    if icfg.resolution == "high":
        specimen = sample_specimen(rng, icfg, (height, width), margin_px=margin)
        positions, species, profiles = imaging.specimen_arrays(rng, specimen, icfg, he, we)
        table = np.zeros((imaging.low_resolution_table_rows(icfg), 12), np.float32)
        dr = specimen.pixel_size
    else:
        positions, species = np.zeros((0, 2), np.float32), np.zeros(0, np.int32)
        profiles = np.zeros((1, 5), np.float32)
        profiles[0] = (1.0, 1.0, 1.0, 1.0, 4.0)
        table = imaging.sample_low_resolution(rng, icfg, he, we)
        dr = rng.uniform(*icfg.pixel_size)
    return positions, species, profiles, table, finish, np.float32(dr)


def _element_fn(cfg: ModalityConfig, seed: int, height: int, width: int, margin: int):
    he, we = height + 2 * margin, width + 2 * margin
    high = cfg.imaging.resolution == "high"

    def numpy_part(index):
        return make_clean_example(cfg, seed, int(index), height, width, margin)

    def element(index):
        positions, species, profiles, table, finish, dr = tf.numpy_function(
            numpy_part, [index], [tf.float32, tf.int32, tf.float32, tf.float32, tf.float32, tf.float32],
            stateful=False)
        positions.set_shape([None, 2])
        species.set_shape([None])
        profiles.set_shape([None, 5])
        table.set_shape([imaging.low_resolution_table_rows(cfg.imaging), 12])
        finish.set_shape([10])
        dr.set_shape([])
        if high:
            y = imaging.render_atoms(positions, species, profiles, he, we)
        else:
            y = imaging.render_low_resolution(table, he, we, cfg.imaging)
        y = imaging.finish_image(y, finish, cfg.imaging.std_over_mean)
        return y[..., None], dr

    return element


def pairs(modality, size: int = 256, batch_size: int = 16, seed: int = 0, *, num_parallel_calls=None,
          repeat: bool = True, prefetch: int = 2) -> tf.data.Dataset:
    """Endless dataset of random (distorted, clean) batches for one modality.

    Parameters
    ----------
    modality : str or ModalityConfig
        ``hrstem, lrstem, hrtem, lrtem, hrsem`` or ``lrsem`` (or a custom config).
    size : int
        Image height and width in pixels (paper: 256).
    batch_size : int
    seed : int
        Same seed and modality, same batches (bit-identical). Specimen ``i`` uses
        ``np.random.default_rng([seed, k, i])`` and batch ``b`` distorts with
        ``stateless_fold_in(stateless_fold_in([seed, 1], k), b)``, where ``k = modality_key(modality)``: different
        modalities never share specimens or distortions.
    num_parallel_calls : int, optional
        Parallel specimen workers; ``tf.data.AUTOTUNE`` when omitted. Output order is deterministic either way.
    repeat : bool
        Endless when True; otherwise one pass of ``batch_size`` images per step over ``2**31`` indices (still
        effectively endless; use ``.take(n)``).
    prefetch : int
        Batches prefetched.

    Returns
    -------
    tf.data.Dataset
        Elements ``(distorted, clean)``, float32 ``[batch_size, size, size, 1]`` each, clean normalised to max 1
        (Eq. 26), distorted on the same intensity scale.

    Raises
    ------
    ValueError
        For an unknown modality or a size/batch size below 1 (size must be at least 16).

    Examples
    --------
    >>> from tfstem.synth import pairs
    >>> x, y = next(iter(pairs("hrstem", size=64, batch_size=2, seed=1)))
    >>> tuple(x.shape)
    (2, 64, 64, 1)
    """
    cfg = modality_config(modality)
    if int(size) < 16:
        raise ValueError(f"size must be at least 16 pixels; received size={size}.")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1; received batch_size={batch_size}.")
    size, batch_size, seed = int(size), int(batch_size), int(seed)
    margin = _margin(cfg, size)
    element = _element_fn(cfg, seed, size, size, margin)
    parallel = tf.data.AUTOTUNE if num_parallel_calls is None else num_parallel_calls
    ds = tf.data.Dataset.range(2**31 - 1)
    ds = ds.map(element, num_parallel_calls=parallel, deterministic=True)
    ds = ds.batch(batch_size, drop_remainder=True)
    base = tf.random.experimental.stateless_fold_in(as_seed([seed, 1]), modality_key(cfg))

    def distort_batch(index, batch):
        clean, dr = batch
        x, y = distort(clean, cfg, tf.random.experimental.stateless_fold_in(base, index), pixel_size=dr)
        if margin:
            x = x[:, margin:margin + size, margin:margin + size]
            y = y[:, margin:margin + size, margin:margin + size]
        return x, y

    ds = ds.enumerate().map(distort_batch, num_parallel_calls=parallel, deterministic=True)
    return ds.prefetch(prefetch)


def clean_images(modality, n: int, size: int = 256, seed: int = 0) -> np.ndarray:
    """Undistorted images only (Eq. 16-26), e.g. to distort on the device with :func:`tfstem.synth.distort`.

    Parameters
    ----------
    modality : str or ModalityConfig
    n : int
        Number of images.
    size : int
        Height and width in pixels.
    seed : int
        Image ``i`` draws from :func:`example_rng` ``(modality, seed, i)``, the stream of element ``i`` of
        :func:`pairs` (which, for scanning modalities, samples on an extended box, so the images differ there).

    Returns
    -------
    np.ndarray, float32, [n, size, size, 1], maximum 1 per image.
    """
    cfg = modality_config(modality)
    element = _element_fn(cfg, int(seed), int(size), int(size), 0)
    ds = tf.data.Dataset.range(int(n)).map(element, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return np.stack([y.numpy() for y, _ in ds]) if n else np.zeros((0, size, size, 1), np.float32)
