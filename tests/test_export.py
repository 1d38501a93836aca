"""TF Serving export: layout, serving contract, and reload in a process where tfstem cannot be imported."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tfstem.cli import main
from tfstem.export import export_model
from tfstem.nets.cgrdn import build_cgrdn

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
