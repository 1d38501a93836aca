"""Reduced precision (tfstem.precision) and restore's precision / jit_compile defaults and trace reuse."""

import keras
import numpy as np
import pytest

from tfstem import precision
from tfstem.metrics import psnr
from tfstem.n2v.unet import build_n2v_unet
from tfstem.r_em.cgrdn import build_cgrdn
from tfstem.restore import predictor, resolve_jit_compile, restore

TINY = dict(features=8, growth=4, layers_per_rdb=2, rdbs_per_grdb=1, grdbs=2)
AMX_CPUINFO = ("processor\t: 0\nvendor_id\t: GenuineIntel\n"
               "flags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16 amx_bf16 amx_tile\n"
               "vmx flags\t: vnmi preemption_timer\n")
AVX2_CPUINFO = "processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\nvmx flags\t: amx_bf16_is_not_a_cpu_flag_here\n"


@pytest.fixture(scope="module")
def cgrdn():
    keras.utils.set_random_seed(3)
    return build_cgrdn(**TINY)


@pytest.fixture(scope="module")
def n2v():
    keras.utils.set_random_seed(4)
    return build_n2v_unet(channels=2, features=8, depth=2)


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(5)
    return rng.normal(100.0, 10.0, (2, 64, 64)).astype(np.float32)


def _agreement(reference, test):
    return psnr(reference, test, data_range=float(reference.max() - reference.min()))


# --- the hardware ------------------------------------------------------------------------------------

def test_cpu_detection_reads_the_flags_line():
    assert precision.cpu_has_fast_bfloat16(AMX_CPUINFO)
    assert precision.cpu_has_fast_bfloat16("flags\t: fpu avx512f avx512_bf16\n")  # AVX-512-BF16 without AMX
    assert not precision.cpu_has_fast_bfloat16(AVX2_CPUINFO)  # only the "flags" line counts
    assert not precision.cpu_has_fast_bfloat16("")  # not Linux: nothing to read


def test_gpu_detection_needs_compute_capability_8():
    assert precision.gpu_has_fast_bfloat16([{"compute_capability": (8, 0)}, {"compute_capability": (9, 0)}])
    assert not precision.gpu_has_fast_bfloat16([{"compute_capability": (7, 5)}])
    assert not precision.gpu_has_fast_bfloat16([{"compute_capability": (9, 0)}, {"compute_capability": (7, 0)}])
    assert not precision.gpu_has_fast_bfloat16([])


def test_the_device_that_computes_decides():
    # a visible GPU takes the work: its capability counts, not the CPU's flags
    assert not precision.has_fast_bfloat16(cpuinfo=AMX_CPUINFO, gpu_details=[{"compute_capability": (7, 5)}])
    assert precision.has_fast_bfloat16(cpuinfo=AVX2_CPUINFO, gpu_details=[{"compute_capability": (8, 6)}])
    assert precision.has_fast_bfloat16(cpuinfo=AMX_CPUINFO, gpu_details=[])
    assert not precision.has_fast_bfloat16(cpuinfo=AVX2_CPUINFO, gpu_details=[])


# --- the rule for "auto" ------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["fp16", "BFLOAT16", "", None, 16, True])
def test_a_bad_precision_says_what_is_accepted(cgrdn, frame, bad):
    with pytest.raises(ValueError, match=r"precision must be one of 'auto', 'float32', 'bfloat16'; received"):
        restore(frame, model=cgrdn, precision=bad, verbose=False)


@pytest.mark.parametrize("bad", ["yes", None, 1])
def test_a_bad_jit_compile_says_what_is_accepted(cgrdn, frame, bad):
    with pytest.raises(ValueError, match=r"jit_compile must be 'auto', True or False; received"):
        restore(frame, model=cgrdn, jit_compile=bad, verbose=False)


def test_architecture_is_read_from_the_layers(cgrdn, n2v):
    from tfstem.noise2atom.xception_unet import build_denoiser, build_xception_unet

    assert precision.architecture(cgrdn) == "residual_dense"
    assert precision.architecture(n2v) == "pooling_unet"
    noise2atom = build_denoiser(build_xception_unet(features=8, num_residual_blocks=1), minimum=0, maximum=9)
    assert precision.architecture(noise2atom) is None
    assert precision.architecture(lambda batch: batch) is None


