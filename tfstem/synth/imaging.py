"""Undistorted images of the r_em paper (Lobato et al. 2023, "Undistorted data generation", Eq. 16-26).

High/medium resolution: the sum of per-atom radial profiles of Eq. 17 (Eq. 16), computed as per-species delta maps
(bilinear splatting of the projected positions) convolved with each species' profile by FFT, with the profile size
tied to the projected potential's mean-square radius (Eq. 18-21) and the intensity ordering of Eq. 22.
Low resolution: soft particles, sharp particles (polygons/ellipses), Voronoi grains with optional borders, bands,
boxes and cracks. Then contrast inversion (Eq. 23), power law (Eq. 24), background, std/mean constraint (Eq. 25)
and normalisation by the maximum (Eq. 26).

Parameter draws take a NumPy ``Generator`` (CPU side of the input pipeline); every image computation is TensorFlow.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from tfstem.synth.configs import ImagingConfig
from tfstem.synth.specimen import Specimen, element_table

__all__ = ["profile_radius", "sample_profiles", "render_atoms", "specimen_arrays", "finish_image", "sample_finish",
           "render_low_resolution", "sample_low_resolution", "integrated_intensity"]


def profile_radius(alpha: float) -> np.ndarray:
    """r_Z^m for Z = 1..103 in Angstrom (Eq. 18-20): ``a r_hat^alpha + b`` with a, b matching mean and spread.

    Parameters
    ----------
    alpha : float
        Exponent, uniform in [0.75, 1.25] in the paper.

    Returns
    -------
    np.ndarray, float64, [103]
    """
    r = element_table()["rms_radius"]
    ra = r**alpha
    a = r.std() / ra.std()  # Eq. 19
    b = r.mean() - a * ra.mean()  # Eq. 20
    return a * ra + b  # Eq. 18


def integrated_intensity(radius, h1, h2, h3, order):
    """Integral of Eq. 17 over the plane: ``2 pi r_m^2 [h1 + h2 + h3 (pi / 2n) / sin(pi / n)]``."""
    return 2 * math.pi * radius**2 * (h1 + h2 + h3 * (math.pi / (2 * order)) / np.sin(math.pi / order))


def sample_profiles(rng, atomic_numbers: np.ndarray, pixel_size: float, cfg: ImagingConfig) -> np.ndarray:
    """Eq. 17 parameters for each species, in pixels, obeying the Z ordering of Eq. 22.

    One alpha (Eq. 18) and one Butterworth order n per image; h1..h3 per species in [0.5, 1]. Species are visited in
    increasing Z; when a draw would give a heavier atom a smaller integrated intensity than the previous one
    (Eq. 22), its h's are redrawn (up to 20 times) and finally scaled up just enough, so the ordering always holds.

    Returns
    -------
    np.ndarray, float32, [S, 5]
        Columns r_m (pixels), h1, h2, h3, n for the sorted unique atomic numbers.
    """
    species = np.unique(atomic_numbers)
    alpha = rng.uniform(*cfg.profile_alpha)
    order = rng.uniform(*cfg.profile_order)
    radius = profile_radius(alpha)[species - 1] / pixel_size
    out = np.zeros((len(species), 5), np.float32)
    previous = 0.0
    for i, r in enumerate(radius):
        for _ in range(20):
            h = rng.uniform(*cfg.profile_height, size=3)
            total = integrated_intensity(r, *h, order)
            if total > previous:
                break
        if total <= previous:
            h = h * (previous / total) * 1.001
            total = integrated_intensity(r, *h, order)
        previous = total
        out[i] = (r, h[0], h[1], h[2], order)
    return out


def _species_index(atomic_numbers):
    species, index = np.unique(atomic_numbers, return_inverse=True)
    return species, index.astype(np.int32)


def render_atoms(positions_px, species_index, profiles, height: int, width: int) -> tf.Tensor:
    """Eq. 16: ``y = sum_Z sum_i f_Z(|r - r_i|)`` with f_Z of Eq. 17, periodic, by FFT per species.

    Parameters
    ----------
    positions_px : tf.Tensor, float32, [K, 2]
        Projected (row, column) positions in pixels.
    species_index : tf.Tensor, int32, [K]
        Row of ``profiles`` for each atom.
    profiles : tf.Tensor, float32, [S, 5]
        r_m (pixels), h1, h2, h3, n per species.
    height, width : int

    Returns
    -------
    tf.Tensor, float32, [height, width]
    """
    positions_px = tf.convert_to_tensor(positions_px, tf.float32)
    species_index = tf.convert_to_tensor(species_index, tf.int32)
    profiles = tf.convert_to_tensor(profiles, tf.float32)
    n_species = tf.shape(profiles)[0]
    r0 = tf.floor(positions_px[:, 0])
    c0 = tf.floor(positions_px[:, 1])
    tr = positions_px[:, 0] - r0
    tc = positions_px[:, 1] - c0
    r0 = tf.cast(r0, tf.int32)
    c0 = tf.cast(c0, tf.int32)
    idx, upd = [], []
    for dr, dc, w in ((0, 0, (1 - tr) * (1 - tc)), (0, 1, (1 - tr) * tc), (1, 0, tr * (1 - tc)), (1, 1, tr * tc)):
        idx.append(tf.stack([species_index, tf.math.floormod(r0 + dr, height), tf.math.floormod(c0 + dc, width)], 1))
        upd.append(w)
    deltas = tf.scatter_nd(tf.concat(idx, 0), tf.concat(upd, 0), tf.stack([n_species, height, width]))
    # periodic distance grid
    ry = tf.cast(tf.minimum(tf.range(height), height - tf.range(height)), tf.float32)
    rx = tf.cast(tf.minimum(tf.range(width), width - tf.range(width)), tf.float32)
    r = tf.sqrt(ry[:, None] ** 2 + rx[None, :] ** 2)[None]
    rm, h1, h2, h3, n = (profiles[:, i][:, None, None] for i in range(5))
    rho = r / rm
    kernel = h1 * tf.exp(-0.5 * rho**2) + h2 * tf.exp(-rho) + h3 / (1.0 + tf.pow(rho, 2.0 * n))  # Eq. 17
    # the sum over species is taken in Fourier space: one inverse FFT instead of one per species
    spec = tf.reduce_sum(tf.signal.rfft2d(deltas) * tf.signal.rfft2d(kernel), axis=0)
    return tf.signal.irfft2d(spec, tf.constant([height, width]))


def sample_finish(rng, cfg: ImagingConfig) -> np.ndarray:
    """Random draws for :func:`finish_image` (Eq. 23-25), float32 [10]."""
    return np.array([
        rng.random() < cfg.inversion_probability,  # 0: Eq. 23
        rng.random() < cfg.power_probability,  # 1: Eq. 24
        rng.uniform(*cfg.power_beta),  # 2
        rng.random() < cfg.background_plane_probability,  # 3: plane else Gaussian
        rng.uniform(0.0, 0.5),  # 4: background height / max(y)
        rng.uniform(0, 2 * math.pi),  # 5: plane direction
        rng.random(), rng.random(),  # 6, 7: Gaussian centre (fractions of the box)
        rng.uniform(*cfg.background_gaussian_width),  # 8: Gaussian width / min(n_x, n_y)
        rng.uniform(*cfg.std_over_mean),  # 9: target std/mean when the constraint is violated, Eq. 25
    ], np.float32)


def finish_image(y, params, std_over_mean=(0.01, 0.35)) -> tf.Tensor:
    """Contrast inversion (Eq. 23), ``|y|^beta`` (Eq. 24), random background, Eq. 25 and Eq. 26.

    Parameters
    ----------
    y : tf.Tensor, float32, [H, W]
    params : tf.Tensor, float32, [10]
        From :func:`sample_finish`.
    std_over_mean : tuple
        Allowed range of ``Std{y} / E{y}`` (Eq. 25); outside it, ``y <- c y + d`` moves the ratio to ``params[9]``.

    Returns
    -------
    tf.Tensor, float32, [H, W], maximum 1.
    """
    y = tf.convert_to_tensor(y, tf.float32)
    p = tf.convert_to_tensor(params, tf.float32)
    y = y - tf.reduce_min(y)
    y = tf.where(p[0] > 0.5, tf.reduce_max(y) - y, y)  # Eq. 23
    y = tf.where(p[1] > 0.5, tf.pow(tf.abs(y) + 1e-12, p[2]), y)  # Eq. 24
    h, w = tf.shape(y)[0], tf.shape(y)[1]
    yy, xx = tf.meshgrid(tf.linspace(0.0, 1.0, h), tf.linspace(0.0, 1.0, w), indexing="ij")
    s = tf.cos(p[5]) * xx + tf.sin(p[5]) * yy
    plane = (s - tf.reduce_min(s)) / tf.maximum(tf.reduce_max(s) - tf.reduce_min(s), 1e-6)
    hf, wf = tf.cast(h, tf.float32), tf.cast(w, tf.float32)
    sigma = p[8] * tf.minimum(hf, wf)
    gauss = tf.exp(-(((yy - p[6]) * hf) ** 2 + ((xx - p[7]) * wf) ** 2) / (2.0 * sigma**2))
    background = tf.where(p[3] > 0.5, plane, gauss) * p[4] * tf.reduce_max(y)
    y = y + background
    mean = tf.reduce_mean(y)
    std = tf.math.reduce_std(y)
    ratio = std / tf.maximum(mean, 1e-12)
    violated = (ratio < std_over_mean[0]) | (ratio > std_over_mean[1])
    # Eq. 25 with c = 1: y + d has ratio std / (mean + d) = target
    d = std / p[9] - mean
    y = tf.where(violated & (std > 0), y + d, y)
    top = tf.reduce_max(y)
    # a tiny maximum is still a valid scale (an all-crack or near-empty image); only an all-zero image has none
    return tf.where(top > 0.0, y / tf.where(top > 0.0, top, 1.0), tf.ones_like(y))  # Eq. 26


def specimen_arrays(rng, specimen: Specimen, cfg: ImagingConfig, height: int, width: int):
    """Arrays that :func:`render_atoms` needs for ``specimen`` on a ``height x width`` grid.

    Profiles (Eq. 17-22) are drawn for the unique atomic numbers of specimen and support together. Support atoms get
    their own rows: a copy of their Z's row with h1..h3 scaled by ``specimen.support_weight``.

    Returns
    -------
    positions_px : np.ndarray float32 [K, 2]; species_index : np.ndarray int32 [K]; profiles : np.ndarray [S, 5]
    """
    dr = specimen.pixel_size
    pos = specimen.positions
    positions_px = np.stack([pos[:, 1] / dr, pos[:, 0] / dr], 1).astype(np.float32) if len(pos) else np.zeros(
        (0, 2), np.float32)
    numbers = specimen.atomic_numbers if len(pos) else np.array([1], np.int32)
    species, index = _species_index(numbers)
    profiles = sample_profiles(rng, species, dr, cfg)
    index = index[:len(pos)].astype(np.int32)
    support = np.asarray(specimen.support, bool)[:len(pos)]
    if support.any() and specimen.support_weight != 1.0:
        rows, inverse = np.unique(index[support], return_inverse=True)
        extra = profiles[rows].copy()
        extra[:, 1:4] *= specimen.support_weight
        index[support] = len(profiles) + inverse.astype(np.int32)
        profiles = np.concatenate([profiles, extra])
    return positions_px, index, profiles


# ----------------------------------------------------------------------------------------------- low resolution

LOW_RES_KINDS = ("soft", "sharp", "grains", "bands", "boxes", "cracks")


def _low_res_slots(cfg: ImagingConfig) -> dict:
    """Fixed row ranges of each object type in the low-resolution table (static shapes for TensorFlow)."""
    counts = {"soft": cfg.soft_particles[1], "sharp": cfg.sharp_particles[1], "grains": cfg.grains[1],
              "bands": 3, "boxes": 5, "cracks": 3}
    slots, start = {}, 0
    for kind in LOW_RES_KINDS:
        slots[kind] = (start, start + counts[kind])
        start += counts[kind]
    return slots


def low_resolution_table_rows(cfg: ImagingConfig) -> int:
    """Number of rows of the low-resolution object table for ``cfg``."""
    return max(end for _, end in _low_res_slots(cfg).values())


def _sharp_vertices(rng, cfg: ImagingConfig) -> float:
    """Shape code of one sharp particle: 0 for an ellipse (probability ``cfg.sharp_ellipse_probability``, paper:
    "polygonal or elliptical with equal probabilities"), else the polygon's vertex count, uniform over the integers
    of ``cfg.sharp_polygon_vertices`` (paper: [3, 5])."""
    if rng.random() < cfg.sharp_ellipse_probability:
        return 0.0
    low, high = cfg.sharp_polygon_vertices
    return float(rng.integers(low, high + 1))


def sample_low_resolution(rng, cfg: ImagingConfig, height: int, width: int) -> np.ndarray:
    """Random object table for :func:`render_low_resolution`, float32 [rows, 12] (see :func:`_low_res_slots`).

    Each of the six object types is present with ``cfg.low_resolution_object_probability`` (at least one type other
    than cracks, which only darken what is there);
    counts follow the paper: soft particles [15, 85], sharp particles [15, 40], grains [15, 175].
    Columns: kind, active, row, col, size, aspect, angle, intensity, n (Butterworth order of a soft particle; for
    a sharp particle the polygon's vertex count, 0 for an ellipse, see :func:`_sharp_vertices`), plane gradient (two
    components), grain-border factor (0: no border).
    """
    slots = _low_res_slots(cfg)
    table = np.zeros((low_resolution_table_rows(cfg), 12), np.float32)
    table[:, 4] = 1.0
    table[:, 5] = 1.0
    table[:, 8] = 4.0
    present = rng.random(len(LOW_RES_KINDS)) < cfg.low_resolution_object_probability
    if not present[:-1].any():  # cracks only darken what is there: at least one other object type
        present[int(rng.integers(len(LOW_RES_KINDS) - 1))] = True
    scale = min(height, width)
    border = float(rng.random() < cfg.grain_border_probability) * rng.uniform(*cfg.grain_border_factor)
    ranges = {"soft": (cfg.soft_particles, (0.01, 0.08)), "sharp": (cfg.sharp_particles, (0.02, 0.1)),
              "grains": (cfg.grains, (0.0, 0.0)), "bands": ((1, 3), (0.03, 0.2)), "boxes": ((1, 5), (0.05, 0.3)),
              "cracks": ((1, 3), (0.5 / scale, 2.0 / scale))}
    for k, kind in enumerate(LOW_RES_KINDS):
        if not present[k]:
            continue
        (lo_n, hi_n), (lo_s, hi_s) = ranges[kind]
        start, end = slots[kind]
        count = min(int(rng.integers(lo_n, hi_n + 1)), end - start)
        for i in range(start, start + count):
            table[i] = [k, 1.0, rng.uniform(0, height), rng.uniform(0, width), rng.uniform(lo_s, hi_s) * scale,
                        rng.uniform(*cfg.soft_particle_aspect) if kind == "soft" else rng.uniform(0.3, 1.0),
                        rng.uniform(0, math.pi), rng.uniform(0.2, 1.0),
                        rng.uniform(*cfg.profile_order) if kind == "soft" else _sharp_vertices(rng, cfg),
                        rng.normal(0, 0.3 / scale), rng.normal(0, 0.3 / scale), border]
    return table


def render_low_resolution(table, height: int, width: int, cfg: ImagingConfig = ImagingConfig()) -> tf.Tensor:
    """Superpose the low-resolution objects of ``table`` (see :func:`sample_low_resolution`).

    Soft particles: the asymmetric, rotated Eq. 17 profile. Sharp particles: an ellipse (vertex column 0) or a
    regular polygon masking a random positive plane. Grains: Voronoi cells, each a random positive plane, with
    optional borders at ``factor x mean grain intensity``. Bands: rotated stripes. Boxes: rotated rectangles.
    Cracks: thin dark lines through the image.

    Returns
    -------
    tf.Tensor, float32, [height, width], minimum 0.
    """
    t = tf.convert_to_tensor(table, tf.float32)
    slots = _low_res_slots(cfg)
    yy, xx = tf.meshgrid(tf.cast(tf.range(height), tf.float32), tf.cast(tf.range(width), tf.float32), indexing="ij")

    def geometry(kind):
        s = t[slots[kind][0]:slots[kind][1]]
        active = (s[:, 1] > 0.5)[:, None, None]
        dy = yy[None] - s[:, 2][:, None, None]
        dx = xx[None] - s[:, 3][:, None, None]
        ang = s[:, 6][:, None, None]
        u = tf.cos(ang) * dx + tf.sin(ang) * dy
        v = -tf.sin(ang) * dx + tf.cos(ang) * dy
        size = tf.maximum(s[:, 4], 1e-3)[:, None, None]
        aspect = tf.maximum(s[:, 5], 1e-3)[:, None, None]
        plane = 1.0 + s[:, 9][:, None, None] * dy + s[:, 10][:, None, None] * dx
        plane = tf.maximum(plane, 0.1) * s[:, 7][:, None, None]
        return s, active, dy, dx, u, v, size, aspect, plane

    def total(values, active):
        return tf.reduce_sum(tf.where(active, values, 0.0), axis=0)

    s, active, _, _, u, v, size, aspect, _ = geometry("soft")
    rho = tf.sqrt((u / size) ** 2 + (v / (aspect * size)) ** 2)
    order = s[:, 8][:, None, None]
    soft = s[:, 7][:, None, None] * (tf.exp(-0.5 * rho**2) + tf.exp(-rho) + 1.0 / (1.0 + tf.pow(rho, 2.0 * order)))
    image = total(soft / 3.0, active)
    s, active, _, _, u, v, size, aspect, plane = geometry("sharp")
    order = s[:, 8][:, None, None]
    ellipse = tf.sqrt((u / size) ** 2 + (v / (aspect * size)) ** 2) <= 1.0
    sector = 2.0 * math.pi / tf.maximum(order, 3.0)
    polygon = tf.sqrt(u * u + v * v) * tf.cos(tf.math.floormod(tf.math.atan2(v, u), sector) - sector / 2.0) <= (
        size * tf.cos(sector / 2.0))
    image += total(tf.cast(tf.where(order < 2.5, ellipse, polygon), tf.float32) * plane, active)
    _, active, _, _, u, v, size, aspect, plane = geometry("bands")
    image += total(tf.cast(tf.abs(v) <= size, tf.float32) * plane, active)
    _, active, _, _, u, v, size, aspect, plane = geometry("boxes")
    image += total(tf.cast((tf.abs(u) <= size) & (tf.abs(v) <= aspect * size), tf.float32) * plane, active)
    s, active, dy, dx, _, _, _, _, plane = geometry("grains")
    dist = tf.sqrt(tf.where(active, dy * dy + dx * dx, 1e30))
    nearest = tf.argmin(dist, axis=0)
    two = -tf.math.top_k(-tf.transpose(dist, [1, 2, 0]), k=2).values  # [H, W, 2], nearest first
    grain_plane = tf.reduce_sum(tf.one_hot(nearest, tf.shape(dist)[0], axis=0) * plane, axis=0)
    border_factor = tf.reduce_max(tf.where(active[:, 0, 0], s[:, 11], 0.0))
    on_border = (two[..., 1] - two[..., 0]) < 1.5
    grains = tf.where(on_border & (border_factor > 0), border_factor * tf.reduce_mean(grain_plane), grain_plane)
    image += tf.where(tf.reduce_any(active), grains, tf.zeros_like(grains))
    _, active, _, _, u, v, size, _, _ = geometry("cracks")
    cracked = tf.reduce_any(active & (tf.abs(v) <= size), axis=0)
    image = tf.where(cracked, tf.reduce_min(image), image)
    return tf.maximum(image - tf.reduce_min(image), 0.0)
