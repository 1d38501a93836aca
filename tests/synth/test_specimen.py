"""Specimen sampling (spglib symmetry, constraints) and image formation (Eq. 16-26)."""

import math

import numpy as np
import pytest
import tensorflow as tf
from scipy.spatial import cKDTree

from tfstem.synth import crystal, imaging, specimen
from tfstem.synth.configs import ImagingConfig


def test_element_table_and_profile_radius():
    table = specimen.element_table()
    assert table["a"].shape == (103, 5) and table["mass"].shape == (103,)
    assert table["symbols"][78] == "Au" and table["mass"][78] == pytest.approx(196.97, abs=0.01)
    assert np.all((table["rms_radius"] > 0.3) & (table["rms_radius"] < 2.0))  # Angstrom
    r = table["rms_radius"]
    for alpha in (0.75, 1.0, 1.25):
        rm = imaging.profile_radius(alpha)
        # Eq. 19-20 keep the mean and the spread of r_hat
        assert rm.mean() == pytest.approx(r.mean(), rel=1e-9) and rm.std() == pytest.approx(r.std(), rel=1e-9)
    assert np.allclose(imaging.profile_radius(1.0), r)


def test_crystal_respects_symmetry_and_minimum_distance():
    cfg = ImagingConfig()
    for i in range(5):
        rng = np.random.default_rng(i)
        lattice, frac, numbers, group = specimen.crystal_unit_cell(rng, cfg)
        assert 1 <= group <= 230 and len(frac) == len(numbers) >= 1
        assert crystal.periodic_min_distance(frac, lattice) >= cfg.min_distance_crystal[0]
        rotations, translations = crystal.symmetry_operations(group)
        # the atom set is closed under every symmetry operation
        moved = (frac @ rotations[-1].T + translations[-1]) % 1.0
        d = np.abs(((moved[:, None] - frac[None]) + 0.5) % 1.0 - 0.5) @ np.abs(lattice)
        assert np.all(np.linalg.norm(d, axis=2).min(axis=1) < 0.35)


def test_amorphous_density_and_minimum_distance():
    cfg = ImagingConfig(density_amorphous=(3.0, 3.0), min_distance_amorphous=(1.2, 1.2))
    rng = np.random.default_rng(1)
    pos, z = specimen.amorphous_atoms(rng, cfg, (30.0, 30.0, 30.0), (0.0, 30.0), 10**6, atomic_number=14)
    d, _ = cKDTree(pos).query(pos, k=2)
    assert d[:, 1].min() >= 1.2
    density = len(pos) * specimen.element_table()["mass"][13] / specimen.AVOGADRO_PER_CM3_TO_A3 / 30.0**3
    assert density == pytest.approx(3.0, rel=0.02)


@pytest.mark.parametrize("seed", range(4))
def test_sample_specimen_fills_the_extended_box(seed):
    rng = np.random.default_rng(seed)
    s = specimen.sample_specimen(rng, ImagingConfig(), (64, 64), margin_px=8)
    lx, ly, _ = s.box
    assert lx == pytest.approx(80 * s.pixel_size) and 0.025 <= s.pixel_size <= 0.9
    assert len(s.positions) > 0 and len(s.positions) <= 2 * ImagingConfig().max_atoms
    assert s.positions[:, 0].min() >= -5 and s.positions[:, 0].max() <= lx + 5
    assert np.all((s.atomic_numbers >= 1) & (s.atomic_numbers <= 103))


def test_profile_ordering_follows_atomic_number():
    rng = np.random.default_rng(3)
    numbers = np.array([1, 6, 14, 29, 47, 79, 92])
    for _ in range(10):
        p = imaging.sample_profiles(rng, numbers, 0.1, ImagingConfig())
        total = imaging.integrated_intensity(p[:, 0], p[:, 1], p[:, 2], p[:, 3], p[:, 4])
        assert np.all(np.diff(total) > 0)  # Eq. 22


def test_render_single_atom_matches_eq17():
    rm, h1, h2, h3, n = 3.0, 0.7, 0.6, 0.9, 6.0
    img = imaging.render_atoms([[20.0, 30.0]], [0], [[rm, h1, h2, h3, n]], 64, 64).numpy()
    assert np.unravel_index(img.argmax(), img.shape) == (20, 30)
    r = 5.0
    expected = h1 * math.exp(-r**2 / (2 * rm**2)) + h2 * math.exp(-r / rm) + h3 / (1 + (r / rm) ** (2 * n))
    assert img[25, 30] == pytest.approx(expected, rel=1e-4)
    # the lattice sum equals the analytic integral (tails are periodic)
    assert img.sum() == pytest.approx(imaging.integrated_intensity(rm, h1, h2, h3, n), rel=0.02)


