"""Random 3-D specimens of the r_em paper (Lobato et al. 2023, section "Specimen generation").

Specimen sampling is irregular, branchy work (rejection, symmetry expansion, geometric cuts), so it runs in NumPy on
the CPU inside the input pipeline (DESIGN.md, "Data flow"); the image formation from the atoms
(:mod:`tfstem.synth.imaging`) is TensorFlow. The crystals themselves (space group, lattice, sites) come from
:mod:`tfstem.synth.crystal`; this module orients them, fills the box and cuts the shapes, and packs amorphous atoms.

Coordinates are in Angstrom; the simulation box is ``[0, l_x] x [0, l_y] x [0, l_z]`` with the beam along z.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from importlib import resources

import numpy as np
from scipy.spatial import ConvexHull, cKDTree

from tfstem.synth.configs import ImagingConfig
from tfstem.synth.crystal import crystal_unit_cell

__all__ = ["Specimen", "element_table", "sample_specimen", "crystal_unit_cell", "amorphous_atoms", "random_points"]

AVOGADRO_PER_CM3_TO_A3 = 0.6022140857  # N_A * 1e-24: (g/cm^3) / (g/mol) -> atoms per Angstrom^3
#: First eight main zone axes [uvw] (paper: "the first eight main zone axes"; low-index order, our reading).
ZONE_AXES = ((0, 0, 1), (1, 0, 0), (0, 1, 0), (1, 1, 0), (1, 0, 1), (0, 1, 1), (1, 1, 1), (1, 1, 2))


@dataclass
class Specimen:
    """Atoms of one specimen.

    Attributes
    ----------
    positions : np.ndarray, float64, [K, 3]
        Atom positions in Angstrom.
    atomic_numbers : np.ndarray, int32, [K]
        Z in [1, 103].
    box : tuple(float, float, float)
        Extended simulation box (l_x, l_y, l_z) in Angstrom.
    pixel_size : float
        Angstrom per pixel.
    kind : str
        "crystalline", "amorphous" or "points".
    support : np.ndarray, bool, [K]
        True for atoms of the support layer (drawn after the specimen's atoms).
    support_weight : float
        Intensity factor of the support atoms in the image (1 without support), see :func:`sample_specimen`.
    """

    positions: np.ndarray
    atomic_numbers: np.ndarray
    box: tuple
    pixel_size: float
    kind: str
    support: np.ndarray = None
    support_weight: float = 1.0

    def __post_init__(self):
        if self.support is None:
            self.support = np.zeros(len(self.atomic_numbers), bool)


@functools.lru_cache(maxsize=1)
def element_table() -> dict:
    """Lobato & Van Dyck (2014) parameters and atomic masses for Z = 1..103, shipped in ``data/lobato2014.json``.

    Returns
    -------
    dict
        ``a``, ``b``: float64 [103, 5] (b in Angstrom^2); ``mass``: float64 [103] (g/mol);
        ``rms_radius``: float64 [103], the projected potential's root-mean-square radius r_hat_Z of Eq. 21 in Angstrom.

    Notes
    -----
    With ``f(g) = sum_i a_i (2 + b_i g^2) / (1 + b_i g^2)^2`` the 2-D Fourier transform of the projected potential
    is f on the g_z = 0 plane, and ``<r^2> = -Laplacian_g f(0) / (4 pi^2 f(0)) = 3 sum a_i b_i / (2 pi^2 sum a_i)``,
    so Eq. 21 needs no numerical integration.
    """
    text = resources.files("tfstem.synth").joinpath("data/lobato2014.json").read_text()
    elements = json.loads(text)["elements"]
    a = np.array([e["a"] for e in elements], float)
    b = np.array([e["b"] for e in elements], float)
    mass = np.array([e["mass"] for e in elements], float)
    rms = np.sqrt(3.0 * (a * b).sum(1) / (2.0 * math.pi**2 * a.sum(1)))
    return {"a": a, "b": b, "mass": mass, "rms_radius": rms, "symbols": [e["symbol"] for e in elements]}


def _rotation_to_z(direction: np.ndarray) -> np.ndarray:
    """Rotation matrix that maps ``direction`` onto +z."""
    d = direction / np.linalg.norm(direction)
    z = np.array([0.0, 0.0, 1.0])
    v = np.cross(d, z)
    s, c = np.linalg.norm(v), float(d @ z)
    if s < 1e-12:
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx * ((1 - c) / s**2)


def _axis_angle(axis, angle) -> np.ndarray:
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


def _random_rotation(rng) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def _orientation(rng, cfg: ImagingConfig, lattice=None) -> np.ndarray:
    """Zone-axis orientation (p = 0.75, N(0, 5 deg) mistilt) or a random one, then a random rotation about z."""
    if lattice is not None and rng.random() < cfg.zone_axis_probability:
        uvw = np.array(ZONE_AXES[int(rng.integers(len(ZONE_AXES)))], float)
        rot = _rotation_to_z(uvw @ lattice)
        tilt_axis = np.array([math.cos(t := rng.uniform(0, 2 * math.pi)), math.sin(t), 0.0])
        rot = _axis_angle(tilt_axis, math.radians(rng.normal(0.0, cfg.mistilt_std_deg))) @ rot
    else:
        rot = _random_rotation(rng)
    return _axis_angle([0, 0, 1], rng.uniform(0, 2 * math.pi)) @ rot


def _fill_box(lattice, frac, numbers, rotation, box, z_range):
    """Tile the rotated crystal over ``[0, lx] x [0, ly] x z_range``."""
    lx, ly, _ = box
    z0, z1 = z_range
    corners = np.array([[x, y, z] for x in (0, lx) for y in (0, ly) for z in (z0, z1)], float)
    centre = corners.mean(0)
    # crystal frame: p_cryst = R^T (p_lab - centre); fractional = p_cryst @ inv(L)
    inv = np.linalg.inv(lattice)
    fc = (corners - centre) @ rotation @ inv
    lo = np.floor(fc.min(0)) - 1
    hi = np.ceil(fc.max(0)) + 1
    cells = np.stack(np.meshgrid(*[np.arange(lo[i], hi[i]) for i in range(3)], indexing="ij"), -1).reshape(-1, 3)
    # The crystal-frame bounding box of a rotated thin slab is mostly empty: drop, before expanding the atoms, every
    # cell whose origin is farther from the box than the cell's longest diagonal (no atom of it can be inside).
    reach = np.linalg.norm(np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], float) @ lattice,
                           axis=1).max()
    to_lab = lattice @ rotation.T  # fractional -> lab frame (before the shift by ``centre``)
    origin = cells @ to_lab + centre
    near = ((origin[:, 0] >= -reach) & (origin[:, 0] < lx + reach) & (origin[:, 1] >= -reach)
            & (origin[:, 1] < ly + reach) & (origin[:, 2] >= z0 - reach) & (origin[:, 2] < z1 + reach))
    origin = origin[near]
    # cell origins plus the cell's atoms, both already in the lab frame: one broadcast add instead of two
    # [cells x atoms, 3] matrix products
    pos = (origin[:, None] + (frac @ to_lab)[None]).reshape(-1, 3)
    z = np.tile(numbers, len(origin))
    inside = ((pos[:, 0] >= 0) & (pos[:, 0] < lx) & (pos[:, 1] >= 0) & (pos[:, 1] < ly)
              & (pos[:, 2] >= z0) & (pos[:, 2] < z1))
    return pos[inside], z[inside]


def amorphous_atoms(rng, cfg: ImagingConfig, box, z_range, max_atoms: int, atomic_number=None):
    """Random close packing of one element (Eq.-free section "Specimen generation", amorphous).

    Candidates are drawn uniformly and thinned so that no two atoms are closer than ``d`` (drawn from
    ``cfg.min_distance_amorphous``), in rounds, until the density drawn from ``cfg.density_amorphous`` is reached
    or the packing jams (after 4 rounds).

    Returns
    -------
    positions : np.ndarray [K, 3], numbers : np.ndarray int [K]
    """
    table = element_table()
    z = int(atomic_number if atomic_number is not None else rng.integers(1, 104))
    d_min = rng.uniform(*cfg.min_distance_amorphous)
    density = rng.uniform(*cfg.density_amorphous)
    lx, ly, _ = box
    volume = lx * ly * (z_range[1] - z_range[0])
    target = int(min(max_atoms, density * AVOGADRO_PER_CM3_TO_A3 / table["mass"][z - 1] * volume))
    lo = np.array([0.0, 0.0, z_range[0]])
    span = np.array([lx, ly, z_range[1] - z_range[0]])
    pos = np.zeros((0, 3))
    for _ in range(4):
        need = target - len(pos)
        if need <= 0:
            break
        cand = lo + rng.random((int(need * 1.3) + 8, 3)) * span
        if len(pos):
            d, _ = cKDTree(pos).query(cand)
            cand = cand[d >= d_min]
        pairs = cKDTree(cand).query_pairs(d_min, output_type="ndarray")
        drop = np.zeros(len(cand), bool)
        drop[pairs[:, 1]] = True
        pos = np.concatenate([pos, cand[~drop][:need]])
    return pos, np.full(len(pos), z, np.int32)


def random_points(rng, box, pixel_size, count, min_distance_px=(1.0, 20.0), atomic_numbers=None):
    """Individual points in the box with a minimum distance drawn in ``min_distance_px`` pixel sizes.

    Returns
    -------
    positions : np.ndarray [K, 3], numbers : np.ndarray int [K]
    """
    d_min = rng.uniform(*min_distance_px) * pixel_size
    cand = rng.random((count, 3)) * np.asarray(box, float)
    pairs = cKDTree(cand).query_pairs(d_min, output_type="ndarray")
    drop = np.zeros(len(cand), bool)
    drop[pairs[:, 1]] = True
    cand = cand[~drop]
    if atomic_numbers is None:
        atomic_numbers = rng.choice(np.arange(1, 104), size=int(rng.integers(1, 4)), replace=False)
    return cand, rng.choice(np.asarray(atomic_numbers), size=len(cand)).astype(np.int32)


def _wedge(rng, cfg, pos, thickness):
    """Wedge on the top, bottom or both surfaces (p = 1/3 each), random in-plane direction, angle [5, 45] deg."""
    side = int(rng.integers(3))
    u = rng.uniform(0, 2 * math.pi)
    s = pos[:, 0] * math.cos(u) + pos[:, 1] * math.sin(u)
    s = s - rng.uniform(s.min(), s.max()) if len(s) else s
    slope = math.tan(math.radians(rng.uniform(*cfg.wedge_angle)))
    keep = np.ones(len(pos), bool)
    cut = np.maximum(s, 0.0) * slope
    if side in (0, 2):
        keep &= pos[:, 2] <= thickness - cut
    if side in (1, 2):
        keep &= pos[:, 2] >= cut
    return keep


def _shape(rng, cfg, pos, box):
    """Polygon rod, convex polyhedron or hard plane (p = 1/3 each); returns the mask of atoms inside."""
    kind = int(rng.integers(3))
    size = max(box)
    centre = rng.random(3) * np.asarray(box)
    if kind == 0:  # polygon rod along a random direction
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        radius = rng.uniform(*cfg.shape_radius) * size
        nv = int(rng.integers(cfg.polygon_vertices[0], cfg.polygon_vertices[1] + 1))
        rel = pos - centre
        perp = rel - (rel @ axis)[:, None] * axis
        e1 = np.cross(axis, [0.0, 0.0, 1.0] if abs(axis[2]) < 0.9 else [1.0, 0.0, 0.0])
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(axis, e1)
        phi = np.arctan2(perp @ e2, perp @ e1) + rng.uniform(0, 2 * math.pi)
        r = np.linalg.norm(perp, axis=1)
        sector = 2 * math.pi / nv
        edge = radius * math.cos(sector / 2) / np.cos(np.mod(phi, sector) - sector / 2)
        return r <= edge
    if kind == 1:  # convex polyhedron
        radius = rng.uniform(*cfg.shape_radius) * size
        nv = int(rng.integers(cfg.polyhedron_vertices[0], cfg.polyhedron_vertices[1] + 1))
        v = rng.normal(size=(nv, 3))
        v = centre + radius * v / np.linalg.norm(v, axis=1, keepdims=True)
        try:
            hull = ConvexHull(v)
        except Exception:  # degenerate vertex sets (coplanar): no shape
            return np.ones(len(pos), bool)
        # inside when on the inner side of every facet plane (n . p + d <= 0)
        return np.all(pos @ hull.equations[:, :3].T + hull.equations[:, 3] <= 0.0, axis=1)
    angle = rng.uniform(0, 2 * math.pi)  # hard plane parallel to z
    normal = np.array([math.cos(angle), math.sin(angle), 0.0])
    return (pos - centre) @ normal <= 0.0


def _defects(rng, cfg, pos, numbers):
    """Defects (section "Specimen generation"): select ``n_sel`` atoms, uniform in [0, round(0.25 K)], and move them
    with probability 0.5 by N(0, atomic radius) per coordinate; otherwise keep them as they are
    (``cfg.defect_unmoved = "keep"``, the text) or remove them (``"remove"``, vacancies).

    Returns
    -------
    positions : np.ndarray, float64, [K', 3] (Angstrom); numbers : np.ndarray, int32, [K']
    """
    n_sel = int(rng.integers(0, int(round(cfg.defect_fraction * len(pos))) + 1))
    if n_sel == 0:
        return pos, numbers
    idx = rng.choice(len(pos), size=n_sel, replace=False)
    pos = pos.copy()
    if rng.random() < cfg.defect_move_probability:
        radius = element_table()["rms_radius"][numbers[idx] - 1]
        pos[idx] += rng.normal(size=(n_sel, 3)) * radius[:, None]
        return pos, numbers
    if cfg.defect_unmoved == "keep":
        return pos, numbers
    keep = np.ones(len(pos), bool)
    keep[idx] = False
    return pos[keep], numbers[keep]


def _support_atomic_numbers(cfg: ImagingConfig, specimen_numbers: np.ndarray) -> tuple:
    """Range (z_min, z_max) of the support film's Z: the specimen's [1, 103] for ``support_composition = "paper"``;
    for ``"light"``, ``cfg.support_atomic_number`` and (with ``support_lighter_than_specimen``) not above the
    lightest specimen Z."""
    if cfg.support_composition == "paper":
        return 1, 103
    z_max = int(cfg.support_atomic_number[1])
    if cfg.support_lighter_than_specimen and len(specimen_numbers):
        z_max = max(min(z_max, int(specimen_numbers.min())), int(cfg.support_atomic_number[0]))
    return min(int(cfg.support_atomic_number[0]), z_max), z_max


def _support_weight(rng, cfg: ImagingConfig, support_numbers, specimen_numbers) -> float:
    """Image weight of the support atoms: 1 for ``"paper"``; for ``"light"``, ``(mean support Z / mean specimen
    Z)^gamma`` (at most 1), gamma uniform in ``cfg.support_z_exponent``."""
    if cfg.support_composition == "paper":
        return 1.0
    # Quasi-incoherent intensity grows like Z^gamma, gamma in [1, 2] (the physics behind Eq. 22, paper ref. 71).
    gamma = rng.uniform(*cfg.support_z_exponent)
    if len(support_numbers) and len(specimen_numbers):
        return float(min(1.0, (support_numbers.mean() / specimen_numbers.mean()) ** gamma))
    return 1.0


def sample_specimen(rng: np.random.Generator, cfg: ImagingConfig, shape_px, pixel_size=None, margin_px: int = 0):
    """One random specimen covering the extended simulation box (section "Specimen generation", 3 steps).

    Parameters
    ----------
    rng : np.random.Generator
    cfg : ImagingConfig
    shape_px : tuple(int, int)
        Required image size (n_y, n_x) in pixels.
    pixel_size : float, optional
        Angstrom per pixel; drawn from ``cfg.pixel_size`` when omitted.
    margin_px : int
        Extra pixels on every side (the paper's extended box for scan distortions).

    Returns
    -------
    Specimen

    Notes
    -----
    The support layer (p = 0.95, 1-30 nm, crystalline or amorphous) is made as the paper says with
    ``cfg.support_composition = "paper"``; with ``"light"`` it is a light film: its Z lies in
    ``cfg.support_atomic_number`` and not above the lightest specimen Z, and its atoms are rendered with the weight
    ``(mean support Z / mean specimen Z)^gamma``, gamma uniform in ``cfg.support_z_exponent`` (the Z^gamma law behind
    Eq. 22). The paper gives neither; with the paper's support the per-atom intensities of Eq. 17 are nearly
    independent of Z, and a 1-30 nm film (up to ~30 atoms per square Angstrom) buries the specimen's columns in
    speckle (docs/synth.md, "Support film").
    The atom cap ``cfg.max_atoms`` (None: no cap, the paper) is shared between specimen and support in proportion to
    their drawn thicknesses.
    """
    dr = float(pixel_size) if pixel_size is not None else float(rng.uniform(*cfg.pixel_size))
    ny, nx = shape_px
    lx, ly = (nx + 2 * margin_px) * dr, (ny + 2 * margin_px) * dr
    thickness = float(rng.uniform(*cfg.thickness))
    box = (lx, ly, thickness)
    kind = rng.choice(["crystalline", "amorphous", "points"], p=list(cfg.specimen_probabilities))
    with_support = bool(rng.random() < cfg.support_probability)
    support_t = float(rng.uniform(*cfg.support_thickness)) if with_support else 0.0
    # The atom cap is shared by specimen and support in proportion to their drawn thicknesses. Giving the support
    # "what the specimen left" made every wedge/shape cut hand its atoms to the support, whose speckle then buried
    # the specimen's columns.
    cap = math.inf if cfg.max_atoms is None else float(cfg.max_atoms)
    budget = cap * thickness / (thickness + support_t)
    if math.isfinite(budget):
        budget = int(budget)
    if kind == "crystalline":
        lattice, frac, numbers, _ = crystal_unit_cell(rng, cfg)
        cell_density = len(frac) / abs(np.linalg.det(lattice))
        thickness = float(min(thickness, max(budget / (cell_density * lx * ly), 1.0)))
        box = (lx, ly, thickness)
        rot = _orientation(rng, cfg, lattice)
        pos, z = _fill_box(lattice, frac, numbers, rot, box, (0.0, thickness))
    elif kind == "amorphous":
        pos, z = amorphous_atoms(rng, cfg, box, (0.0, thickness), budget)
    else:
        count = int(rng.integers(20, 2000))
        pos, z = random_points(rng, box, dr, count, cfg.min_distance_points)
    if len(pos) and rng.random() < cfg.wedge_probability:
        keep = _wedge(rng, cfg, pos, thickness)
        pos, z = pos[keep], z[keep]
    if len(pos) and rng.random() < cfg.shape_probability:
        inside = _shape(rng, cfg, pos, box)
        keep = inside if rng.random() < cfg.shape_keep_probability else ~inside
        pos, z = pos[keep], z[keep]
    if len(pos) and rng.random() < cfg.defect_probability:
        pos, z = _defects(rng, cfg, pos, z)
    n_specimen = len(z)
    support_weight = 1.0
    if with_support:
        remaining = cap - budget if math.isfinite(cap) else math.inf
        z_range = (thickness, thickness + support_t)
        z_min, z_max = _support_atomic_numbers(cfg, z)
        if rng.random() < 0.5:
            lattice, frac, numbers, _ = crystal_unit_cell(rng, cfg, max_atomic_number=z_max, min_atomic_number=z_min)
            cell_density = len(frac) / abs(np.linalg.det(lattice))
            support_t = float(min(support_t, max(remaining / (cell_density * lx * ly), 1.0)))
            spos, sz = _fill_box(lattice, frac, numbers, _orientation(rng, cfg, lattice), (lx, ly, support_t),
                                 (thickness, thickness + support_t))
        else:
            spos, sz = amorphous_atoms(rng, cfg, (lx, ly, support_t), z_range, remaining,
                                       atomic_number=int(rng.integers(z_min, z_max + 1)))
        support_weight = _support_weight(rng, cfg, sz, z)
        pos = np.concatenate([pos, spos]) if len(spos) else pos
        z = np.concatenate([z, sz]) if len(spos) else z
        box = (lx, ly, thickness + support_t)
    support = np.arange(len(z)) >= n_specimen
    return Specimen(positions=np.asarray(pos, float).reshape(-1, 3), atomic_numbers=np.asarray(z, np.int32),
                    box=box, pixel_size=dr, kind=str(kind), support=support, support_weight=support_weight)
