"""Random crystals for the specimens of the r_em paper (Lobato et al. 2023, section "Specimen generation").

A space group in [1, 230] (its operations from spglib's database, Hall settings, not hand-written tables), a
lattice obeying its crystal system, and sites expanded by the group's operations under a minimum-distance
constraint with periodic images (:func:`crystal_unit_cell`). :mod:`tfstem.synth.specimen` orients the crystal,
fills the simulation box with it and cuts the specimen's shape. Lengths are in Angstrom.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.spatial import cKDTree

from tfstem.synth.configs import ImagingConfig

__all__ = ["crystal_unit_cell", "symmetry_operations", "periodic_min_distance"]


@functools.lru_cache(maxsize=1)
def _hall_numbers() -> dict:
    import spglib  # noqa: PLC0415 - optional heavy import kept local

    first = {}
    for hall in range(1, 531):
        first.setdefault(spglib.get_spacegroup_type(hall).number, hall)
    return first


@functools.lru_cache(maxsize=256)
def symmetry_operations(space_group: int):
    import spglib  # noqa: PLC0415

    ops = spglib.get_symmetry_from_database(_hall_numbers()[space_group])
    return np.asarray(ops["rotations"], float), np.asarray(ops["translations"], float)


def _lattice(rng, space_group: int, cfg: ImagingConfig) -> np.ndarray:
    """Random lattice vectors (rows, Angstrom) obeying the crystal system of ``space_group``."""
    a, b, c = rng.uniform(*cfg.lattice_parameter, size=3)
    al, be, ga = np.radians(rng.uniform(*cfg.lattice_angle, size=3))
    right = math.pi / 2
    if space_group <= 2:  # triclinic
        pass
    elif space_group <= 15:  # monoclinic, unique axis b
        al = ga = right
    elif space_group <= 74:  # orthorhombic
        al = be = ga = right
    elif space_group <= 142:  # tetragonal
        b, al, be, ga = a, right, right, right
    elif space_group <= 194:  # trigonal (hexagonal axes) and hexagonal
        b, al, be, ga = a, right, right, 2 * math.pi / 3
    else:  # cubic
        b = c = a
        al = be = ga = right
    # a along x, b in the xy plane
    ax = np.array([a, 0.0, 0.0])
    bx = np.array([b * math.cos(ga), b * math.sin(ga), 0.0])
    cx = c * math.cos(be)
    cy = c * (math.cos(al) - math.cos(be) * math.cos(ga)) / math.sin(ga)
    cz2 = c * c - cx * cx - cy * cy
    if cz2 <= 0.1:  # impossible angle triple for a triclinic cell: fall back to orthogonal c
        cx, cy, cz2 = 0.0, 0.0, c * c
    return np.array([ax, bx, [cx, cy, math.sqrt(cz2)]])


_PERIODIC_SHIFTS = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)], float)


def _periodic_images(frac: np.ndarray, lattice: np.ndarray) -> np.ndarray:
    """Cartesian positions [27 M, 3] (Angstrom) of the sites ``frac`` [M, 3] in their cell and the 26 around it."""
    return (frac[None] + _PERIODIC_SHIFTS[:, None]).reshape(-1, 3) @ lattice


def periodic_min_distance(frac: np.ndarray, lattice: np.ndarray) -> float:
    """Smallest distance between atoms of a unit cell including periodic images (Angstrom)."""
    if len(frac) == 0:
        return np.inf
    d, _ = cKDTree(_periodic_images(frac, lattice)).query(frac @ lattice, k=2)
    return float(d[:, 1].min())


def _min_distance_to_new_sites(frac: np.ndarray, orbit: np.ndarray, lattice: np.ndarray) -> float:
    """Smallest distance (Angstrom, periodic images within one cell) that adding ``orbit`` [m, 3] to the accepted
    sites ``frac`` [M, 3] creates: new-new and new-accepted pairs only.

    Equal to ``periodic_min_distance(concat(frac, orbit))`` whenever the accepted sites already keep the target
    distance among themselves (the shift set is symmetric, so ``|a - (b + s)| = |b - (a - s)|``); it builds a tree
    over the images of the few new sites instead of the whole cell, once per trial site.
    """
    tree = cKDTree(_periodic_images(orbit, lattice))
    d_new, _ = tree.query(orbit @ lattice, k=2)
    nearest = float(d_new[:, 1].min())
    if len(frac):
        d_old, _ = tree.query(frac @ lattice, k=1)
        nearest = min(nearest, float(d_old.min()))
    return nearest


def crystal_unit_cell(rng, cfg: ImagingConfig, max_tries: int = 50, max_atomic_number: int = 103,
                      min_atomic_number: int = 1):
    """A random crystal: space group in [1, 230], lattice, asymmetric-unit sites and species.

    Sites are drawn one by one at random fractional positions, expanded with the space group's operations
    (duplicates closer than 0.3 Angstrom merge: the special positions), and accepted only if the minimum distance in
    the cell stays above a target drawn from ``cfg.min_distance_crystal``; the whole crystal is redrawn when not even
    one site fits (the paper's restart). Species are up to ``cfg.max_species`` distinct Z in
    ``[min_atomic_number, max_atomic_number]`` ([1, 103] for a specimen; a support layer passes a light range, see
    :func:`sample_specimen`).

    Returns
    -------
    lattice : np.ndarray [3, 3]
        Lattice vectors as rows (Angstrom).
    frac : np.ndarray [M, 3]
        Fractional coordinates of all atoms in the cell.
    numbers : np.ndarray int [M]
        Atomic numbers.
    space_group : int
    """
    for _ in range(max_tries):
        space_group = int(rng.integers(1, 231))
        rotations, translations = symmetry_operations(space_group)
        lattice = _lattice(rng, space_group, cfg)
        target = rng.uniform(*cfg.min_distance_crystal)
        choices = np.arange(min_atomic_number, max_atomic_number + 1)
        n_species = int(rng.integers(1, min(cfg.max_species, len(choices)) + 1))
        species = rng.choice(choices, size=n_species, replace=False)
        n_sites = int(rng.integers(1, 2 * n_species + 2))
        frac = np.zeros((0, 3))
        numbers = np.zeros(0, int)
        for _site in range(4 * n_sites):
            if len(numbers) and len(np.unique(numbers)) >= n_species and _site >= n_sites:
                break
            p = rng.random(3)
            orbit = (p @ rotations.transpose(0, 2, 1) + translations) % 1.0
            # merge symmetry copies that coincide (special positions)
            tree = cKDTree(orbit @ lattice)
            keep = np.ones(len(orbit), bool)
            for i, j in sorted(tree.query_pairs(0.3)):
                if keep[i]:
                    keep[j] = False
            orbit = orbit[keep]
            if _min_distance_to_new_sites(frac, orbit, lattice) >= target:
                frac = np.concatenate([frac, orbit])
                numbers = np.concatenate([numbers, np.full(len(orbit), species[len(np.unique(numbers)) % n_species])])
            if len(frac) > 4000:
                break
        if len(frac):
            return lattice, frac, numbers, space_group
    raise RuntimeError(f"no crystal satisfied the minimum-distance constraint in {max_tries} tries")