def test_finish_image_normalises_and_constrains_std_over_mean():
    y = tf.random.stateless_uniform([32, 32], [1, 2])
    rng = np.random.default_rng(0)
    for _ in range(5):
        out = imaging.finish_image(y, imaging.sample_finish(rng, ImagingConfig())).numpy()
        assert out.max() == pytest.approx(1.0, abs=1e-6)
        assert out.std() / out.mean() <= 0.35 + 1e-3


def test_low_resolution_objects():
    cfg = ImagingConfig(resolution="low", low_resolution_object_probability=1.0)
    table = imaging.sample_low_resolution(np.random.default_rng(0), cfg, 48, 48)
    kinds = set(table[table[:, 1] > 0.5, 0].astype(int))
    assert kinds == set(range(6))
    img = imaging.render_low_resolution(table, 48, 48, cfg).numpy()
    assert img.shape == (48, 48) and np.all(np.isfinite(img)) and img.min() >= 0 and img.std() > 0


@pytest.mark.parametrize("seed", range(6))
def test_support_film_is_light_and_dimmer_than_the_specimen(seed):
    cfg = ImagingConfig(support_probability=1.0, specimen_probabilities=(1.0, 0.0, 0.0))
    s = specimen.sample_specimen(np.random.default_rng(seed), cfg, (48, 48))
    assert s.support.shape == s.atomic_numbers.shape and s.support.any() and (~s.support).any()
    z_sup, z_spec = s.atomic_numbers[s.support], s.atomic_numbers[~s.support]
    assert z_sup.max() <= min(cfg.support_atomic_number[1], z_spec.min())  # Eq. 22 across layers
    ratio = min(1.0, z_sup.mean() / z_spec.mean())
    assert ratio**2 - 1e-12 <= s.support_weight <= ratio + 1e-12  # (Z ratio)^gamma, gamma in [1, 2]
    # the support atoms render with their own profile rows, scaled by the weight
    pos, index, profiles = imaging.specimen_arrays(np.random.default_rng(0), s, cfg, 48, 48)
    sup_rows, spec_rows = np.unique(index[s.support]), np.unique(index[~s.support])
    assert not set(sup_rows) & set(spec_rows)
    if s.support_weight < 1.0:
        species = np.unique(s.atomic_numbers)
        for row in sup_rows:
            z = s.atomic_numbers[s.support][index[s.support] == row][0]
            base = profiles[np.searchsorted(species, z)]
            np.testing.assert_allclose(profiles[row, 1:4], base[1:4] * s.support_weight, rtol=1e-6)
            assert profiles[row, 0] == base[0] and profiles[row, 4] == base[4]


def test_finish_normalises_tiny_and_empty_images():
    params = np.array([0, 0, 1, 1, 0.2, 0.5, 0.5, 0.5, 0.3, 0.2], np.float32)
    tiny = imaging.finish_image(tf.fill([16, 16], 1e-20) + tf.eye(16) * 1e-18, params).numpy()
    assert tiny.max() == pytest.approx(1.0, abs=1e-6) and np.all(np.isfinite(tiny))  # Eq. 26
    empty = imaging.finish_image(tf.zeros([16, 16]), params).numpy()
    assert np.all(empty == 1.0)


def test_low_resolution_table_never_holds_only_cracks():
    cfg = ImagingConfig(resolution="low", low_resolution_object_probability=0.05)
    for seed in range(40):
        table = imaging.sample_low_resolution(np.random.default_rng(seed), cfg, 32, 32)
        kinds = set(table[table[:, 1] > 0.5, 0].astype(int))
        assert kinds - {imaging.LOW_RES_KINDS.index("cracks")}
        assert imaging.render_low_resolution(table, 32, 32, cfg).numpy().max() > 0


def test_sharp_particles_are_half_ellipses_and_polygons_of_3_to_5_vertices():
    """Paper: "polygonal or elliptical with equal probabilities", polygons of [3, 5] vertices. The old draw
    (integers(3, 7), 3 read as an ellipse) gave 25 % ellipses, polygons of 4-6 vertices and no triangle."""
    cfg = ImagingConfig(resolution="low", low_resolution_object_probability=1.0)
    start, end = imaging._low_res_slots(cfg)["sharp"]
    codes = []
    for seed in range(300):
        table = imaging.sample_low_resolution(np.random.default_rng(seed), cfg, 64, 64)
        sharp = table[start:end]
        codes.append(sharp[sharp[:, 1] > 0.5, 8])
    codes = np.concatenate(codes)
    n = codes.size
    assert n > 5000 and set(np.unique(codes)) == {0.0, 3.0, 4.0, 5.0}
    ellipses = (codes == 0).mean()
    assert abs(ellipses - 0.5) < 5 * math.sqrt(0.25 / n)
    polygons = codes[codes > 0]
    for vertices in (3, 4, 5):
        share = (polygons == vertices).mean()
        assert abs(share - 1 / 3) < 5 * math.sqrt((2 / 9) / polygons.size)


