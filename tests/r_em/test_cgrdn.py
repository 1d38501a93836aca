"""CGRDN builder: published parameter count, layer structure, any-size I/O, .keras round trip."""

import numpy as np
import pytest

from tfstem.r_em.cgrdn import build_cgrdn

TINY = dict(features=8, growth=4, layers_per_rdb=2, rdbs_per_grdb=2, grdbs=2)


def test_default_configuration_has_the_published_parameter_count():
    assert build_cgrdn().count_params() == 7_035_521


def test_default_layer_structure_matches_the_authors_graph():
    model = build_cgrdn()
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Conv2D") == 152
    assert kinds.count("Conv2DTranspose") == 1
    assert kinds.count("Concatenate") == 133
    assert kinds.count("Add") == 22
    down = model.get_layer("down_conv")
    assert down.kernel_size == (4, 4) and down.strides == (2, 2)
    dense = model.get_layer("g_1_rdb_1_cpl_1_conv")
    assert dense.kernel_size == (3, 3) and dense.filters == 32 and dense.activation.__name__ == "relu"
    assert model.get_layer("g_1_rdb_1_fusion_conv").kernel_size == (1, 1)
    up = model.get_layer("up_deconv")
    assert up.kernel_size == (4, 4) and up.strides == (2, 2)
    assert model.get_layer("last_conv").filters == 1


@pytest.mark.parametrize("shape", [(2, 32, 32, 1), (1, 33, 47, 1), (1, 5, 4, 1)])
def test_output_has_the_input_shape_for_any_size(shape):
    model = build_cgrdn(**TINY)
    x = np.random.default_rng(0).normal(100.0, 10.0, shape).astype("float32")
    assert model(x).shape == shape


def test_zero_weights_reproduce_the_input_through_the_standardisation():
    # with every kernel zero, the network is the global residual: y = x_n * scale + mean = x
    model = build_cgrdn(**TINY)
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    x = np.random.default_rng(1).uniform(0, 1000, (2, 32, 32, 1)).astype("float32")
    np.testing.assert_allclose(np.asarray(model(x)), x, rtol=1e-5, atol=1e-2)


def test_std_floor_is_absolute():
    model = build_cgrdn(**TINY)
    layer = model.get_layer("r_em_pp")
    flat = np.full((1, 8, 8, 1), 3.0, "float32")
    flat[0, 0, 0, 0] = 3.001
    _, _, scale = layer(flat)
    assert float(np.asarray(scale).ravel()[0]) == pytest.approx(0.1)


def test_keras_round_trip(tmp_path):
    import keras

    model = build_cgrdn(**TINY, channels=2)
    x = np.random.default_rng(2).normal(size=(1, 16, 18, 2)).astype("float32")
    path = tmp_path / "cgrdn.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(model(x)), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("bad", [dict(features=0), dict(growth=2.5), dict(grdbs=-1)])
def test_bad_configuration_raises_a_clear_error(bad):
    with pytest.raises(ValueError, match="positive integer"):
        build_cgrdn(**bad)


def test_models_config_documents_the_builder_defaults():
    import inspect
    import json
    from pathlib import Path

    config = json.loads((Path(__file__).parents[2] / "models" / "r_em.json").read_text())
    defaults = {k: p.default for k, p in inspect.signature(build_cgrdn).parameters.items() if k != "name"}
    assert {k: config["options"][k]["value"] for k in defaults} == defaults
    assert config["parameters"] == build_cgrdn(**defaults).count_params()
