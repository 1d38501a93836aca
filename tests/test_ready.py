"""tfstem.ready: ready-to-run (LiteRT) copies of models, and ``tfstem restore --runtime``."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert", reason="needs ai-edge-litert (a core dependency outside Windows)")

from tfstem import ready  # noqa: E402
from tfstem.r_em.cgrdn import build_cgrdn  # noqa: E402
from tfstem.restore import restore  # noqa: E402

TINY = dict(features=8, growth=4, layers_per_rdb=2, rdbs_per_grdb=1, grdbs=2)


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TFSTEM_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    """A tiny CGRDN (the default model's structure: padding, standardisation, dense blocks) as a .keras file."""
    import keras

    keras.utils.set_random_seed(3)
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    build_cgrdn(**TINY).save(path)
    return path


@pytest.fixture(scope="module")
def prepared(tiny_file, tmp_path_factory):
    """``(cache folder, ReadyModel)`` of the tiny model, made once for the module."""
    folder = tmp_path_factory.mktemp("cache")
    old = os.environ.get("TFSTEM_CACHE_DIR")
    os.environ["TFSTEM_CACHE_DIR"] = str(folder)
    try:
        yield folder, ready.prepare(tiny_file)
    finally:
        if old is None:
            del os.environ["TFSTEM_CACHE_DIR"]
        else:
            os.environ["TFSTEM_CACHE_DIR"] = old


def _noisy(shape, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: shape[-2], : shape[-1]]
    clean = 40 + 30 * np.sin(y / 3.0) * np.cos(x / 4.0)
    return rng.poisson(np.broadcast_to(clean, shape)).astype(np.uint16)


def test_the_copy_restores_like_tensorflow_at_any_size_and_scale(prepared, tiny_file):
    from tfstem.registry import load_model

    _, copy = prepared
    keras_model = load_model(tiny_file)
    assert copy.input_channels == 1 and copy.standardisation == ready.Standardisation(0.1, 1.0)
    assert copy.architecture == "residual_dense" and 0 <= copy.agreement <= ready.AGREEMENT
    for image in (_noisy((61, 75)), _noisy((3, 40, 33)).astype(np.float64) * 1e-4, _noisy((600, 530))):
        expected = restore(image, model=keras_model, verbose=False, precision="float32")
        got = restore(image, model=copy, verbose=False)
        assert got.shape == image.shape and got.dtype == np.float32
        span = float(expected.max() - expected.min())
        assert float(np.abs(got - expected).max()) <= ready.AGREEMENT * span


def test_the_copy_is_kept_with_its_record_and_reopened_without_tensorflow(prepared, tiny_file):
    folder, copy = prepared
    flatbuffer, sidecar = ready.ready_files(ready.source_key(tiny_file))
    assert flatbuffer == copy.path and flatbuffer.parent == folder / "ready" and flatbuffer.stat().st_size > 10_000
    record = json.loads(sidecar.read_text())
    assert record["key"] == ready.source_key(tiny_file) and record["agreement"] == copy.agreement
    assert not [p for p in flatbuffer.parent.iterdir() if p.name.startswith(".")]  # no temporary left behind
    code = (f"import sys, numpy as np\nfrom tfstem import ready, restore\n"
            f"copy = ready.load_ready({str(tiny_file)!r})\n"
            f"out = restore(np.ones((20, 24)) + np.eye(20, 24), model=copy, verbose=False)\n"
            f"print(type(copy).__name__, out.shape, 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "TFSTEM_CACHE_DIR": str(folder)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["ReadyModel", "(20,", "24)", "False", "False"]
    assert "XNNPACK" not in done.stderr  # LiteRT's start-up line stays off the terminal


def test_an_edited_model_file_is_not_served_from_an_old_copy(tmp_path, cache):
    import keras

    path = tmp_path / "m.keras"
    keras.utils.set_random_seed(1)
    build_cgrdn(**TINY).save(path)
    ready.prepare(path)
    assert ready.load_ready(path) is not None
    keras.utils.set_random_seed(2)
    build_cgrdn(**TINY).save(path)  # retrained in place: same name, new weights
    assert ready.load_ready(path) is None
    with pytest.raises(ready.ReadyModelError, match="a registry name or a .keras file"):
        ready.source_key(tmp_path / "missing.keras")


def test_a_copy_that_disagrees_is_refused_remembered_and_announced_once(tiny_file, cache, monkeypatch):
    monkeypatch.setattr(ready, "AGREEMENT", 0.0)  # no real copy agrees exactly
    said = []
    assert ready.choose_runtime(tiny_file, announce=said.append) is None  # auto: TensorFlow, with the reason
    assert len(said) == 2 and "making a ready-to-run copy" in said[0]
    assert re.search(r"differs from TensorFlow by .* \(accepted: 0e\+00\); TensorFlow runs it", said[1])
    flatbuffer, _ = ready.ready_files(ready.source_key(tiny_file))
    assert not flatbuffer.exists()
    assert ready.choose_runtime(tiny_file, announce=said.append) is None and len(said) == 2  # remembered: silent
    for attempt in (lambda: ready.prepare(tiny_file), lambda: ready.choose_runtime(tiny_file, runtime="litert")):
        with pytest.raises(ready.ReadyModelError, match="differs from TensorFlow"):
            attempt()
    monkeypatch.setattr(ready, "AGREEMENT", 1e-4)
    with pytest.raises(ready.ReadyModelError, match="differs from TensorFlow"):
        ready.prepare(tiny_file)  # the refusal is remembered...
    assert isinstance(ready.prepare(tiny_file, force=True), ready.ReadyModel)  # ...until force tries again
    assert isinstance(ready.choose_runtime(tiny_file), ready.ReadyModel)


def test_runtime_choice(prepared, tiny_file, monkeypatch):
    folder, _ = prepared
    monkeypatch.setenv("TFSTEM_CACHE_DIR", str(folder))
    assert ready.choose_runtime(tiny_file, runtime="tensorflow") is None
    assert isinstance(ready.choose_runtime(tiny_file), ready.ReadyModel)
    with pytest.raises(ready.ReadyModelError, match="float32 only"):
        ready.choose_runtime(tiny_file, precision="bfloat16", runtime="litert")
    assert ready.choose_runtime(tiny_file, precision="bfloat16") is None
    with pytest.raises(ValueError, match="runtime must be one of"):
        ready.choose_runtime(tiny_file, runtime="tflite")
    assert isinstance(ready.choose_runtime(tiny_file, values=ready.READY_MAX_VALUES), ready.ReadyModel)
    assert ready.choose_runtime(tiny_file, values=ready.READY_MAX_VALUES + 1) is None  # large job: TensorFlow
    assert isinstance(ready.choose_runtime(tiny_file, values=10**9, runtime="litert"), ready.ReadyModel)
    monkeypatch.setattr(ready, "gpu_visible", lambda: True)  # a GPU: TensorFlow uses it
    assert ready.choose_runtime(tiny_file) is None
    monkeypatch.setenv("TFSTEM_RUNTIME", "fast")
    with pytest.raises(ValueError, match=r"\$TFSTEM_RUNTIME must be one of auto, tensorflow, litert"):
        ready.default_runtime()


def test_gpu_visibility_follows_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert ready.gpu_visible() is False


def test_restore_refuses_bfloat16_or_xla_for_a_copy(prepared):
    _, copy = prepared
    with pytest.raises(ValueError, match="runs float32 without XLA only"):
        restore(np.ones((16, 16)), model=copy, precision="bfloat16", verbose=False)
    with pytest.raises(ValueError, match="runs float32 without XLA only"):
        restore(np.ones((16, 16)), model=copy, jit_compile=True, verbose=False)


def _cli(args, folder, runtime=None):
    env = {**os.environ, "TFSTEM_CACHE_DIR": str(folder)}
    env.pop("TFSTEM_RUNTIME", None)
    if runtime:
        env["TFSTEM_RUNTIME"] = runtime
    code = ("import sys\nfrom tfstem.cli import main\nstatus = main(sys.argv[1:])\n"
            "print('tensorflow imported:', 'tensorflow' in sys.modules)\nsys.exit(status)")
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)


@pytest.mark.slow
def test_command_line_makes_the_copy_once_then_starts_without_tensorflow(tiny_file, tmp_path):
    import tifffile

    folder = tmp_path / "cache"
    tifffile.imwrite(tmp_path / "frame.tif", _noisy((64, 70)))
    common = ["restore", str(tmp_path / "frame.tif"), "--model", str(tiny_file), "--quiet"]
    first = _cli(common + ["-o", str(tmp_path / "a.tif")], folder)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "making a ready-to-run copy" in first.stderr
    second = _cli(common + ["-o", str(tmp_path / "b.tif")], folder)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "tensorflow imported: False" in second.stdout and "ready-to-run" not in second.stderr
    plain = _cli(common + ["-o", str(tmp_path / "c.tif"), "--runtime", "tensorflow"], folder)
    assert plain.returncode == 0 and "tensorflow imported: True" in plain.stdout
    by_variable = _cli(common + ["-o", str(tmp_path / "d.tif")], folder, runtime="tensorflow")
    assert "tensorflow imported: True" in by_variable.stdout
    a, b, c = (tifffile.imread(tmp_path / f"{n}.tif") for n in "abc")
    np.testing.assert_array_equal(a, b)  # the first run already used the copy it made
    assert np.abs(a - c).max() <= ready.AGREEMENT * float(c.max() - c.min())
    tifffile.imwrite(tmp_path / "big.tif", _noisy((2, 1024, 520)))  # > 1 megapixel in all: TensorFlow is faster
    big = _cli(["restore", str(tmp_path / "big.tif"), "--model", str(tiny_file), "--quiet", "-o",
                str(tmp_path / "big_out.tif")], folder)
    assert big.returncode == 0 and "tensorflow imported: True" in big.stdout, big.stderr[-2000:]
    refused = _cli(common + ["-o", str(tmp_path / "e.tif"), "--runtime", "litert", "--precision", "bfloat16"], folder)
    assert refused.returncode == 2 and "float32 only" in refused.stderr
    streamed = _cli(common + ["-o", str(tmp_path / "f.zarr"), "--runtime", "litert"], folder)
    assert streamed.returncode == 2 and "streaming" in streamed.stderr
