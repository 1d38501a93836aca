"""Reduced precision for inference: does the hardware run bfloat16 fast, and a bfloat16 copy of a model.

bfloat16 keeps float32's exponent range with an 8-bit significand (about 3 significant digits). Where the
hardware multiplies it natively (Intel AMX or AVX-512-BF16 on a CPU, tensor cores of compute capability 8.0
or higher on an NVIDIA GPU) convolutions run several times faster than in float32: the r_em hrstem CGRDN
takes 0.19 s instead of 0.76 s on one 256 x 256 frame on two Sapphire-Rapids cores. The price is
agreement: ``benchmarks/precision_agreement.py`` measures it, and :data:`BFLOAT16_BY_DEFAULT` records the
decision it led to for :func:`tfstem.restore`'s ``precision="auto"`` (below).

:func:`bfloat16_model` rebuilds a functional Keras model from its config under the ``mixed_bfloat16``
dtype policy (variables stay float32, the arithmetic runs in bfloat16) and copies the weights. The layers
that set a frame's intensity scale stay float32: the per-image standardisation and de-standardisation
(:class:`~tfstem.layers.StandardizePerImage`, :class:`~tfstem.layers.Destandardize`), padding and cropping
around them, and a residual ``Add`` that puts the standardised input back just before the
de-standardisation (the CGRDN's ``input_residual_add``), so the output is float32 in the input's units.

The decision for ``precision="auto"`` (issue 18's rule: bfloat16 by default only where it agrees with
float32 to >= 45 dB PSNR and changes the PSNR against clean targets by < 0.05 dB), measured by
``benchmarks/precision_agreement.py`` on 2 Sapphire-Rapids cores (AMX-BF16), 8 frames of 256 x 256 per set,
PSNR averaged over frames:

* **r_em CGRDN: float32.** Agreement 57.7-64.5 dB on tk-r-em's six test sets (worst single frame 48.1 dB,
  hrstem) and |PSNR change| <= 0.008 dB on four of the five with clean targets, but -2.28 dB on lrsem: one frame that float32
  restores to 89.5 dB against its clean target comes out at 71.3 dB in bfloat16 (bfloat16's own floor,
  ~60-70 dB). Pooled over the set's pixels the change is -0.004 dB; the rule as written fails, so the
  default stays float32. ``precision="bfloat16"`` ran 2.2-3.8x faster (machine shared).
* **N2V U-Net: bfloat16.** Agreement 65.6 dB and +0.014 dB PSNR on the shipped dual-channel video (a
  16-feature U-Net trained for 300 steps at the CPU preset: no trained N2V model ships); 512 x 512
  dual-channel at the paper's 64 features takes 0.73 s instead of 3.7-5.4 s.
"""

from __future__ import annotations

import copy
import functools
import sys
import weakref

__all__ = ["PRECISIONS", "BFLOAT16_BY_DEFAULT", "cpu_has_fast_bfloat16", "gpu_has_fast_bfloat16",
           "has_fast_bfloat16", "architecture", "bfloat16_model", "float32_model", "check_precision", "resolve_precision"]

#: The values ``precision`` accepts everywhere (:func:`tfstem.restore`, the ``--precision`` flag).
PRECISIONS = ("auto", "float32", "bfloat16")

#: Whether ``precision="auto"`` picks bfloat16, per :func:`architecture`, where the hardware runs it fast
#: (:func:`has_fast_bfloat16`). The rule (issue 18): only if bfloat16 agrees with float32 to at least
#: :data:`MIN_AGREEMENT_DB` PSNR and changes the PSNR against clean targets by less than
#: :data:`MAX_QUALITY_CHANGE_DB`. Measured by ``benchmarks/precision_agreement.py``; the figures are in the
#: module notes (CGRDN: -2.28 dB on one r_em test set, fails; N2V U-Net: 65.6 dB and +0.014 dB, passes).
BFLOAT16_BY_DEFAULT = {"residual_dense": False, "pooling_unet": True}
#: The agreement with float32 that bfloat16 needs to become the default (dB, range of the float32 output).
MIN_AGREEMENT_DB = 45.0
#: The largest change in PSNR against clean targets that bfloat16 may cause to become the default (dB).
MAX_QUALITY_CHANGE_DB = 0.05

