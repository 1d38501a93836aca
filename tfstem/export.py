"""Export a restoration model as a SavedModel that TF Serving mounts unchanged.

Layout: ``DIRECTORY/<name>/<version>/`` holds ``saved_model.pb`` + ``variables/`` and, beside them,
``<name>.keras`` for Python users (Keras 3 cannot ``load_model`` a SavedModel). The serving contract:

* signature ``serving_default``;
* input ``image``: ``float32 [N, H, W, C]``, any N, H and W (the graph pads odd sizes itself);
* output ``{"denoised": float32 [N, H, W, C]}`` in the input's intensity units.

The SavedModel needs nothing but TensorFlow to load: every custom layer is traced into the graph.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

__all__ = ["export_model", "SERVING_SIGNATURE", "SERVING_INPUT", "SERVING_OUTPUT"]

SERVING_SIGNATURE = "serving_default"
SERVING_INPUT = "image"
SERVING_OUTPUT = "denoised"


def _served_name(model, name):
    if name:
        text = name
    elif isinstance(model, str):
        text = model
    else:
        text = getattr(model, "name", "model")
    text = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(Path(text).stem if str(text).endswith(".keras") else text))
    return text.strip("_") or "model"


def export_model(model, directory, *, name=None, version: int = 1, overwrite: bool = False) -> Path:
    """Write ``model`` as ``directory/<name>/<version>/`` for TF Serving, with a ``.keras`` copy beside it.

    Parameters
    ----------
    model : str, Path or keras.Model
        A registry name (``"r_em/hrstem"``), a ``.keras`` path, or a Keras model taking ``[N, H, W, C]``.
    directory : str or Path
        Base directory (TF Serving's ``--model_base_path`` parent).
    name : str, optional
        Served model name; defaults to the registry name with ``/`` replaced (``r_em_hrstem``) or the
        model's name.
    version : int
        Version sub-directory (positive integer), as TF Serving expects.
    overwrite : bool
        Replace an existing version directory; otherwise it is an error.

    Returns
    -------
    Path
        The version directory.

    Raises
    ------
    FileExistsError
        The version directory exists and ``overwrite`` is False.
    ValueError
        Bad version, or a model whose input is not ``[N, H, W, C]``.
    """
    import keras
    import tensorflow as tf

    from tfstem.registry import load_model

    if int(version) != version or version < 1:
        raise ValueError(f"version must be a positive integer; received version={version}.")
    served_name = _served_name(model, name)
    network = load_model(model) if isinstance(model, (str, Path)) else model
    if not isinstance(network, keras.Model):
        raise ValueError("export needs a Keras model (a name, a .keras file or a keras.Model), not a SavedModel.")
    input_shape = network.inputs[0].shape
    if len(input_shape) != 4:
        raise ValueError(f"the model input must be [N, H, W, C]; it is {input_shape}.")
    channels = int(input_shape[-1])

    target = Path(directory) / served_name / str(int(version))
    if target.exists():
        if not overwrite:
            raise FileExistsError(f"{target} exists; pass overwrite=True (or --force) or choose another --version.")
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)

    archive = keras.export.ExportArchive()
    archive.track(network)

    def serve(image):
        return {SERVING_OUTPUT: network(image, training=False)}

    archive.add_endpoint(
        name=SERVING_SIGNATURE,
        fn=serve,
        input_signature=[tf.TensorSpec(shape=(None, None, None, channels), dtype=tf.float32, name=SERVING_INPUT)],
    )
    # write next to the target and rename, so a crash never leaves a half-written version for TF Serving
    staging = Path(tempfile.mkdtemp(prefix=f".{served_name}-", dir=target.parent))
    try:
        archive.write_out(str(staging / "saved"), verbose=False)
        network.save(staging / "saved" / f"{served_name}.keras")
        (staging / "saved").rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
