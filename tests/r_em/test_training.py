"""Tests of r_em training on the shared layer: config and presets, data, distributed equality, exact resume,
run-folder refusals, validation, TensorBoard, mixed precision, export, the CLI hooks."""

import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tfstem.config import load_config, paper_values
from tfstem.r_em import data as r_em_data
from tfstem.r_em.config import R_EMConfig
from tfstem.r_em.losses import LossWeights
from tfstem.r_em.schedule import WarmupExponentialDecay
from tfstem.r_em.training import R_EM
from tfstem.synth import MODALITIES
from tfstem.training.fit import fit

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RUNNER = HERE / "cgrdn_distributed_run.py"
LOSS_KEYS = ("l1", "adversarial", "critic", "generator_loss")

sys.path.insert(0, str(HERE))
from cgrdn_distributed_run import tiny_config, tiny_pairs  # noqa: E402


def _env():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env.pop("TF_CONFIG", None)
    return env


def _run(mode, out, env=None, **kwargs):
    return subprocess.Popen([sys.executable, str(RUNNER), mode, str(out)], env=env or _env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def _finish(process, timeout=600):
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-3000:]


@pytest.fixture(scope="module")
def single_and_mirrored(tmp_path_factory):
    out = tmp_path_factory.mktemp("mirrored") / "losses.json"
    _finish(_run("mirrored", out))
    return json.loads(out.read_text())


def _assert_same_losses(reference, other):
    assert other["step"] == reference["step"] == [1, 2, 3]
    for key in LOSS_KEYS:
        values = np.asarray(other[key])
        assert np.all(np.isfinite(values)), key
        np.testing.assert_allclose(values, reference[key], rtol=2e-5, atol=1e-6, err_msg=key)


# ---------------------------------------------------------------------------------------------- config


def test_config_validation_and_presets():
    with pytest.raises(ValueError, match="modality must be one of"):
        R_EMConfig(modality="xray")
    with pytest.raises(ValueError, match="multiple of 8"):
        R_EMConfig(patch_size=100)
    with pytest.raises(ValueError, match="unknown r_em option"):
        R_EMConfig.from_dict({"lr": 1.0})
    with pytest.raises(ValueError, match="at least one pixel-wise"):
        R_EMConfig(l1_weight=0.0, l2_weight=0.0, mlwt_weight=0.0, fourier_weight=0.0, mean_weight=0.0,
                   std_weight=0.0)
    paper = load_config("r_em", "paper")
    assert paper == R_EMConfig() and paper.gan
    # benchmarks/r_em_lambda_search.py (2026-12-03): half the hand-set (2, 1, 0.5, 1, 1), the best all-term point
    assert paper.loss_weights == LossWeights(l1=10.0, l2=1.0, mlwt=0.5, fourier=0.25, mean=0.5, std=0.5,
                                             adversarial=5e-4)
    assert (paper.features, paper.growth, paper.layers_per_rdb, paper.rdbs_per_grdb, paper.grdbs) == (64, 32, 8, 4, 4)
    assert (paper.batch_size, paper.patch_size, paper.epochs, paper.steps_per_epoch) == (4, 256, 1000, 1000)
    released = load_config("r_em", "released", batch_size=8)
    assert not released.gan and released.loss_weights == LossWeights() and released.batch_size == 8
    cpu = load_config("r_em", "cpu")
    assert (cpu.features, cpu.growth, cpu.layers_per_rdb, cpu.rdbs_per_grdb, cpu.grdbs) == (32, 16, 4, 2, 2)
    assert cpu.gan and (cpu.patch_size, cpu.batch_size) == (256, 4)
    assert R_EMConfig.from_dict(released.to_dict()) == released
    assert json.loads(json.dumps(paper.to_dict())) == paper.to_dict()
    with pytest.raises(ValueError, match="unknown r_em preset"):
        load_config("r_em", "paper_gan")
    for modality in MODALITIES:  # one constant, defined in tfstem.synth
        assert R_EMConfig(modality=modality).modality == modality