def test_auto_follows_the_measured_table(cgrdn, n2v, monkeypatch):
    for model in (cgrdn, n2v):  # explicit choices pass through
        assert precision.resolve_precision("float32", model=model, fast=True) == "float32"
        assert precision.resolve_precision("bfloat16", model=model, fast=False) == "bfloat16"
    for model in (cgrdn, n2v):  # the shipped decision (benchmarks/precision_agreement.py)
        expected = "bfloat16" if precision.BFLOAT16_BY_DEFAULT[precision.architecture(model)] else "float32"
        assert precision.resolve_precision("auto", model=model, fast=True) == expected
        assert precision.resolve_precision("auto", model=model, fast=False) == "float32"
    monkeypatch.setitem(precision.BFLOAT16_BY_DEFAULT, "residual_dense", True)
    assert precision.resolve_precision("auto", model=cgrdn, fast=True) == "bfloat16"
    assert precision.resolve_precision("auto", model=cgrdn, fast=False) == "float32"  # slow bfloat16: never
    monkeypatch.setattr(precision, "_read_cpuinfo", lambda: AVX2_CPUINFO)
    monkeypatch.setattr(precision, "_gpu_details", lambda: [])
    assert precision.resolve_precision("auto", model=cgrdn) == "float32"
    monkeypatch.setattr(precision, "_read_cpuinfo", lambda: AMX_CPUINFO)
    assert precision.resolve_precision("auto", model=cgrdn) == "bfloat16"
    assert precision.resolve_precision("auto", model=lambda b: b, fast=True) == "float32"  # unknown: float32


def test_jit_compile_auto_follows_the_measured_table(cgrdn, n2v, monkeypatch):
    monkeypatch.setattr(precision, "_gpu_details", lambda: [])
    for model in (cgrdn, n2v):  # CPU: oneDNN beat XLA for both families in both precisions
        for p in ("float32", "bfloat16"):
            assert resolve_jit_compile(model, "auto", p) is False
    assert resolve_jit_compile(cgrdn, True) is True and resolve_jit_compile(n2v, False) is False
    monkeypatch.setattr(precision, "_gpu_details", lambda: [{"compute_capability": (9, 0)}])
    assert resolve_jit_compile(n2v, "auto", "float32") is True  # GPU: XLA for the U-Net
    assert resolve_jit_compile(cgrdn, "auto", "float32") is False


# --- the bfloat16 copy ------------------------------------------------------------------------------

def test_bfloat16_copy_keeps_the_intensity_layers_in_float32(cgrdn, n2v):
    fast = precision.bfloat16_model(cgrdn)
    assert precision.bfloat16_model(cgrdn) is fast  # cached per model
    policies = {layer.name: layer.dtype_policy.name for layer in fast.layers}
    for name in ("pad_to_even", "r_em_pp", "input_residual_add", "r_em_out", "crop_to_input"):
        assert policies[name] == "float32", name
    assert policies["first_conv"] == policies["g_1_rdb_1_add"] == "mixed_bfloat16"
    fast_n2v = precision.bfloat16_model(n2v)
    policies = {layer.name: layer.dtype_policy.name for layer in fast_n2v.layers}
    assert policies["standardize"] == policies["denoised"] == policies["pad"] == policies["crop"] == "float32"
    core = fast_n2v.get_layer(n2v.layers[3].name)
    assert {layer.dtype_policy.name for layer in core.layers[1:]} == {"mixed_bfloat16"}
    for original, copied in zip(cgrdn.weights, fast.weights):  # the weights are copied, and stay float32
        assert copied.dtype == "float32"
        np.testing.assert_array_equal(np.asarray(original), np.asarray(copied))
    assert keras.mixed_precision.dtype_policy().name == "float32"


def test_the_global_policy_is_restored_after_a_failed_rebuild(monkeypatch):
    model = build_cgrdn(**TINY)

    def broken(*args, **kwargs):
        raise ValueError("cannot rebuild")

    monkeypatch.setattr(keras.Model, "from_config", broken)
    with pytest.raises(ValueError, match=r"could not be rebuilt in bfloat16 .*precision='float32'"):
        precision.bfloat16_model(model)
    assert keras.mixed_precision.dtype_policy().name == "float32"


def test_a_model_that_cannot_be_converted_is_a_clear_error(frame):
    def identity(batch):
        return batch

    with pytest.raises(ValueError, match=r"precision='bfloat16' needs a functional Keras model.*function"):
        restore(frame, model=identity, precision="bfloat16", verbose=False)
    out = restore(frame, model=identity, verbose=False)  # "auto": float32, no conversion tried
    np.testing.assert_array_equal(out, frame)


# --- restore with each precision --------------------------------------------------------------------

def test_float32_is_todays_path(cgrdn, frame):
    raw = np.asarray(cgrdn(frame[..., None], training=False))[..., 0]
    for options in (dict(precision="float32"), dict(precision="float32", jit_compile=False), {}):
        if not options and precision.resolve_precision("auto", model=cgrdn) != "float32":
            continue  # "auto" chose bfloat16 on this machine
        got = restore(frame, model=cgrdn, verbose=False, **options)
        assert np.abs(got - raw).max() <= 1e-5 * (raw.max() - raw.min()), options


@pytest.mark.parametrize("which", ["cgrdn", "n2v"])
def test_bfloat16_runs_returns_float32_and_agrees_loosely(which, cgrdn, n2v, frame):
    model = {"cgrdn": cgrdn, "n2v": n2v}[which]
    image = frame[..., None] if which == "cgrdn" else np.stack([frame, 2.0 * frame + 7.0], axis=-1)
    reference = restore(image, model=model, precision="float32", verbose=False)
    got = restore(image, model=model, precision="bfloat16", verbose=False)
    assert got.dtype == np.float32 and got.shape == image.shape
    assert np.isfinite(got).all()
    assert _agreement(reference, got) > 20.0
    assert not np.array_equal(reference, got)  # it did compute in bfloat16


