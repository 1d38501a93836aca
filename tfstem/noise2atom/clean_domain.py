"""The clean domain C of Noise2Atom: images of pure Gaussian atomic peaks, streamed with tf.data.

Wang et al., Appl. Microsc. 50:23 (2020), section "Implementation details / Datasets": "we randomly
sampled 75-150 atomic positions in a 2D 256x256 pixel lattice. Then, we randomly assigned 1-4 atoms to
each of the positions. Afterward, we generated a 33x33 pixel 2D Gaussian kernel with a random variance in
the range [1.0, 10.0]. Then, this kernel was convolved with the 2D lattice, and the 128x128 pixels from
the center of the image was cropped" (32768 images; here streamed, seeded, without end).

Details taken from the released ``simulate_physical_model.py`` where the paper is silent: the kernel is
``exp(-d^2 / (2 v))`` with peak 1 (v is the variance), the 16-pixel border of the 256x256 canvas is
emptied, and the images are normalised *jointly* (one constant for the whole set) to [0, 1].
Options for the two readings that differ:

- ``site_pitch``: 1 (default, the paper: any pixel of the 256x256 lattice) or 8 (released: a square
  lattice of pitch 8 px, each site jittered by up to +-1 px).
- ``integer_variance``: False (default, the paper: continuous variance in [1, 10]) or True (released:
  integer variance in {1, ..., 10}).

Every function is pure TensorFlow and stateless: image ``i`` of seed ``s`` is always the same.
"""

from __future__ import annotations

import functools

import tensorflow as tf

__all__ = ["simulate_atom_image", "simulate_atom_images", "clean_domain_dataset", "joint_scale"]

CANVAS = 256  # paper: 256x256 lattice
CROP = 128  # paper: 128x128 centre crop
KERNEL = 33  # paper: 33x33 kernel
BORDER = 16  # released code empties a 16 px border


def _check(min_sites, max_sites, min_atoms, max_atoms, min_variance, max_variance, site_pitch, patch_size, canvas_size):
    if not 1 <= int(min_sites) <= int(max_sites):
        raise ValueError(f"need 1 <= min_sites <= max_sites; received {min_sites}, {max_sites}.")
    if not 1 <= int(min_atoms) <= int(max_atoms):
        raise ValueError(f"need 1 <= min_atoms <= max_atoms; received {min_atoms}, {max_atoms}.")
    if not 0 < float(min_variance) <= float(max_variance):
        raise ValueError(f"need 0 < min_variance <= max_variance; received {min_variance}, {max_variance}.")
    if int(site_pitch) < 1:
        raise ValueError(f"site_pitch must be >= 1; received site_pitch={site_pitch}.")
    if not 0 < int(patch_size) <= int(canvas_size) - 2 * BORDER:
        raise ValueError(f"patch_size must be in (0, canvas_size - 32]; received patch_size={patch_size}, "
                         f"canvas_size={canvas_size}.")


def simulate_atom_image(seed, *, min_sites: int = 75, max_sites: int = 150, min_atoms: int = 1, max_atoms: int = 4,
                        min_variance: float = 1.0, max_variance: float = 10.0, site_pitch: int = 1,
                        integer_variance: bool = False, canvas_size: int = CANVAS, patch_size: int = CROP,
                        kernel_size: int = KERNEL):
    """One unnormalised clean image (sum of Gaussian peaks of height 1 per atom).

    Parameters
    ----------
    seed : int32 tensor ``[2]``
        Stateless seed.
    min_sites, max_sites : int
        Number of occupied positions, uniform in [75, 150] (paper) on the whole canvas.
    min_atoms, max_atoms : int
        Atoms per position, uniform integer in [1, 4] (paper).
    min_variance, max_variance : float
        Variance (px^2) of the 33x33 Gaussian kernel, uniform in [1, 10] (paper).
    site_pitch, integer_variance
        Paper (1, False) or released code (8, True) reading; see the module docstring.
    canvas_size, patch_size, kernel_size : int
        256, 128, 33 in the paper.

    Returns
    -------
    tf.Tensor, float32 ``[patch_size, patch_size, 1]``, values >= 0 in "atoms" (a lone 1-atom peak has height 1).
    """
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int32), 6)
    n = tf.random.stateless_uniform([], seeds[0], int(min_sites), int(max_sites) + 1, dtype=tf.int32)
    pitch = int(site_pitch)
    interior = canvas_size - 2 * BORDER
    n_grid = interior // pitch
    rc = tf.random.stateless_uniform([int(max_sites), 2], seeds[1], 0, n_grid, dtype=tf.int32) * pitch + BORDER
    if pitch > 1:  # released code: +-0.125 lattice units of jitter, truncated to integer pixels
        jitter = tf.random.stateless_uniform([int(max_sites), 2], seeds[2], -0.125, 0.125) * pitch
        rc = tf.clip_by_value(rc + tf.cast(jitter, tf.int32), BORDER, canvas_size - BORDER - 1)
    atoms = tf.random.stateless_uniform([int(max_sites)], seeds[3], int(min_atoms), int(max_atoms) + 1, dtype=tf.int32)
    atoms = tf.where(tf.range(int(max_sites)) < n, tf.cast(atoms, tf.float32), 0.0)
    canvas = tf.scatter_nd(rc, atoms, [canvas_size, canvas_size])
    if integer_variance:
        variance = tf.cast(tf.random.stateless_uniform([], seeds[4], int(min_variance), int(max_variance) + 1,
                                                       dtype=tf.int32), tf.float32)
    else:
        variance = tf.random.stateless_uniform([], seeds[4], float(min_variance), float(max_variance))
    half = kernel_size // 2
    r = tf.range(-half, half + 1, dtype=tf.float32)
    # exp(-(dr^2 + dc^2) / 2v) is separable: two 1-D passes give the same 33x33 convolution, 16x cheaper.
    taps = tf.exp(-(r ** 2) / (2.0 * variance))
    image = tf.nn.conv2d(canvas[None, :, :, None], taps[:, None, None, None], strides=1, padding="SAME")
    image = tf.nn.conv2d(image, taps[None, :, None, None], strides=1, padding="SAME")[0]
    start = (canvas_size - patch_size) // 2
    return image[start:start + patch_size, start:start + patch_size, :]


