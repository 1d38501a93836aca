"""TF Serving export: layout, serving contract, and reload in a process where tfstem cannot be imported."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tfstem.cli import main
from tfstem.export import export_model
from tfstem.r_em.cgrdn import build_cgrdn

# Runs in a fresh interpreter in which `import tfstem` fails: only TensorFlow may be needed.
LOADER = textwrap.dedent(
    """
    import json, sys
    sys.modules["tfstem"] = None  # any import of tfstem now raises ImportError
    import numpy as np, tensorflow as tf
    path, source, target = sys.argv[1:4]
    loaded = tf.saved_model.load(path)
    signature = loaded.signatures["serving_default"]
    inputs = signature.structured_input_signature[1]
    outputs = signature(image=tf.constant(np.load(source)))
    np.save(target, outputs["denoised"].numpy())
    print(json.dumps({"inputs": {k: [str(v.dtype.name), v.shape.as_list()] for k, v in inputs.items()},
                      "outputs": sorted(outputs)}))
    """
)


def _serve_in_clean_process(version_dir, batch, tmp_path):
    np.save(tmp_path / "x.npy", batch)
    done = subprocess.run([sys.executable, "-c", LOADER, str(version_dir), str(tmp_path / "x.npy"),
                           str(tmp_path / "y.npy")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    return np.load(tmp_path / "y.npy"), json.loads(done.stdout.strip().splitlines()[-1])


def _assert_same_output(model, version_dir, tmp_path, shape):
    batch = np.random.default_rng(0).normal(300.0, 40.0, shape).astype(np.float32)
    expected = np.asarray(model(batch))
    served, contract = _serve_in_clean_process(version_dir, batch, tmp_path)
    assert contract == {"inputs": {"image": ["float32", [None, None, None, shape[-1]]]}, "outputs": ["denoised"]}
    assert served.shape == shape
    assert np.abs(served - expected).max() <= 1e-5 * (expected.max() - expected.min())


def test_export_layout_and_contract_with_odd_sizes(tmp_path):
    model = build_cgrdn(features=8, growth=4, layers_per_rdb=2, rdbs_per_grdb=1, grdbs=2)
    version_dir = export_model(model, tmp_path / "serving", name="tiny", version=2)
    assert version_dir == tmp_path / "serving" / "tiny" / "2"
    assert (version_dir / "saved_model.pb").is_file() and (version_dir / "variables").is_dir()
    assert (version_dir / "tiny.keras").is_file()
    umask = os.umask(0)
    os.umask(umask)
    # the mode of a plain mkdir, not the staging folder's private 0o700: TF Serving may run as another user
    assert version_dir.stat().st_mode & 0o777 == 0o777 & ~umask
    _assert_same_output(model, version_dir, tmp_path, (2, 37, 29, 1))


def test_existing_version_is_not_overwritten(tmp_path):
    model = build_cgrdn(features=4, growth=4, layers_per_rdb=1, rdbs_per_grdb=1, grdbs=1)
    export_model(model, tmp_path, name="m", version=1)
    with pytest.raises(FileExistsError, match="--version"):
        export_model(model, tmp_path, name="m", version=1)
    export_model(model, tmp_path, name="m", version=1, overwrite=True)


@pytest.mark.slow
def test_exported_r_em_model_matches_keras(tmp_path):
    pytest.importorskip("tk_r_em")
    from tfstem.registry import load_model

    assert main(["export", "r_em/hrstem", str(tmp_path / "serving"), "--version", "1"]) == 0
    version_dir = tmp_path / "serving" / "r_em_hrstem" / "1"
    _assert_same_output(load_model("r_em/hrstem"), version_dir, tmp_path, (1, 128, 130, 1))


def _tiny_cgrdn():
    return build_cgrdn(features=8, growth=4, layers_per_rdb=2, rdbs_per_grdb=1, grdbs=2)


def _file_hashes(folder):
    import hashlib

    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _refuse_to_load(monkeypatch):
    """Make any model load fail loudly: a check that must come first can then be seen to come first."""
    import tfstem.registry

    def _fail(*args, **kwargs):
        raise AssertionError("the model was loaded before the target was checked")

    monkeypatch.setattr(tfstem.registry, "load_model", _fail)


def test_export_stores_each_weight_once(tmp_path):
    """keras#23553: ExportArchive stored each weight under variables/ and again under _all_variables/."""
    import tensorflow as tf

    model = _tiny_cgrdn()
    version_dir = export_model(model, tmp_path, name="tiny", version=1)
    reader = tf.train.load_checkpoint(str(version_dir / "variables" / "variables"))
    stored = [reader.get_tensor(key) for key in reader.get_variable_to_shape_map()
              if key != "_CHECKPOINTABLE_OBJECT_GRAPH"]
    assert len(stored) == len(model.weights)
    assert sum(array.size for array in stored) == model.count_params()
    float_bytes = 4 * model.count_params()
    assert sum(array.nbytes for array in stored) <= 1.1 * float_bytes
    # each weight of the model is one of the stored arrays (same shape and values)
    remaining = [np.asarray(array) for array in stored]
    for weight in model.weights:
        value = np.asarray(weight.numpy())
        match = next(i for i, array in enumerate(remaining)
                     if array.shape == value.shape and np.array_equal(array, value))
        remaining.pop(match)
    # on disk too (the data file also holds the object graph, a few kB for this tiny model; two copies
    # of the weights would take more than 2x)
    on_disk = sum(p.stat().st_size for p in (version_dir / "variables").iterdir())
    assert on_disk <= 1.5 * float_bytes, f"variables/ is {on_disk} bytes for {float_bytes} bytes of weights"