def test_bfloat16_tiles_and_scale_equivariance(cgrdn, frame):
    image = frame[0]
    tiled = restore(image, model=cgrdn, precision="bfloat16", tile_size=32, tile_overlap=8, verbose=False)
    scaled = restore(1e-3 * image, model=cgrdn, precision="bfloat16", tile_size=32, tile_overlap=8, verbose=False)
    np.testing.assert_allclose(scaled, 1e-3 * tiled, rtol=1e-5, atol=1e-6 * float(np.abs(tiled).max()))


# --- one trace per model, flag, precision and shape -------------------------------------------------

def test_same_shape_reuses_one_trace_and_precision_is_in_the_key(frame):
    model = build_cgrdn(**TINY)
    batch = frame[:1, ..., None]
    fp32 = predictor(model, False, "float32")
    fp32(batch)
    fp32(batch + 1.0)
    assert fp32.function.experimental_get_tracing_count() == 1
    bf16 = predictor(model, False, "bfloat16")
    assert bf16.function is not fp32.function
    assert predictor(model, False, "float32").function is fp32.function
    restore(frame, model=model, precision="float32", jit_compile=False, verbose=False)  # [2, 64, 64]: a new shape
    traces = fp32.function.experimental_get_tracing_count()
    restore(frame + 3.0, model=model, precision="float32", jit_compile=False, verbose=False)  # same frames again
    restore(np.tile(frame, (1, 2, 2)), model=model, precision="float32", jit_compile=False, tile_size=64,
            batch_size=2, verbose=False)  # tiles of 64 in batches of 2: the shape of the series above
    assert fp32.function.experimental_get_tracing_count() == traces


def test_lazy_passes_precision_through(cgrdn, frame, tmp_path):
    da = pytest.importorskip("dask.array")
    path = tmp_path / "tiny.keras"
    cgrdn.save(path)
    image = frame * 3.0
    expected = restore(image, model=str(path), precision="bfloat16", tile_size=32, verbose=False)
    result = restore(da.from_array(image, chunks=(1, 32, 64)), model=str(path), precision="bfloat16",
                     tile_size=32).compute()
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-5 * float(expected.max() - expected.min()))
    fp32 = restore(image, model=str(path), precision="float32", tile_size=32, verbose=False)
    assert not np.array_equal(fp32, expected)
    with pytest.raises(ValueError, match="precision must be one of"):
        restore(da.from_array(image), model=str(path), precision="half")


def test_the_command_line_takes_precision(tmp_path, cgrdn, capsys):
    from tfstem import io
    from tfstem.cli import main

    cgrdn.save(tmp_path / "tiny.keras")
    source = io.write_image(tmp_path / "in.tif", np.random.default_rng(0).poisson(40.0, (40, 44)).astype(np.uint16))
    for choice in ("float32", "bfloat16", "auto"):
        target = tmp_path / f"out_{choice}.tif"
        assert main(["restore", str(source), "-o", str(target), "--model", str(tmp_path / "tiny.keras"),
                     "--precision", choice, "--quiet"]) == 0
        assert io.read_image(target).data.dtype == np.float32
    assert main(["restore", str(source), "-o", str(tmp_path / "x.tif"), "--precision", "half"]) == 2
    assert "--precision: invalid choice: 'half'" in capsys.readouterr().err


def test_hyperspy_passes_precision_through_and_records_it(cgrdn, frame):
    hs = pytest.importorskip("hyperspy.api")
    signal = hs.signals.Signal2D(frame)
    restored = restore(signal, model=cgrdn, precision="bfloat16", verbose=False)
    np.testing.assert_array_equal(restored.data, restore(frame, model=cgrdn, precision="bfloat16", verbose=False))
    assert restored.metadata.Signal.Restoration.precision == "bfloat16"
    auto = restore(signal, model=cgrdn, verbose=False)  # "auto" is the default: not written
    assert not auto.metadata.has_item("Signal.Restoration.precision")


def test_the_authors_hrstem_cgrdn_converts_and_agrees():
    pytest.importorskip("tk_r_em", reason="the default model ships with tk-r-em")
    from tfstem.r_em import load_test_data
    from tfstem.registry import load_model

    model = load_model("r_em/hrstem")
    x, _ = load_test_data("hrstem")
    crop = x[:1, 96:160, 96:160, 0]  # 64 x 64
    reference = restore(crop, model=model, precision="float32", verbose=False)
    got = restore(crop, model=model, precision="bfloat16", verbose=False)
    assert got.dtype == np.float32 and _agreement(reference, got) > 40.0  # 57.7 dB on 256 x 256 frames
    assert precision.resolve_precision("auto", model=model, fast=True) == "float32"  # the decision: see module
