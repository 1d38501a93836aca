"""Ready-to-run copies of restoration models: a fast start for ``tfstem restore`` without TensorFlow.

A fresh ``tfstem restore`` process spends ~2.7 s importing TensorFlow, ~1.5 s loading the 306-layer CGRDN and
~1 s tracing it before ~0.8 s of arithmetic on a 256 x 256 frame: 7.1 s in all (``benchmarks/restore_startup.py``,
2 cores). A LiteRT (TensorFlow Lite) copy of the same network, with its weights, is one file that the
``ai-edge-litert`` runtime opens in 0.03 s without TensorFlow: the same command takes 1.5 s. Its XNNPACK float32
kernels are slower than TensorFlow's oneDNN ones, though (1.1 s against 0.8 s per 256 x 256 frame, 1.4x at
1024 x 1024), so the copy pays off only for small jobs (:data:`READY_MAX_VALUES`). :func:`prepare` makes the copy
once per model and machine (it needs TensorFlow, ~10-20 s), checks it against the TensorFlow model, and caches
it under :func:`tfstem.paths.cache_dir`/``ready``; :func:`load_ready` opens it without importing TensorFlow.

Agreement: the copy runs the same float32 network with other kernels, so its output differs from
TensorFlow's by rounding only: on tk-r-em's six test sets by 1.5e-6 to 1.4e-5 of the output's range (130-144 dB
PSNR, PSNR against the clean targets unchanged to 1e-5 dB; ``benchmarks/ready_agreement.py``), the size of
TensorFlow's own spread between equally valid kernels (the same frame in a batch of two: 1.1-1.5e-5; XLA: 2.7-5.4e-5;
oneDNN off: 2.7-6.3e-5). On a frame of pure noise, which the network returns almost flat, it reaches 1.3e-4 of
that small range (2e-5 of the input's std). A copy is kept only if it agrees with TensorFlow to
:data:`AGREEMENT` (1e-4 of the data range, the criterion the port meets against the authors' own outputs) on a
check frame; the measured figure is stored beside it.

Scope: float32 only (a model whose "auto" precision is bfloat16 on this machine keeps TensorFlow, which is
faster there), CPU only (where a GPU is visible TensorFlow uses it), ``.keras`` models and registry names
(not a bare SavedModel), whole files in memory (streaming runs TensorFlow). ``tfstem restore`` uses a ready copy
by default where these hold (``--runtime auto``); :func:`tfstem.restore` takes one as ``model=load_ready(name)``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["RUNTIMES", "RUNTIME_VARIABLE", "default_runtime", "AGREEMENT", "READY_MAX_VALUES", "ReadyModel",
           "ReadyModelError", "Standardisation", "litert_available", "gpu_visible", "source_key", "ready_files", "load_ready", "prepare", "choose_runtime"]

#: ``runtime`` values of ``tfstem restore``: "auto" (a ready copy where it applies, else TensorFlow),
#: "tensorflow", "litert" (a ready copy or an error that says why not).
RUNTIMES = ("auto", "tensorflow", "litert")
#: Largest accepted ``max |ready - tensorflow|`` on the check frame, as a fraction of TensorFlow's output range.
AGREEMENT = 1e-4
#: Format of the sidecar JSON; a different one is treated as absent (rebuilt).
FORMAT = 1
#: The check frame of :func:`prepare`: odd sizes, so that the network's own padding is exercised.
CHECK_SHAPE = (97, 130)

_LITERT_HINT = "pip install 'ai-edge-litert>=1.2'"


class ReadyModelError(RuntimeError):
    """A ready copy cannot be made or used for this model (the message says why and what to do)."""


@dataclass(frozen=True)
class Standardisation:
    """The per-image standardisation the network applies itself (see :func:`tfstem.restore.standardisation_layer`).

    ``std_floor`` in the input's units; ``std_multiplier`` dimensionless.
    """

    std_floor: float
    std_multiplier: float


# ---------------------------------------------------------------------------------------------------
# where a copy applies


def litert_available() -> bool:
    """Whether the LiteRT runtime (``ai-edge-litert``) is installed (found without importing it)."""
    return importlib.util.find_spec("ai_edge_litert") is not None


def _require_litert() -> None:
    if not litert_available():
        raise ReadyModelError(f"the LiteRT runtime is not installed: {_LITERT_HINT}")


def gpu_visible() -> bool:
    """Whether an NVIDIA GPU is visible to this process (``/dev/nvidia0``...), found without TensorFlow.

    ``CUDA_VISIBLE_DEVICES`` set to "" or "-1" hides them, as it does from TensorFlow.
    """
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return any(re.fullmatch(r"nvidia\d+", p.name) for p in Path("/dev").glob("nvidia*"))


def _file_identity(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


def source_key(model=None) -> str:
    """What a ready copy of ``model`` depends on, as text; found without importing TensorFlow.

    ``model``: None (the default model), a registry name or a path to a ``.keras`` file. The key holds the
    tfstem version and, for an ``r_em/`` name, tk-r-em's version; for a file, its resolved path, size and
    modification time (so an edited or retrained file is never served from an old copy).

    Raises
    ------
    ReadyModelError
        A SavedModel directory, an unknown name or a missing file.
    """
    from tfstem._version import __version__
    from tfstem.registry import DEFAULT_MODEL, _shipped_models

    text = DEFAULT_MODEL if model is None else str(model)
    if text.startswith("r_em/"):
        from tfstem.r_em.authors import _check_name, _r_em_version

        return f"r_em/{_check_name(text)}|tk-r-em {_r_em_version()}|tfstem {__version__}"
    shipped = _shipped_models()
    path = shipped[text] if text in shipped else Path(text).expanduser()
    if path.is_dir():
        files = sorted(path.glob("*.keras"))
        if len(files) != 1:
            raise ReadyModelError(f"{text}: a ready copy is made from a .keras file; {path} holds {len(files)}.")
        path = files[0]
    if not path.is_file() or path.suffix != ".keras":
        raise ReadyModelError(f"{text}: a ready copy is made from a registry name or a .keras file.")
    return f"{text}|{_file_identity(path)}|tfstem {__version__}"


def ready_files(key: str) -> tuple[Path, Path]:
    """``(flatbuffer, sidecar JSON)`` paths of the ready copy for ``key`` under the cache directory."""
    from tfstem.paths import cache_dir

    slug = re.sub(r"[^A-Za-z0-9]+", "_", key.split("|", 1)[0]).strip("_")[-40:] or "model"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    folder = cache_dir() / "ready"
    return folder / f"{slug}-{digest}.tflite", folder / f"{slug}-{digest}.json"


def _read_sidecar(key: str) -> dict | None:
    _, sidecar = ready_files(key)
    try:
        info = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return None
    return info if info.get("format") == FORMAT and info.get("key") == key else None


# ---------------------------------------------------------------------------------------------------
# the ready model


def _quietly(function):
    from tfstem import _quiet

    return function() if _quiet.verbose() else _quiet.run_with_stderr_captured(function)


class ReadyModel:
    """A ready (LiteRT) copy of a restoration network, run without TensorFlow.

    Call it like the Keras model: ``float32 [B, H, W, C]`` in (any B, H, W), ``float32 [B, H, W, C]`` out,
    in the model's own units. :func:`tfstem.restore` accepts it as ``model``; it runs in float32 only.

    Attributes: ``name`` (the model it copies), ``input_channels``, ``standardisation``
    (:class:`Standardisation` or None), ``architecture`` (:func:`tfstem.precision.architecture` of the
    original), ``agreement`` (measured ``max |ready - tensorflow|`` on the check frame / its data range),
    ``path`` (the flatbuffer).
    """

    runtime = "litert"

    def __init__(self, path: Path, info: dict, *, threads: int | None = None):
        _require_litert()
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        self.name = info["model"]
        self.input_channels = int(info["input_channels"])
        std = info.get("standardisation")
        self.standardisation = None if std is None else Standardisation(**std)
        self.architecture = info.get("architecture")
        self.agreement = float(info["agreement"])
        if threads is None:
            threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        # LiteRT announces its XNNPACK delegate on descriptor 2 ("INFO: Created TensorFlow Lite XNNPACK
        # delegate for CPU."): kept off the terminal like TensorFlow's start-up lines (TFSTEM_VERBOSE=1 shows it)
        self._interpreter = _quietly(lambda: Interpreter(model_path=str(self.path), num_threads=int(threads or 1)))
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._shape = None
        self._lock = threading.Lock()  # one interpreter: one call at a time

    def __repr__(self):
        return f"<ReadyModel {self.name} (LiteRT, float32) {self.path}>"

    def __call__(self, batch) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if batch.ndim != 4 or batch.shape[-1] != self.input_channels:
            raise ValueError(f"{self.name}: expected float32 [B, H, W, {self.input_channels}]; "
                             f"received shape {batch.shape}.")
        with self._lock:
            if batch.shape != self._shape:  # frames of a series and tiles of one size share one allocation
                self._interpreter.resize_tensor_input(self._input, batch.shape, strict=False)
                _quietly(self._interpreter.allocate_tensors)
                self._shape = batch.shape
            self._interpreter.set_tensor(self._input, batch)
            self._interpreter.invoke()
            return np.array(self._interpreter.get_tensor(self._output), dtype=np.float32)


def load_ready(model=None) -> ReadyModel | None:
    """The ready copy of ``model`` (None: the default model) if one is cached and current, else None.

    Imports neither TensorFlow nor Keras. A copy whose source changed (another tfstem or tk-r-em version,
    an edited ``.keras`` file) is not current. Use :func:`prepare` to make one.

    Raises
    ------
    ReadyModelError
        The LiteRT runtime is not installed, or ``model`` cannot have a ready copy (see :func:`source_key`).
    """
    _require_litert()
    return _open(source_key(model))[1]


def _open(key: str) -> tuple[dict | None, ReadyModel | None]:
    """``(sidecar record or None, the ready copy or None)`` cached for ``key``."""
    info = _read_sidecar(key)
    flatbuffer, _ = ready_files(key)
    if info is None or info.get("unsupported") or not flatbuffer.is_file():
        return info, None
    return info, ReadyModel(flatbuffer, info)


# ---------------------------------------------------------------------------------------------------
# making one (TensorFlow)


def _check_frame(channels: int) -> np.ndarray:
    """``float32 [1, 97, 130, channels]``: Poisson-noisy Gaussian peaks on a lattice, fixed seed, in [0, ~1]."""
    rng = np.random.default_rng(20261203)
    y, x = np.mgrid[: CHECK_SHAPE[0], : CHECK_SHAPE[1]].astype(np.float64)
    clean = sum(np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * 2.0**2))
                for cy in np.arange(4, CHECK_SHAPE[0], 9.5) for cx in np.arange(3, CHECK_SHAPE[1], 8.5))
    frames = [rng.poisson(20.0 * clean + 2.0 + c) / 25.0 for c in range(channels)]
    return np.stack(frames, axis=-1)[None].astype(np.float32)


def _convert(model) -> bytes:
    """The LiteRT flatbuffer of a functional Keras ``model`` (built-in float32 ops only, no TensorFlow fallback).

    Through a SavedModel with one endpoint over ``float32 [None, None, None, C]`` (any batch and size):
    the route the converter supports for Keras 3 models (converting the ``tf.function`` directly gave NaN).
    """
    import tempfile

    import keras
    import tensorflow as tf

    channels = int(model.inputs[0].shape[-1])
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", lambda x: tf.cast(model(x, training=False), tf.float32),
                         input_signature=[tf.TensorSpec([None, None, None, channels], tf.float32)])
    with tempfile.TemporaryDirectory(prefix="tfstem-ready-") as folder:
        archive.write_out(folder, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder, signature_keys=["serve"])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        return converter.convert()


def _agreement(model, flatbuffer: Path, info: dict) -> float:
    """``max |ready - tensorflow| / range(tensorflow)`` on the check frame, standardised as ``restore`` does."""
    from tfstem.intensity import network_input_std, standardise_frames

    frame = _check_frame(info["input_channels"])
    std = info["standardisation"]
    if std is not None:
        frame, _, _ = standardise_frames(frame, network_input_std(std["std_floor"], std["std_multiplier"]))
    expected = np.asarray(model(frame, training=False), dtype=np.float32)
    got = ReadyModel(flatbuffer, {**info, "agreement": float("nan")})(frame)
    span = float(expected.max() - expected.min()) or 1.0
    return float(np.abs(got - expected).max()) / span


def _describe(model, name: str) -> dict:
    from tfstem.precision import architecture
    from tfstem.restore import model_channels, standardisation_layer

    layer = standardisation_layer(model)
    return {
        "format": FORMAT, "model": name, "input_channels": model_channels(model),
        "architecture": architecture(model),
        "standardisation": None if layer is None else {"std_floor": float(layer.std_floor),
                                                       "std_multiplier": float(layer.std_multiplier)},
    }


def _write_record(key: str, info: dict) -> None:
    """Write the sidecar JSON of ``key`` atomically (a cache entry: replaced, never user data)."""
    from tfstem.outputs import write_json

    _, sidecar = ready_files(key)
    write_json(sidecar, {**info, "key": key}, force=True)


def prepare(model=None, *, force: bool = False) -> ReadyModel:
    """Make (or reuse) the ready copy of ``model`` (None: the default model) and return it.

    Loads the model with TensorFlow, converts it to LiteRT, runs both on a fixed check frame and keeps the
    copy only if they agree to :data:`AGREEMENT` of the data range. The result, or the reason a model
    cannot have one, is cached (``force=True`` tries again).

    Raises
    ------
    ReadyModelError
        No LiteRT runtime; a SavedModel or a model that is not a functional Keras model; an operation LiteRT
        has no float32 kernel for; disagreement beyond :data:`AGREEMENT` (the message gives the figure).
    """
    _require_litert()
    key = source_key(model)
    if not force:
        info, ready = _open(key)
        if info is not None and info.get("unsupported"):
            raise ReadyModelError(info["unsupported"])
        if ready is not None:
            return ready
    from tfstem.registry import DEFAULT_MODEL, load_model

    name = DEFAULT_MODEL if model is None else str(model)
    network = load_model(name)
    if not getattr(network, "inputs", None) or len(network.inputs) != 1:
        raise ReadyModelError(f"{name}: a ready copy needs a functional Keras model with one input.")
    info = _describe(network, name)
    try:
        flat = _convert(network)
    except Exception as error:  # the converter's own errors are long MLIR dumps: keep the gist
        reason = (f"{name}: LiteRT cannot run this network with its built-in float32 operations "
                  f"({type(error).__name__}: {str(error).strip().splitlines()[-1][:200]}); TensorFlow runs it.")
        _write_record(key, {**info, "unsupported": reason})
        raise ReadyModelError(reason) from None
    from tfstem.outputs import atomic_file

    flatbuffer, _ = ready_files(key)
    try:
        with atomic_file(flatbuffer, force=True) as tmp:  # checked under its temporary name: never served unchecked
            tmp.write_bytes(flat)
            agreement = _agreement(network, tmp, info)
            if not agreement <= AGREEMENT:
                raise ReadyModelError(
                    f"{name}: the LiteRT copy differs from TensorFlow by {agreement:.2e} of the data range on the "
                    f"check frame (accepted: {AGREEMENT:.0e}); TensorFlow runs it.")
    except ReadyModelError as error:
        _write_record(key, {**info, "unsupported": str(error)})
        raise
    _write_record(key, {**info, "agreement": agreement})
    return ReadyModel(flatbuffer, {**info, "agreement": agreement})


# ---------------------------------------------------------------------------------------------------
# the choice ``tfstem restore`` makes


def _auto_precision_is_float32(architecture: str | None) -> bool:
    """Whether ``precision="auto"`` means float32 for this architecture on this (GPU-less) machine."""
    from tfstem.precision import BFLOAT16_BY_DEFAULT, cpu_has_fast_bfloat16

    return not (BFLOAT16_BY_DEFAULT.get(architecture, False) and cpu_has_fast_bfloat16())


#: Environment variable that sets ``tfstem restore``'s default ``--runtime`` (e.g. "tensorflow" on a site that
#: wants TensorFlow's own numbers everywhere; the test suite sets it so that only the tests of this module convert).
RUNTIME_VARIABLE = "TFSTEM_RUNTIME"


def default_runtime() -> str:
    """``$TFSTEM_RUNTIME`` when set (checked), else "auto"."""
    value = os.environ.get(RUNTIME_VARIABLE, "").strip() or "auto"
    if value not in RUNTIMES:
        raise ValueError(f"${RUNTIME_VARIABLE} must be one of {', '.join(RUNTIMES)}; received {value!r}.")
    return value


#: ``runtime="auto"`` uses a ready copy only for jobs of at most this many values (pixels x channels, all frames):
#: it saves ~5.6 s of start-up per command but computes each frame ~1.4x slower than TensorFlow (r_em/hrstem, 2
#: cores, 2026-12-03: 1.10 / 4.78 / 20.5 s against 0.81 / 3.46 / 14.2 s at 256² / 512² / 1024²;
#: ``benchmarks/restore_speed.py --methods float32 litert``), so the two break even near one megapixel.
READY_MAX_VALUES = 1024 * 1024


def choose_runtime(model=None, *, precision: str = "auto", runtime: str = "auto", values: int | None = None,
                   announce=None):
    """The ready copy ``tfstem restore`` should use for ``model``, or None for TensorFlow.

    ``runtime``: "tensorflow" -> None; "litert" -> a ready copy (made now if needed) or ``ReadyModelError``;
    "auto" -> a ready copy where it applies (LiteRT installed, no GPU visible, ``precision`` float32 or
    "auto" meaning float32 for the model, a registry name or ``.keras`` file, ``values`` (pixels x channels the
    job restores, when known) at most :data:`READY_MAX_VALUES`), made now on first use with
    one line to ``announce``; None where it does not apply or cannot be made (the reason is announced once,
    then cached).
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}; received runtime={runtime!r}.")
    if runtime == "tensorflow":
        return None
    strict = runtime == "litert"
    say = announce or (lambda message: None)
    try:
        if precision == "bfloat16":
            raise ReadyModelError("a ready copy runs float32 only; --precision bfloat16 needs --runtime tensorflow")
        if not strict and (gpu_visible() or (values is not None and values > READY_MAX_VALUES)):
            return None
        if not litert_available():
            if strict:
                _require_litert()
            return None
        info, ready = _open(source_key(model))
        if info is not None and info.get("unsupported"):
            if strict:
                raise ReadyModelError(info["unsupported"])
            return None
        if ready is None:
            name = "the default model" if model is None else str(model)
            say(f"tfstem: making a ready-to-run copy of {name} for fast start-up (once per model, ~10-20 s; "
                f"--runtime tensorflow skips it)")
            ready = prepare(model)
        if precision == "auto" and not _auto_precision_is_float32(ready.architecture):
            if strict:
                raise ReadyModelError(f"{ready.name}: precision 'auto' is bfloat16 on this machine and a ready copy "
                                      f"runs float32 only; pass --precision float32 or --runtime tensorflow")
            return None
        return ready
    except ReadyModelError as error:
        if strict:
            raise
        say(f"tfstem: {error}")
        return None