def simulate_atom_images(seed, count: int, **kwargs):
    """``count`` unnormalised images of :func:`simulate_atom_image`, image i seeded by ``fold_in(seed, i)``.

    Returns
    -------
    tf.Tensor, float32 ``[count, patch_size, patch_size, 1]``
    """
    seed = tf.convert_to_tensor([0, int(seed)] if isinstance(seed, int) else seed, tf.int32)
    dataset = tf.data.Dataset.range(int(count)).map(
        lambda i: simulate_atom_image(tf.random.experimental.stateless_fold_in(seed, i), **kwargs),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return tf.concat(list(dataset.batch(64)), axis=0)


@functools.lru_cache(maxsize=16)  # pure function of its arguments; saves seconds per trainer in one process
def joint_scale(seed: int = 0, count: int = 256, **kwargs) -> float:
    """The joint normalisation constant: the maximum over ``count`` reference images (released code: the
    whole generated stack is scaled jointly to [0, 1]). Streamed images are divided by it and clipped to 1.

    Returns
    -------
    float
        Maximum intensity (in atoms) of the reference set.
    """
    images = simulate_atom_images([1, int(seed)], int(count), **kwargs)
    return float(tf.reduce_max(images))


def clean_domain_dataset(*, batch_size: int = 6, seed: int = 0, scale: float | None = None, symmetric: bool = True,
                         start: int = 0, **kwargs) -> tf.data.Dataset:
    """An endless, seeded ``tf.data.Dataset`` of clean-domain batches.

    Parameters
    ----------
    batch_size : int
        Images per batch (paper: 6).
    seed : int
        Image i of the stream is ``simulate_atom_image(fold_in([0, seed], i))``.
    scale : float, optional
        Joint normalisation constant; default :func:`joint_scale` of 256 reference images.
    symmetric : bool
        Map [0, 1] to [-1, 1] (``2x - 1``, the generators' range).
    start : int
        Index of the first batch (a resumed run starts where it stopped without simulating the skipped images).
    **kwargs
        Passed to :func:`simulate_atom_image` (``site_pitch``, ``integer_variance``, ...).

    Returns
    -------
    tf.data.Dataset
        Elements ``float32 [batch_size, patch_size, patch_size, 1]`` in [-1, 1] (or [0, 1]).
    """
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be positive; received batch_size={batch_size}.")
    _check(kwargs.get("min_sites", 75), kwargs.get("max_sites", 150), kwargs.get("min_atoms", 1),
           kwargs.get("max_atoms", 4), kwargs.get("min_variance", 1.0), kwargs.get("max_variance", 10.0),
           kwargs.get("site_pitch", 1), kwargs.get("patch_size", CROP), kwargs.get("canvas_size", CANVAS))
    if scale is None:
        scale = joint_scale(seed, **kwargs)
    scale = float(scale)
    base = tf.constant([0, int(seed)], tf.int32)

    def make(i):
        image = simulate_atom_image(tf.random.experimental.stateless_fold_in(base, i), **kwargs)
        image = tf.minimum(image / scale, 1.0)
        return 2.0 * image - 1.0 if symmetric else image

    first = int(start) * int(batch_size)
    dataset = tf.data.Dataset.counter(first).map(make, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.batch(int(batch_size), drop_remainder=True).prefetch(2)
