"""Import of the r_em authors' published CGRDN weights (PyPI package ``tk-r-em``, GPLv3, optional extra).

``tk-r-em`` ships six Keras-2 SavedModels (``sfr_hrstem``, ``sfr_lrstem``, ``sfr_hrtem``, ``sfr_lrtem``,
``sfr_hrsem``, ``sfr_lrsem``) that Keras 3 cannot load. We rebuild the same network with our own
:func:`tfstem.r_em.cgrdn.build_cgrdn` and copy the 153 kernel/bias pairs out of the SavedModel's
checkpoint (``layer_with_weights-N``, functional-graph order) into it, checking every shape. The
converted model is cached as a ``.keras`` file under :func:`tfstem.paths.cache_dir` so that the second
load is fast. TensorFlow's checkpoint reader is used directly: no ``tf_keras`` is needed to import.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from tfstem.paths import cache_dir

__all__ = ["R_EM_MODELS", "r_em_package_dir", "load_r_em_model", "load_r_em_weights", "load_test_data",
           "reference_predict", "reference_predict_many"]

#: Our names -> the authors' names, with what each was trained for (paper, "Data generation").
R_EM_MODELS = {
    "hrstem": ("sfr_hrstem", "high-resolution STEM (atomic columns), r_em authors' weights"),
    "lrstem": ("sfr_lrstem", "low-resolution STEM (nanoparticles, grains), r_em authors' weights"),
    "hrtem": ("sfr_hrtem", "high-resolution TEM, r_em authors' weights"),
    "lrtem": ("sfr_lrtem", "low-resolution TEM, r_em authors' weights"),
    "hrsem": ("sfr_hrsem", "high-resolution SEM, r_em authors' weights"),
    "lrsem": ("sfr_lrsem", "low-resolution SEM, r_em authors' weights"),
}

_INSTALL_HINT = "the r_em models need tk-r-em, a dependency of tfstem that is missing here: pip install 'tk-r-em>=1.0.4'"


def _check_name(name: str) -> str:
    key = name.lower().removeprefix("r_em/").removeprefix("sfr_")
    if key not in R_EM_MODELS:
        raise ValueError(f"unknown r_em model {name!r}; available: {', '.join('r_em/' + k for k in R_EM_MODELS)}.")
    return key


def r_em_package_dir() -> Path:
    """Directory of the installed ``tk_r_em`` package (found without importing it).

    Raises
    ------
    ImportError
        When tk-r-em is not installed; the message says how to install it.
    """
    spec = importlib.util.find_spec("tk_r_em")
    if spec is None or spec.origin is None:
        raise ImportError(_INSTALL_HINT)
    return Path(spec.origin).resolve().parent


def _r_em_version() -> str:
    try:
        return importlib.metadata.version("tk-r-em")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def load_r_em_weights(model, name: str) -> None:
    """Copy the authors' weights of ``name`` (e.g. ``"hrstem"``) into a default-configuration CGRDN.

    Parameters
    ----------
    model : keras.Model
        A model from :func:`tfstem.r_em.cgrdn.build_cgrdn` with the default configuration.
    name : str
        One of :data:`R_EM_MODELS` (``"hrstem"``, ``"r_em/hrstem"`` and ``"sfr_hrstem"`` are accepted).

    Raises
    ------
    ValueError
        If the model's weighted layers do not match the checkpoint in number or shape.
    """
    import tensorflow as tf

    key = _check_name(name)
    checkpoint = r_em_package_dir() / "models" / R_EM_MODELS[key][0] / "variables" / "variables"
    reader = tf.train.load_checkpoint(str(checkpoint))
    shapes = reader.get_variable_to_shape_map()
    weighted = [layer for layer in model.layers if layer.weights]
    n_saved = len({k.split("/")[0] for k in shapes if k.startswith("layer_with_weights-")})
    if n_saved != len(weighted):
        raise ValueError(
            f"the r_em checkpoint has {n_saved} weighted layers but the model has {len(weighted)}; "
            "build the model with tfstem.r_em.cgrdn.build_cgrdn() default arguments."
        )
    for index, layer in enumerate(weighted):
        values = []
        for variable in layer.weights:
            kind = variable.path.split("/")[-1]
            saved = reader.get_tensor(f"layer_with_weights-{index}/{kind}/.ATTRIBUTES/VARIABLE_VALUE")
            if tuple(saved.shape) != tuple(variable.shape):
                raise ValueError(
                    f"shape mismatch at layer {layer.name}: r_em {kind} {saved.shape} vs ours {tuple(variable.shape)}."
                )
            values.append(saved)
        layer.set_weights(values)


def _cache_path(key: str) -> Path:
    return cache_dir() / "r_em" / f"{key}-tk_r_em-{_r_em_version()}.keras"


_LOADED = {}


def load_r_em_model(name: str = "hrstem", *, use_cache: bool = True):
    """Our CGRDN filled with the r_em authors' weights for ``name``; cached in memory and on disk.

    Building the 306-layer Keras graph dominates the cost (seconds); copying the weights out of the
    checkpoint is cheap. The first call in a process converts (or reads the ``.keras`` file cached by an
    earlier process); later calls in the same process return the same model object at once. Use
    ``keras.models.clone_model`` before changing its weights.

    Parameters
    ----------
    name : str
        ``"hrstem"``, ``"lrstem"``, ``"hrtem"``, ``"lrtem"``, ``"hrsem"`` or ``"lrsem"`` (prefixes
        ``r_em/`` or ``sfr_`` accepted).
    use_cache : bool
        Read/write the converted model in the cache directory (``$TFSTEM_CACHE_DIR``,
        ``$XDG_CACHE_HOME/tfstem`` or ``~/.cache/tfstem``).

    Returns
    -------
    keras.Model
        Raw intensities in, restored intensities out, ``float32 [N, H, W, 1]``, any H and W.
    """
    import keras

    from tfstem.r_em.cgrdn import build_cgrdn

    key = _check_name(name)
    r_em_package_dir()  # fail early with the install hint
    if use_cache and key in _LOADED:
        return _LOADED[key]
    path = _cache_path(key)
    if use_cache and path.is_file():
        try:
            _LOADED[key] = keras.saving.load_model(path, compile=False)
            return _LOADED[key]
        except Exception:  # a truncated/corrupt cache entry: rebuild it below
            path.unlink(missing_ok=True)
    model = build_cgrdn(name=f"r_em_{key}")
    load_r_em_weights(model, key)
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        # write then rename, so that a concurrent reader never sees half a file
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".keras", delete=False) as handle:
            tmp = Path(handle.name)
        try:
            model.save(tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        _LOADED[key] = model
    return model


def load_test_data(name: str = "hrstem"):
    """The authors' simulated test images shipped in tk-r-em (``test_data/sfr_<name>.h5``).

    Returns
    -------
    x : numpy.ndarray, float32, ``[N, H, W, 1]``
        Distorted images on the authors' 0-65535 scale (8 x 256 x 256 for five models).
    y : numpy.ndarray, float32, ``[N, H, W, 1]``, or None
        Undistorted images; None for ``hrtem``, whose file in tk-r-em 1.0.4 holds only 5 noisy
        768 x 768 frames.
    """
    import h5py

    key = _check_name(name)
    path = r_em_package_dir() / "test_data" / f"{R_EM_MODELS[key][0]}.h5"
    with h5py.File(path, "r") as handle:
        x = np.asarray(handle["x"][:], dtype=np.float32)
        y = np.asarray(handle["y"][:], dtype=np.float32) if "y" in handle else None
    # stored in MATLAB (column-major) order: [N, C, W, H] -> [N, H, W, C], or [W, H, N] -> [N, H, W, 1]
    if x.ndim == 4:
        return x.transpose(0, 3, 2, 1), None if y is None else y.transpose(0, 3, 2, 1)
    return x.transpose(2, 1, 0)[..., None], None


_REFERENCE_SCRIPT = r"""
import json, os, sys
os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tk_r_em
for job in json.loads(sys.argv[1]):
    x = np.load(job["input"])
    net = tk_r_em.load_network(job["model"])
    if job["patch_size"]:
        y = np.stack([net.predict_patch_based(frame, patch_size=job["patch_size"], stride=job["stride"],
                      batch_size=job["batch_size"]) for frame in x])
    else:
        y = net.predict(x, batch_size=job["batch_size"])
    np.save(job["output"], np.asarray(y, dtype=np.float32))