def test_every_option_has_its_source_in_the_model_file():
    document = json.loads((REPO / "models" / "r_em.json").read_text())
    assert set(paper_values("r_em")) == {f for f in R_EMConfig.__dataclass_fields__}
    assert all(spec["source"] for spec in document["options"].values())
    assert list(document["presets"]) == ["paper", "released", "cpu", "quick"]
    assert document["presets"]["paper"]["set"] == {}


def test_learning_rate_schedule():
    schedule = WarmupExponentialDecay(1e-3, warmup_steps=10, decay_steps=100, decay_rate=0.9, min_fraction=0.5)
    np.testing.assert_allclose(float(schedule(0)), 1e-4, rtol=1e-5)
    np.testing.assert_allclose(float(schedule(100)), 1e-3 * 0.9, rtol=1e-5)
    np.testing.assert_allclose(float(schedule(10_000)), 0.5e-3, rtol=1e-5)  # floor


# ---------------------------------------------------------------------------------------------- data


def test_array_pairs_dataset_is_a_function_of_the_step():
    rng = np.random.default_rng(0)
    x = rng.random((3, 40, 40, 1), dtype=np.float32)
    y = 2 * x
    full = list(r_em_data.array_pairs_dataset(x, y, batch_size=2, patch_size=16, seed=5).take(4))
    resumed = list(r_em_data.array_pairs_dataset(x, y, batch_size=2, patch_size=16, seed=5, start_step=2).take(2))
    for (xa, ya), (xb, yb) in zip(full[2:], resumed):
        np.testing.assert_array_equal(xa.numpy(), xb.numpy())
    xa, ya = full[0]
    assert xa.shape == (2, 16, 16, 1)
    np.testing.assert_allclose(ya.numpy(), 2 * xa.numpy(), rtol=1e-6)  # crops stay aligned
    assert not np.array_equal(full[0][0].numpy(), full[1][0].numpy())
    with pytest.raises(ValueError, match="smaller than patch_size"):
        r_em_data.array_pairs_dataset(x, y, batch_size=2, patch_size=64)