#: CPU flags (``/proc/cpuinfo``) of native bfloat16 arithmetic.
BFLOAT16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
#: Smallest NVIDIA compute capability with bfloat16 tensor cores (Ampere).
BFLOAT16_GPU_CAPABILITY = (8, 0)

#: Layer classes (by class name) that stay float32 in a bfloat16 copy: they set or undo the intensity scale.
FLOAT32_LAYERS = ("InputLayer", "StandardizePerImage", "Destandardize", "PadToMultiple", "CropToReference")

_CONVERTED = weakref.WeakKeyDictionary()


# ---------------------------------------------------------------------------------------------------
# the hardware


@functools.lru_cache(maxsize=1)  # read once per process: restore asks on every call
def _read_cpuinfo() -> str:
    if not sys.platform.startswith("linux"):
        return ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as file:
            return file.read()
    except OSError:
        return ""


def cpu_has_fast_bfloat16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU multiplies bfloat16 natively (AMX-BF16 or AVX-512-BF16).

    Parameters
    ----------
    cpuinfo : str, optional
        The text of ``/proc/cpuinfo``; None reads it (Linux; elsewhere the answer is False).

    Returns
    -------
    bool
        True when a ``flags`` line lists ``amx_bf16`` or ``avx512_bf16``.

    Examples
    --------
    >>> cpu_has_fast_bfloat16("flags\\t: fpu sse avx512f avx512_bf16 amx_tile\\n")
    True
    >>> cpu_has_fast_bfloat16("flags\\t: fpu sse avx2 fma\\n")
    False
    """
    text = _read_cpuinfo() if cpuinfo is None else cpuinfo
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags" and set(value.split()) & set(BFLOAT16_CPU_FLAGS):
            return True
    return False


@functools.lru_cache(maxsize=1)  # TensorFlow's device list is fixed once it is initialised
def _gpu_details() -> tuple:
    """``tf.config.experimental.get_device_details`` of every visible GPU (empty without TensorFlow GPUs)."""
    import tensorflow as tf

    return tuple(tf.config.experimental.get_device_details(gpu) for gpu in tf.config.list_physical_devices("GPU"))


def gpu_has_fast_bfloat16(details: list[dict] | None = None) -> bool:
    """Whether every visible GPU has bfloat16 tensor cores (compute capability >= 8.0).

    Parameters
    ----------
    details : list of dict, optional
        One ``tf.config.experimental.get_device_details`` dict per GPU (key ``compute_capability``, a
        ``(major, minor)`` tuple); None asks TensorFlow. No GPU: False.

    Examples
    --------
    >>> gpu_has_fast_bfloat16([{"compute_capability": (9, 0)}])
    True
    >>> gpu_has_fast_bfloat16([{"compute_capability": (7, 5)}])
    False
    """
    details = _gpu_details() if details is None else details
    capabilities = [tuple(d.get("compute_capability") or (0, 0)) for d in details]
    return bool(capabilities) and all(c >= BFLOAT16_GPU_CAPABILITY for c in capabilities)


def has_fast_bfloat16(*, cpuinfo: str | None = None, gpu_details: list[dict] | None = None) -> bool:
    """Whether the device TensorFlow computes on runs bfloat16 fast: the GPUs if any are visible, else the CPU.

    Parameters
    ----------
    cpuinfo, gpu_details
        As for :func:`cpu_has_fast_bfloat16` and :func:`gpu_has_fast_bfloat16` (None: this machine's).
    """
    details = _gpu_details() if gpu_details is None else gpu_details
    if details:  # TensorFlow places the network on the GPU
        return gpu_has_fast_bfloat16(details)
    return cpu_has_fast_bfloat16(cpuinfo)


def check_precision(precision) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`; else a ``ValueError`` that says what is accepted."""
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(repr(p) for p in PRECISIONS)}; "
                         f"received precision={precision!r}.")
    return precision