"""


def reference_predict_many(jobs, *, batch_size: int = 16, patch_size=None, stride=None):
    """Run the authors' own ``tk_r_em`` inference for several ``(name, images)`` jobs in one subprocess.

    ``tk_r_em`` needs the legacy Keras 2 (``tf-keras``, ``TF_USE_LEGACY_KERAS=1``), which must be chosen
    before TensorFlow is imported; a subprocess keeps it away from this process's Keras 3.

    Parameters
    ----------
    jobs : sequence of (str, numpy.ndarray)
        Model name (e.g. ``"hrstem"``) and float32 images ``[N, H, W, 1]`` for ``predict``, or
        ``[N, H, W]`` frames each passed to ``predict_patch_based`` when ``patch_size`` is given.
    batch_size, patch_size, stride : int
        Passed to the authors' ``predict`` / ``predict_patch_based`` (stride defaults to patch_size // 2).

    Returns
    -------
    list of numpy.ndarray, float32
        The authors' outputs, in the shapes their wrapper returns.
    """
    with tempfile.TemporaryDirectory() as tmp:
        specs = []
        for index, (name, images) in enumerate(jobs):
            source, target = Path(tmp) / f"x{index}.npy", Path(tmp) / f"y{index}.npy"
            np.save(source, np.asarray(images, dtype=np.float32))
            specs.append(dict(input=str(source), output=str(target), model=R_EM_MODELS[_check_name(name)][0],
                              batch_size=int(batch_size), patch_size=int(patch_size or 0),
                              stride=int(stride or (patch_size or 0) // 2)))
        result = subprocess.run([sys.executable, "-c", _REFERENCE_SCRIPT, json.dumps(specs)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"tk_r_em reference run failed:\n{result.stderr[-2000:]}")
        return [np.load(spec["output"]) for spec in specs]


def reference_predict(name: str, images, *, batch_size: int = 16, patch_size=None, stride=None):
    """The authors' ``tk_r_em`` output for one model; see :func:`reference_predict_many`."""
    return reference_predict_many([(name, images)], batch_size=batch_size, patch_size=patch_size, stride=stride)[0]