@pytest.mark.parametrize("code, area", [(0.0, math.pi * 12.0 * 6.0), (3.0, 3 * math.sqrt(3) / 4 * 144.0),
                                        (5.0, 2.5 * 144.0 * math.sin(2 * math.pi / 5))])
def test_sharp_particle_shapes_render_with_their_area(code, area):
    """One flat sharp particle of circumradius 12 px: an ellipse of semi-axes 12 and 6 px (aspect 0.5), a regular
    triangle or a regular pentagon; the pixel count matches the area."""
    cfg = ImagingConfig(resolution="low")
    table = np.zeros((imaging.low_resolution_table_rows(cfg), 12), np.float32)
    table[:, 4:6] = 1.0
    row = imaging._low_res_slots(cfg)["sharp"][0]
    table[row] = [1, 1.0, 32.0, 32.0, 12.0, 0.5, 0.3, 1.0, code, 0.0, 0.0, 0.0]
    img = imaging.render_low_resolution(table, 64, 64, cfg).numpy()
    assert (img > 0.5).sum() == pytest.approx(area, rel=0.06)


def _bare_crystal_config(**changes):
    """Crystals only, no wedge, shape, defect or support: what is left is the box fill and the options tested."""
    base = dict(specimen_probabilities=(1.0, 0.0, 0.0), wedge_probability=0.0, shape_probability=0.0,
                defect_probability=0.0, support_probability=0.0)
    return ImagingConfig(**{**base, **changes})


def test_defects_keep_unmoved_atoms_in_the_paper_setting_and_remove_them_on_request():
    rng = np.random.default_rng(0)
    pos = rng.random((400, 3)) * 20.0
    numbers = np.full(400, 29, np.int32)
    keep_cfg = _bare_crystal_config(defect_move_probability=0.0, defect_unmoved="keep")
    remove_cfg = _bare_crystal_config(defect_move_probability=0.0, defect_unmoved="remove")
    removed = []
    for seed in range(20):
        p, z = specimen._defects(np.random.default_rng(seed), keep_cfg, pos, numbers)
        assert np.array_equal(p, pos) and np.array_equal(z, numbers)  # selected, not moved: unchanged
        p, z = specimen._defects(np.random.default_rng(seed), remove_cfg, pos, numbers)
        removed.append(400 - len(p))
    assert 0 <= min(removed) and max(removed) <= 100 and np.mean(removed) > 20  # n_sel in [0, 0.25 K]
    moved = specimen._defects(np.random.default_rng(3), _bare_crystal_config(defect_move_probability=1.0), pos,
                              numbers)[0]
    assert len(moved) == 400 and 0 < (np.abs(moved - pos).sum(axis=1) > 0).sum() <= 100
    with pytest.raises(ValueError, match="defect_unmoved must be"):
        ImagingConfig(defect_unmoved="vacancy")


def test_atom_cap_cuts_thickness_and_the_paper_setting_has_none():
    """At 0.9 Angstrom per pixel the 30,000-atom cap cuts the drawn thickness; without the cap (the paper) it is
    kept."""
    thickness = (100.0, 100.0)
    capped = specimen.sample_specimen(np.random.default_rng(1), _bare_crystal_config(thickness=thickness), (96, 96),
                                      pixel_size=0.9)
    free = specimen.sample_specimen(np.random.default_rng(1), _bare_crystal_config(thickness=thickness,
                                                                                   max_atoms=None), (96, 96),
                                    pixel_size=0.9)
    assert len(capped.positions) <= 30000 and capped.box[2] < 99.0
    assert free.box[2] == pytest.approx(100.0) and len(free.positions) > 30000
    with pytest.raises(ValueError, match="max_atoms must be"):
        ImagingConfig(max_atoms=0)


def test_paper_support_is_made_like_the_specimen():
    """support_composition="paper": Z from [1, 103] like the specimen's and the support rendered at full weight."""
    cfg = ImagingConfig(support_probability=1.0, specimen_probabilities=(1.0, 0.0, 0.0), support_composition="paper")
    heavier, weights = 0, []
    for seed in range(8):
        s = specimen.sample_specimen(np.random.default_rng(seed), cfg, (48, 48))
        z_sup, z_spec = s.atomic_numbers[s.support], s.atomic_numbers[~s.support]
        weights.append(s.support_weight)
        heavier += int(z_sup.max() > min(14, z_spec.min()))
    assert weights == [1.0] * 8
    assert heavier >= 4  # the light film never has a support Z above 14 or above the lightest specimen Z
    with pytest.raises(ValueError, match="support_composition must be"):
        ImagingConfig(support_composition="carbon")
