"""tfstem.restore on dask arrays (tfstem.lazy): lazy, same chunks, equal to the in-memory restore."""

import numpy as np
import pytest

da = pytest.importorskip("dask.array")

import tfstem  # noqa: E402
from tfstem import lazy  # noqa: E402
from tfstem.metrics import psnr  # noqa: E402
from tfstem.r_em.cgrdn import build_cgrdn  # noqa: E402


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    build_cgrdn(features=8, growth=4, layers_per_rdb=2, rdbs_per_grdb=1, grdbs=1).save(path)
    return str(path)


@pytest.fixture(scope="module")
def stack():
    rng = np.random.default_rng(19)
    return (rng.poisson(40.0, (5, 70, 76)) + 1000).astype(np.uint16)


def _relative_error(result, expected):
    return float(np.abs(result - expected).max() / (expected.max() - expected.min()))


@pytest.mark.parametrize("chunks, tile_size", [
    ((2, 70, 76), None),   # whole frames: the in-memory restore per chunk
    ((3, 30, 40), None),   # frames restored whole but split: rechunked to whole frames and back
    ((2, 30, 40), 32),     # split tiled frames: global tile grid, whole-frame statistics
    ((5, 17, 76), 48),     # chunks thinner than the tile overlap's halo
])
def test_equals_the_in_memory_restore(stack, tiny_path, chunks, tile_size):
    expected = tfstem.restore(stack, model=tiny_path, tile_size=tile_size, tile_overlap=8 if tile_size else None,
                              verbose=False)
    source = da.from_array(stack, chunks=chunks)
    result = tfstem.restore(source, model=tiny_path, tile_size=tile_size, tile_overlap=8 if tile_size else None)
    assert isinstance(result, da.Array) and result.chunks == source.chunks and result.dtype == np.float32
    assert _relative_error(result.compute(), expected) < 1e-5


@pytest.mark.parametrize("shape, chunks", [((70, 76), (35, 40)), ((70, 76, 1), (40, 30, 1)), ((4, 70, 76, 1), (1, 70, 40, 1))])
def test_every_shape_comes_back_with_its_chunks(stack, tiny_path, shape, chunks):
    image = stack[: shape[0]] if len(shape) == 4 else stack[0]
    image = image.reshape(shape)
    expected = tfstem.restore(image, model=tiny_path, tile_size=32, verbose=False)
    result = tfstem.restore(da.from_array(image, chunks=chunks), model=tiny_path, tile_size=32)
    assert result.shape == shape and result.chunks == da.from_array(image, chunks=chunks).chunks
    assert _relative_error(result.compute(), expected) < 1e-5


def test_chunk_borders_pass_the_tile_seam_check(tiny_path):
    # a smooth image with detail: the seam check of tests/test_restore.py, across chunk borders
    yy, xx = np.mgrid[:160, :150]
    image = (np.sin(yy / 7.0) * np.cos(xx / 5.0) * 50 + 200).astype(np.float32)
    whole = tfstem.restore(image, model=tiny_path, tile_size=1000, verbose=False)
    chunked = tfstem.restore(da.from_array(image, chunks=(50, 45)), model=tiny_path, tile_size=64,
                             tile_overlap=16).compute()
    assert psnr(whole, chunked, data_range=float(whole.max() - whole.min())) >= 45


def test_a_model_that_does_not_standardise_gets_raw_intensities(stack):
    import keras

    inputs = keras.Input((None, None, 1), name="image")
    box = keras.Model(inputs, keras.layers.AveragePooling2D(3, strides=1, padding="same")(inputs))
    expected = tfstem.restore(stack.astype(np.float32), model=box, tile_size=32, verbose=False)
    result = tfstem.restore(da.from_array(stack.astype(np.float32), chunks=(2, 35, 38)), model=box, tile_size=32)
    assert _relative_error(result.compute(), expected) < 1e-5


def test_a_keras_model_travels_as_a_file_and_is_reused_in_this_process(tiny_path):
    import keras

    model = keras.saving.load_model(tiny_path)
    reference = lazy.model_reference(model)
    assert isinstance(reference, str) and reference.endswith(".keras")
    assert lazy.model_reference(model) == reference  # saved once
    assert lazy.cached_model(reference) is model
    assert lazy.model_reference(tiny_path) == tiny_path  # a path stays a path, made absolute


def test_the_graph_carries_a_reference_not_the_network(stack, tiny_path):
    import cloudpickle

    result = tfstem.restore(da.from_array(stack, chunks=(1, 70, 76)), model=tiny_path)
    graph = dict(result.__dask_graph__())
    restore_tasks = [v for k, v in graph.items() if "tfstem-restore" in str(k)]
    assert len(restore_tasks) == 5
    assert all(len(cloudpickle.dumps(task)) < 5_000 for task in restore_tasks)


def test_bad_input_is_refused_before_any_work_or_named_when_computed(stack, tiny_path):
    with pytest.raises(ValueError, match="complex"):
        tfstem.restore(da.zeros((4, 8, 8), dtype=complex), model=tiny_path)
    with pytest.raises(ValueError, match="received 1-D"):
        tfstem.restore(da.zeros(40), model=tiny_path)
    with pytest.raises(ValueError, match="tile_overlap"):
        tfstem.restore(da.from_array(stack), model=tiny_path, tile_size=32, tile_overlap=30)
    with pytest.raises(ValueError, match="channel"):
        tfstem.restore(da.zeros((2, 32, 32, 2)), model=tiny_path)
    bad = stack.astype(np.float32)
    bad[3, 5, 5] = np.nan
    for chunks, tile_size in (((2, 70, 76), None), ((2, 35, 38), 32)):
        result = tfstem.restore(da.from_array(bad, chunks=chunks), model=tiny_path, tile_size=tile_size)
        with pytest.raises(ValueError, match="frames 2 to 3.*NaN"):
            result.compute()


@pytest.mark.slow
@pytest.mark.distributed
def test_a_local_cluster_of_two_processes_gives_the_same_output(stack, tiny_path):
    distributed = pytest.importorskip("distributed")
    expected = tfstem.restore(da.from_array(stack, chunks=(1, 35, 38)), model=tiny_path, tile_size=32).compute()
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        result = tfstem.restore(da.from_array(stack, chunks=(1, 35, 38)), model=tiny_path, tile_size=32)
        np.testing.assert_allclose(client.compute(result).result(), expected, rtol=0, atol=1e-5 * np.ptp(expected))
        # each worker process loaded the model once, by its path
        cached = client.run(lambda: sorted(k for k in __import__("tfstem.lazy").lazy._MODELS if isinstance(k, str)))
        assert len(cached) == 2 and all(keys == [tiny_path] for keys in cached.values())