def test_read_data_takes_a_simulate_folder_a_file_or_synthetic(tmp_path):
    """DATA may be a `tfstem simulate --format npy` folder (scaled like synthetic pairs), a .npz or 'synthetic'."""
    rng = np.random.default_rng(0)
    clean = rng.random((3, 20, 20), dtype=np.float32)
    np.save(tmp_path / "hrstem_clean.npy", clean)
    np.save(tmp_path / "hrstem_distorted.npy", clean + 0.5)
    x, y = R_EM.read_data(tmp_path)
    np.testing.assert_allclose(y, clean * r_em_data.SYNTH_INTENSITY_SCALE, rtol=1e-6)
    np.testing.assert_allclose(x, (clean + 0.5) * r_em_data.SYNTH_INTENSITY_SCALE, rtol=1e-6)
    assert R_EM.read_data("synthetic") is None

    np.savez(tmp_path / "pairs.npz", x=clean[:, None] + 1, y=clean[:, None])  # [N, C, H, W]
    x, y = R_EM.read_data(tmp_path / "pairs.npz", channels_axis=1)
    assert x.shape == y.shape == (3, 20, 20, 1)
    np.savez(tmp_path / "bad.npz", a=clean)
    with pytest.raises(ValueError, match="arrays 'x' and 'y'"):
        R_EM.read_data(tmp_path / "bad.npz")
    (tmp_path / "hrstem_distorted.npy").unlink()
    with pytest.raises(FileNotFoundError, match="hrstem_distorted.npy"):
        R_EM.read_data(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="exactly one"):
        R_EM.read_data(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        R_EM.read_data(tmp_path / "missing.npz")


def test_method_refuses_what_it_cannot_use():
    import tensorflow as tf

    class TwoReplicas:
        num_replicas_in_sync = 2

    with pytest.raises(ValueError, match="divisible"):
        R_EM(tiny_config(batch_size=3), strategy=TwoReplicas())
    assert tf.distribute.get_strategy().num_replicas_in_sync == 1
    x, y = tiny_pairs(n=2)
    with pytest.raises(ValueError, match="channels=2"):
        R_EM(tiny_config(), (np.repeat(x, 2, -1), np.repeat(y, 2, -1)))
    with pytest.raises(ValueError, match="one shape"):
        R_EM(tiny_config(), (x, y[:1]))
    with pytest.raises(ValueError, match=r"\(distorted, clean\) pair of arrays .* ndarray of shape \(2, 48, 48, 1\)"):
        R_EM(tiny_config(), x)
    with pytest.raises(ValueError, match="from_model is not supported"):
        R_EM(tiny_config(), (x, y), from_model="model.keras")
    with pytest.raises(ValueError, match="config must be an R_EMConfig"):
        R_EM({"features": 8}, (x, y))


# ---------------------------------------------------------------------------------------------- distributed


@pytest.mark.slow
@pytest.mark.distributed
def test_mirrored_two_devices_equals_single_device(single_and_mirrored):
    single, mirrored = single_and_mirrored["single"], single_and_mirrored["mirrored"]
    assert single["replicas"] == 1 and mirrored["replicas"] == 2
    _assert_same_losses(single, mirrored)
    assert single["l1"][2] != single["l1"][0]  # it trains


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.distributed
def test_multiworker_two_processes_equals_single_device(single_and_mirrored, tmp_path):
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    out = tmp_path / "losses.json"
    processes = []
    for index in range(2):
        env = _env()
        env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        processes.append(_run("worker", out, env=env))
    for process in processes:
        _finish(process)
    result = json.loads(out.read_text())
    assert result["replicas"] == 2
    _assert_same_losses(single_and_mirrored["single"], result)


# ---------------------------------------------------------------------------------------------- runs


def _scalars(log_dir):
    import tensorflow as tf

    values = {}
    for event_file in sorted(Path(log_dir).glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            for value in event.summary.value:
                if value.HasField("tensor") and value.metadata.plugin_data.plugin_name == "scalars":
                    values.setdefault(value.tag, {})[event.step] = float(tf.make_ndarray(value.tensor))
    return values


def _tags(log_dir):
    import tensorflow as tf

    tags = set()
    for event_file in Path(log_dir).glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            tags.update(v.tag for v in event.summary.value)
    return tags


@pytest.mark.slow
def test_resume_reproduces_the_uninterrupted_run_with_validation_and_logs(tmp_path):
    """Stop after 3 steps, resume to 8: steps 4..8 match an uninterrupted 8-step run (paper preset, GAN on)."""
    import keras

    pairs, held_out = tiny_pairs(n=4), tiny_pairs(n=2, seed=9)
    common = dict(preset="quick", verbose=False, validation_data=held_out)
    first = fit("r_em", pairs, output_dir=tmp_path / "a", steps=3, **common)
    assert first.stopped == "completed" and first.steps == 3
    with pytest.raises(FileExistsError, match="--resume"):
        fit("r_em", pairs, output_dir=tmp_path / "a", steps=3, **common)
    resumed = fit("r_em", pairs, output_dir=tmp_path / "a", steps=8, resume=True, **common)
    straight = fit("r_em", pairs, output_dir=tmp_path / "b", steps=8, **common)

    assert resumed.history["step"] == straight.history["step"] == list(range(1, 9))
    for name in ("l1", "l2", "mlwt", "fourier", "mean", "std", "adversarial", "critic", "generator_loss"):
        np.testing.assert_allclose(resumed.history["losses"][name], straight.history["losses"][name],
                                   rtol=1e-5, atol=1e-7, err_msg=name)
    logged_a, logged_b = _scalars(tmp_path / "a" / "logs"), _scalars(tmp_path / "b" / "logs")
    assert sorted(logged_b["loss/critic"]) == list(range(1, 9))
    np.testing.assert_allclose([logged_a["loss/l1"][s] for s in range(4, 9)],
                               [logged_b["loss/l1"][s] for s in range(4, 9)], rtol=1e-5, atol=1e-7)
    assert "optimizer/generator_learning_rate" in logged_b
    assert any("preview" in tag for tag in _tags(tmp_path / "b" / "logs"))  # distorted | restored | clean

    # Validation at each epoch's end (quick: 4 steps per epoch) and of the final model.
    epochs = straight.history["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2] and all(np.isfinite(e["val_psnr"]) for e in epochs)
    np.testing.assert_allclose([e["val_psnr"] for e in resumed.history["epochs"]], [e["val_psnr"] for e in epochs],
                               rtol=1e-4)
    assert straight.extra["validation"]["psnr"] == pytest.approx(epochs[-1]["val_psnr"])
    assert "epoch/val_ssim" in logged_b

    # The saved generator follows the model contract and round-trips.
    model = keras.models.load_model(tmp_path / "b" / "model.keras")
    assert model.inputs[0].name == "image" and model.name == "cgrdn_hrstem"
    odd = pairs[0][:2, :37, :29]
    restored = model.predict(odd, verbose=0)
    assert restored.shape == odd.shape and np.all(np.isfinite(restored))
    record = json.loads((tmp_path / "b" / "config.json").read_text())
    assert record["gan"] is True and record["_method"] == "r_em"


def _hashes(folder):
    """{relative path: sha256} of every file under ``folder``."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_run_folder_needs_resume_with_the_same_settings_or_force(tmp_path):
    """An earlier run is refused unless resume matches it or force starts afresh; a refusal touches nothing."""
    x, y = tiny_pairs(n=4)
    other = (x[::-1], y[::-1])
    out = tmp_path / "run"
    common = dict(preset="quick", steps=1, verbose=False, output_dir=out)
    fit("r_em", (x, y), **common)
    before = _hashes(out)
    assert {"config.json", "history.json", "model.keras", "checkpoints/checkpoint"} <= set(before)
    recorded = json.loads((out / "config.json").read_text())["_data"]
    assert recorded[0]["shape"] == [4, 48, 48, 1]
    cases = [
        ((x, y), {}, FileExistsError, "holds an earlier run"),
        ((x, y), {"resume": True, "seed": 5}, ValueError, "other settings: seed 0 -> 5; pass --force"),
        (other, {"resume": True}, ValueError, "other settings: data (another series or pairs); pass --force"),
        ((x, y), {"resume": True, "force": True}, ValueError, "not both"),
        (None, {"resume": True}, ValueError, "data (another series or pairs)"),
    ]
    for data, extra, error, message in cases:
        with pytest.raises(error) as caught:
            fit("r_em", data, **common, **extra)
        assert message in str(caught.value), extra
        assert _hashes(out) == before, extra
    # force: a new run from step 0 (a resumed one would stop at once: step 1 of 1 is done)
    result = fit("r_em", other, **common, force=True, seed=5)
    assert result.history["step"] == [1]
    record = json.loads((out / "config.json").read_text())
    assert record["seed"] == 5 and record["_data"][0]["sha256"] != recorded[0]["sha256"]
    assert _hashes(out)["model.keras"] != before["model.keras"]
    assert sorted(p.name for p in (out / "checkpoints").glob("*.index")) == ["ckpt-1.index"]
    assert not [p for p in out.rglob("*") if ".partial-" in p.name]


def test_max_minutes_stops_cleanly_and_saves_the_generator(tmp_path):
    import tfstem.r_em

    result = tfstem.r_em.fit(tiny_pairs(n=4), preset="quick", steps=50, max_minutes=1e-9, output_dir=tmp_path,
                             verbose=False)
    assert result.stopped == "max_minutes" and result.history["step"] == [1]
    assert (tmp_path / "model.keras").is_file() and (tmp_path / "checkpoints" / "checkpoint").exists()
    with pytest.raises(ValueError, match="max_minutes"):
        tfstem.r_em.fit(tiny_pairs(n=4), preset="quick", steps=50, max_minutes=-1, verbose=False)


def test_float16_policy_keeps_the_standardisation_in_float32():
    # The CGRDN builder pins its standardisation ends to float32, so mixed_float16 is accepted and the
    # variance of raw counts (~1e9) cannot overflow; the trunk still computes in float16.
    method = R_EM(tiny_config(dtype_policy="mixed_float16"), tiny_pairs(n=2))
    dtypes = {type(layer).__name__: layer.compute_dtype for layer in method.generator.layers}
    assert dtypes["StandardizePerImage"] == dtypes["Destandardize"] == "float32"
    assert dtypes["Conv2D"] == "float16"
    rng = np.random.default_rng(0)
    counts = np.full((1, 32, 32, 1), 30000.0, np.float32) + rng.normal(0, 3000, (1, 32, 32, 1)).astype(np.float32)
    assert np.all(np.isfinite(np.asarray(method.generator(counts), dtype=np.float32)))


@pytest.mark.slow
def test_xla_and_bfloat16_steps_are_finite_and_learn():
    x, y = tiny_pairs(n=4)
    config = tiny_config(jit_compile=True, dtype_policy="mixed_bfloat16", learning_rate=1e-3)
    method = R_EM(config, (x * 300, y * 300))
    assert any(layer.compute_dtype == "bfloat16" for layer in method.generator.layers)
    from tfstem.training import train

    result = train(method, steps=4, verbose=False)
    losses = result.history["losses"]
    assert np.all(np.isfinite(losses["generator_loss"])) and np.all(np.isfinite(losses["critic"]))
    assert method.generator.count_params() > 0 and method.step == 4


@pytest.mark.slow
def test_trained_generator_exports_for_serving(tmp_path):
    import tensorflow as tf

    result = fit("r_em", tiny_pairs(n=2), preset="quick", steps=1, output_dir=tmp_path, export=True, verbose=False)
    path = Path(result.extra["serving"])
    assert path == tmp_path / "serving" / "1"
    served = tf.saved_model.load(str(path)).signatures["serving_default"]
    image = np.random.default_rng(0).random((1, 30, 26, 1)).astype("float32") * 1000
    out = served(image=tf.constant(image))["denoised"].numpy()
    np.testing.assert_allclose(out, result.model.predict(image, verbose=0), rtol=1e-4, atol=1e-3)


@pytest.mark.slow
def test_synthetic_pairs_train(tmp_path):
    """DATA None (or 'synthetic'): pairs of the config's modality made on the fly by tfstem.synth."""
    result = fit("r_em", "synthetic", preset="quick", steps=2, modality="lrtem", verbose=False, output_dir=tmp_path)
    assert result.history["step"] == [1, 2] and np.all(np.isfinite(result.history["losses"]["l1"]))
    record = json.loads((tmp_path / "config.json").read_text())
    assert record["_data"] == "synthetic" and record["modality"] == "lrtem" and result.model.name == "cgrdn_lrtem"


def test_cli_hooks_add_only_the_r_em_flags(tmp_path):
    parser = argparse.ArgumentParser()
    R_EM.add_arguments(parser)
    args = parser.parse_args(["--modality", "hrtem", "--validation", str(tmp_path / "held_out.npz")])
    assert R_EM.cli_options(args) == {"modality": "hrtem", "validation_data": str(tmp_path / "held_out.npz")}
    assert R_EM.cli_options(parser.parse_args([])) == {}
    with pytest.raises(SystemExit):
        parser.parse_args(["--modality", "xray"])
