"""Clean domain C: Gaussian peaks on a 256x256 lattice, centre crop 128x128, seeded."""

import numpy as np
import pytest
import tensorflow as tf

from tfstem.noise2atom.clean_domain import clean_domain_dataset, simulate_atom_image


def test_single_image_properties_and_determinism():
    a = simulate_atom_image(tf.constant([0, 1])).numpy()
    b = simulate_atom_image(tf.constant([0, 1])).numpy()
    c = simulate_atom_image(tf.constant([0, 2])).numpy()
    assert a.shape == (128, 128, 1) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.min() >= 0 and a.max() >= 1 - 1e-5  # at least one peak of >= 1 atom in the crop (seeded)


def test_peak_height_is_the_atom_count_and_volume_the_gaussian():
    # one site with 2 atoms; the 32 px crop of a 64 px canvas holds the whole 32 px interior
    img = simulate_atom_image(tf.constant([0, 3]), min_sites=1, max_sites=1, min_atoms=2, max_atoms=2,
                              min_variance=4.0, max_variance=4.0, canvas_size=64, patch_size=32).numpy()[..., 0]
    assert img.max() == pytest.approx(2.0, rel=1e-5)  # kernel peak 1 per atom
    volume = 2 * 2 * np.pi * 4.0  # 2 atoms x integral of exp(-d^2 / 2v)
    assert 0.24 * volume < img.sum() <= volume * 1.001  # at worst a corner site keeps a quarter
    r, c = np.unravel_index(img.argmax(), img.shape)
    if 3 <= r < 29 and 3 <= c < 29:  # away from the crop edge: the profile is Gaussian with variance 4
        assert img[r, c + 2] == pytest.approx(2.0 * np.exp(-4 / 8.0), rel=1e-4)


def test_site_count_and_integer_variance_reading():
    img = simulate_atom_image(tf.constant([4, 4]), min_sites=75, max_sites=150, site_pitch=8,
                              integer_variance=True, patch_size=224).numpy()[..., 0]
    # 224 crop of the 256 canvas holds every site; total intensity = sum(atoms) * 2 pi v; 75..150 sites x 1..4
    total = img.sum()
    assert 75 * 1 * 2 * np.pi * 1 * 0.9 < total < 150 * 4 * 2 * np.pi * 10 * 1.01


def test_dataset_range_and_shape():
    batch = next(iter(clean_domain_dataset(batch_size=2, seed=0, scale=4.0, patch_size=64)))
    assert batch.shape == (2, 64, 64, 1)
    assert float(tf.reduce_min(batch)) == pytest.approx(-1.0) and float(tf.reduce_max(batch)) <= 1.0
    with pytest.raises(ValueError, match="min_atoms"):
        clean_domain_dataset(min_atoms=3, max_atoms=2, scale=1.0)