def resolve_precision(precision, *, model=None, fast: bool | None = None) -> str:
    """``"float32"`` or ``"bfloat16"``: what ``precision`` means for ``model`` on this machine.

    Parameters
    ----------
    precision : {"auto", "float32", "bfloat16"}
        ``"auto"``: bfloat16 where :data:`BFLOAT16_BY_DEFAULT` says so for the model's
        :func:`architecture` and the hardware runs it fast (:func:`has_fast_bfloat16`), else float32.
    model : keras.Model or callable, optional
        The network; None (or one of no known architecture) resolves "auto" to float32.
    fast : bool, optional
        Whether the hardware runs bfloat16 fast; None asks :func:`has_fast_bfloat16`.

    Raises
    ------
    ValueError
        ``precision`` is not one of :data:`PRECISIONS`.

    Examples
    --------
    >>> resolve_precision("bfloat16")
    'bfloat16'
    >>> resolve_precision("auto")  # no model: nothing measured
    'float32'
    """
    if check_precision(precision) != "auto":
        return precision
    if model is None or not BFLOAT16_BY_DEFAULT.get(architecture(model), False):
        return "float32"
    return "bfloat16" if (has_fast_bfloat16() if fast is None else fast) else "float32"


# ---------------------------------------------------------------------------------------------------
# the model


def _all_layers(model):
    """Every layer of ``model``, nested functional models opened."""
    for layer in getattr(model, "layers", []):
        yield layer
        if getattr(layer, "layers", None):
            yield from _all_layers(layer)


def architecture(model) -> str | None:
    """The structural family of ``model`` that the speed and precision defaults are measured for.

    Read from the layers, not the name, so that a renamed, retrained or re-sized network keeps its
    defaults: ``"residual_dense"`` when it concatenates feature maps
    (``Concatenate``, the dense blocks) between ``Conv2D`` layers at one scale, without pooling, behind a
    per-image standardisation (the r_em CGRDN); ``"pooling_unet"`` when it pools
    (``AveragePooling2D``/``MaxPooling2D``) and resizes back up (``UpSampling2D`` or tfstem's
    ``BilinearUpsampling2D``: the N2V U-Net); None otherwise (Noise2Atom's strided-convolution U-Net, a
    SavedModel, a callable): nothing measured, so the float32, no-XLA path.

    Examples
    --------
    >>> from tfstem.n2v.unet import build_n2v_unet
    >>> architecture(build_n2v_unet(channels=2, features=8, depth=2))
    'pooling_unet'
    """
    kinds = {type(layer).__name__ for layer in _all_layers(model)}
    pools = bool(kinds & {"AveragePooling2D", "MaxPooling2D"})
    if pools and kinds & {"UpSampling2D", "BilinearUpsampling2D"}:
        return "pooling_unet"
    if not pools and "Concatenate" in kinds and "Conv2D" in kinds and "StandardizePerImage" in kinds:
        return "residual_dense"
    return None


def _history_names(value, found):
    """The names of the layers whose outputs a serialised call argument (``inbound_nodes`` args) reads."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            found.append(value["config"]["keras_history"][0])
        else:
            for item in value.values():
                _history_names(item, found)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _history_names(item, found)
    return found


def _set_policies(config):
    """Rewrite a functional model's config in place: mixed_bfloat16 everywhere but the float32 layers."""
    layers = config["layers"]
    kept = {layer["name"] for layer in layers if layer["class_name"] in FLOAT32_LAYERS}
    inputs = {layer["name"]: _history_names(layer.get("inbound_nodes", []), []) for layer in layers}
    readers = {}
    for name, sources in inputs.items():
        for source in sources:
            readers.setdefault(source, set()).add(name)
    standardised = {layer["name"] for layer in layers if layer["class_name"] == "StandardizePerImage"}
    destandardised = {layer["name"] for layer in layers if layer["class_name"] == "Destandardize"}
    for layer in layers:  # a residual that adds the standardised input back right before de-standardising
        if (layer["class_name"] == "Add" and set(inputs[layer["name"]]) & standardised
                and readers.get(layer["name"], set()) <= destandardised and readers.get(layer["name"])):
            kept.add(layer["name"])
    for layer in layers:
        inner = layer["config"]
        if "layers" in inner:  # a nested functional model (the N2V U-Net core)
            _set_policies(inner)
        elif layer["name"] not in kept and "dtype" in inner:
            inner["dtype"] = "mixed_bfloat16"
        elif layer["name"] in kept and layer["class_name"] != "InputLayer":
            inner["dtype"] = "float32"