def test_exported_root_exposes_its_variables_once(tmp_path):
    import tensorflow as tf

    model = _tiny_cgrdn()
    loaded = tf.saved_model.load(str(export_model(model, tmp_path, name="tiny")))
    assert len(loaded.variables) == len(model.weights)
    assert len(loaded.trainable_variables) + len(loaded.non_trainable_variables) == len(model.weights)


@pytest.mark.parametrize("version", [0, -1, True, 1.5, float("nan"), "1", None])
def test_bad_version_is_refused_before_loading(tmp_path, monkeypatch, version):
    _refuse_to_load(monkeypatch)
    with pytest.raises(ValueError, match=r"version must be a positive integer.*received version="):
        export_model("r_em/hrstem", tmp_path, version=version)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("file_at", ["base", "model_folder", "version_folder"])
def test_target_under_a_file_fails_before_loading(tmp_path, monkeypatch, file_at):
    """Issue 15 point 7: an export target that is (or is under) a file fails at once, not after tracing."""
    _refuse_to_load(monkeypatch)
    paths = {"base": tmp_path / "serving", "model_folder": tmp_path / "serving" / "m",
             "version_folder": tmp_path / "serving" / "m" / "1"}
    blocker = paths[file_at]
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_bytes(b"not a folder")
    for overwrite in (False, True):
        with pytest.raises(NotADirectoryError, match="is a file") as caught:
            export_model("r_em/hrstem", tmp_path / "serving", name="m", version=1, overwrite=overwrite)
        assert len(str(caught.value).splitlines()) == 1 and "serving" in str(caught.value)
    assert blocker.read_bytes() == b"not a folder"


def test_read_only_base_fails_before_loading(tmp_path, monkeypatch):
    import os
    import stat

    base = tmp_path / "serving"
    base.mkdir()
    base.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(base, os.W_OK):
            pytest.skip("running as a user (root) whom a read-only folder does not stop")
        _refuse_to_load(monkeypatch)
        with pytest.raises(PermissionError, match="cannot write in"):
            export_model("r_em/hrstem", base, name="m", version=1)
        assert list(base.iterdir()) == []
    finally:
        base.chmod(stat.S_IRWXU)


def test_existing_version_is_refused_before_loading(tmp_path, monkeypatch):
    (tmp_path / "m" / "1").mkdir(parents=True)
    _refuse_to_load(monkeypatch)
    with pytest.raises(FileExistsError, match=r"m/1 exists; pass overwrite=True \(--force\)"):
        export_model("r_em/hrstem", tmp_path, name="m", version=1)


def test_failed_overwrite_keeps_the_old_version_and_leaves_nothing_partial(tmp_path, monkeypatch):
    """Issue 15 point 8: --force used to delete the old version before the new one was written."""
    model = _tiny_cgrdn()
    version_dir = export_model(model, tmp_path, name="m", version=1)
    before = _file_hashes(version_dir)

    def _interrupted(path, *args, **kwargs):  # Ctrl-C once the SavedModel is written, during the .keras copy
        Path(path).write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(model, "save", _interrupted)
    with pytest.raises(KeyboardInterrupt):
        export_model(model, tmp_path, name="m", version=1, overwrite=True)
    assert _file_hashes(version_dir) == before
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["1"]


def test_failed_first_export_leaves_no_folder(tmp_path, monkeypatch):
    model = _tiny_cgrdn()

    def _failing(path, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(model, "save", _failing)
    with pytest.raises(OSError, match="No space left"):
        export_model(model, tmp_path / "serving", name="m", version=1)
    assert list(tmp_path.iterdir()) == []


def test_overwrite_swaps_in_the_new_version_completely(tmp_path):
    import keras

    old, new = _tiny_cgrdn(), _tiny_cgrdn()
    new.set_weights([w + 1.0 for w in new.get_weights()])
    export_model(old, tmp_path, name="m", version=1)
    version_dir = export_model(new, tmp_path, name="m", version=1, overwrite=True)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["1"]
    reloaded = keras.saving.load_model(version_dir / "m.keras", compile=False)
    assert all(np.array_equal(a, b) for a, b in zip(reloaded.get_weights(), new.get_weights()))
    _assert_same_output(new, version_dir, tmp_path, (1, 16, 20, 1))