def bfloat16_model(model):
    """A copy of the functional Keras ``model`` that computes in bfloat16 (cached per model).

    Rebuilt from ``model.get_config()`` with every layer under the ``mixed_bfloat16`` policy (float32
    variables, bfloat16 arithmetic) except the layers that set or undo the intensity scale (module
    notes), which stay float32; the weights are copied unchanged. The global dtype policy is the same
    afterwards, also on error. Input and output stay float32.

    Parameters
    ----------
    model : keras.Model
        A functional model (built from ``keras.Input``), e.g. the r_em CGRDN or the N2V deployable model.

    Returns
    -------
    keras.Model
        The bfloat16 copy; the same object for the same ``model`` while ``model`` lives.

    Raises
    ------
    ValueError
        ``model`` is not a functional Keras model (a SavedModel, a subclassed model, a plain callable), or
        its config cannot be rebuilt; the message names it and says to use ``precision="float32"``.

    Examples
    --------
    >>> from tfstem.r_em.cgrdn import build_cgrdn
    >>> fast = bfloat16_model(build_cgrdn(features=8, growth=4, layers_per_rdb=2, rdbs_per_grdb=1, grdbs=2))
    >>> fast.get_layer("r_em_pp").dtype_policy.name, fast.layers[3].dtype_policy.name
    ('float32', 'mixed_bfloat16')
    """
    try:
        return _CONVERTED[model]
    except (KeyError, TypeError):
        pass
    import keras

    refuse = (f"precision='bfloat16' needs a functional Keras model (built from keras.Input) to rebuild in "
              f"bfloat16; received {type(model).__name__}")
    if not isinstance(model, keras.Model) or not getattr(model, "inputs", None):
        raise ValueError(refuse + ". Pass precision='float32' (or 'auto').")
    try:
        config = copy.deepcopy(model.get_config())
    except (NotImplementedError, TypeError) as error:
        raise ValueError(f"{refuse} whose config cannot be read ({error}). Pass precision='float32'.") from None
    if not isinstance(config, dict) or "layers" not in config:
        raise ValueError(refuse + " (not functional). Pass precision='float32' (or 'auto').")
    _set_policies(config)
    previous = keras.mixed_precision.dtype_policy()
    try:
        keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
        converted = keras.Model.from_config(config)
        converted.set_weights(model.get_weights())
    except (ValueError, TypeError, KeyError) as error:
        raise ValueError(f"{refuse} that could not be rebuilt in bfloat16 ({error}). "
                         f"Pass precision='float32'.") from None
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    try:
        _CONVERTED[model] = converted
    except TypeError:  # not weak-referenceable: do not cache
        pass
    return converted


def _set_float32(config):
    """Rewrite a functional model's config in place: every layer computes in float32."""
    for layer in config["layers"]:
        inner = layer["config"]
        if "layers" in inner:
            _set_float32(inner)
        elif "dtype" in inner and layer["class_name"] != "InputLayer":
            inner["dtype"] = "float32"


def float32_model(model):
    """A new copy of the functional Keras ``model`` with every layer in float32 and the same weights.

    The inverse of :func:`bfloat16_model` for saving: a network trained under ``mixed_bfloat16`` keeps
    float32 variables, and this copy of it computes in float32 wherever it is loaded. Not cached.

    Raises
    ------
    ValueError
        ``model`` is not a functional Keras model.
    """
    import keras

    if not isinstance(model, keras.Model) or not getattr(model, "inputs", None):
        raise ValueError(f"float32_model needs a functional Keras model; received {type(model).__name__}.")
    config = copy.deepcopy(model.get_config())
    _set_float32(config)
    converted = keras.Model.from_config(config)
    converted.set_weights(model.get_weights())
    return converted
