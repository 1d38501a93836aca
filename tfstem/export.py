"""Export a restoration model as a SavedModel that TF Serving mounts unchanged.

Layout: ``DIRECTORY/<name>/<version>/`` holds ``saved_model.pb`` + ``variables/`` and, beside them,
``<name>.keras`` for Python users (Keras 3 cannot ``load_model`` a SavedModel). The serving contract:

* signature ``serving_default``;
* input ``image``: ``float32 [N, H, W, C]``, any N, H and W (the graph pads odd sizes itself);
* output ``{"denoised": float32 [N, H, W, C]}`` in the input's intensity units.

The SavedModel needs nothing but TensorFlow to load: every custom layer is traced into the graph.

Each weight is stored once. ``keras.export.ExportArchive`` stores every weight twice on the TensorFlow
backend (keras-team/keras#23553): ``track()`` keeps the ``keras.Variable`` wrappers under ``variables/``
while the traced endpoint's captured ``tf.Variable`` objects are kept under ``_all_variables/``; the two
are different Python objects over the same buffer, so the checkpoint's de-duplication (by object
identity) cannot merge them, doubling the files on disk and the memory of every server that loads them.
Here the endpoint is traced first and the very ``tf.Variable`` objects it captured are the only ones
tracked.

The version folder is written under a temporary name beside it and renamed into place when complete
(:func:`tfstem.outputs.atomic_directory`): an interrupt or a crash leaves the previous version intact and
no partial folder, and an unwritable target is reported before the model is loaded or traced.
"""

from __future__ import annotations

import numbers
import os
import re
from pathlib import Path

from tfstem.outputs import atomic_directory, check_new_directory

__all__ = ["export_model", "SERVING_SIGNATURE", "SERVING_INPUT", "SERVING_OUTPUT"]

SERVING_SIGNATURE = "serving_default"
SERVING_INPUT = "image"
SERVING_OUTPUT = "denoised"


def _served_name(model, name) -> str:
    """The served model name: ``name``, else the registry name or file stem of ``model``, made path-safe."""
    if name:
        text = name
    elif isinstance(model, str):
        text = model
    else:
        text = getattr(model, "name", "model")
    text = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(Path(text).stem if str(text).endswith(".keras") else text))
    return text.strip("_") or "model"


def _checked_version(version) -> int:
    """``version`` as a positive ``int``; a ``ValueError`` that echoes it otherwise."""
    integral = isinstance(version, numbers.Integral) and not isinstance(version, bool)
    if isinstance(version, float) and version.is_integer():
        integral = True
    if not integral or version < 1:
        raise ValueError(f"version must be a positive integer (TF Serving's version folder); "
                         f"received version={version!r}.")
    return int(version)


def _check_target(target: Path, overwrite: bool) -> None:
    """Raise an ``OSError`` now, before any model is loaded, if ``target`` cannot be written."""
    if target.is_dir() and not overwrite:
        raise FileExistsError(f"export target {target} exists; pass overwrite=True (--force) to replace it "
                              f"or choose another --version.")
    check_new_directory(target, force=overwrite, what="export target")


def _keras_network(model):
    """Load ``model`` (name, ``.keras`` path or ``keras.Model``) and check it takes ``[N, H, W, C]``."""
    import keras

    from tfstem.registry import load_model

    network = load_model(model) if isinstance(model, (str, Path)) else model
    if not isinstance(network, keras.Model):
        raise ValueError(f"export needs a Keras model (a registry name, a .keras file or a keras.Model); "
                         f"received {type(network).__name__} (a SavedModel cannot be re-exported).")
    input_shape = network.inputs[0].shape
    if len(input_shape) != 4:
        raise ValueError(f"the model input must be [N, H, W, C]; it is {tuple(input_shape)}.")
    return network


def _write_saved_model(network, path: Path) -> None:
    """Write ``network`` to the empty folder ``path`` as a SavedModel with one copy of each weight.

    The endpoint ``serving_default`` takes ``image`` ``float32 [N, H, W, C]`` (C from the model) and
    returns ``{"denoised": float32 [N, H, W, C]}``. After ``tf.saved_model.load`` the root object also
    exposes ``variables``, ``trainable_variables`` and ``non_trainable_variables``, like a Keras export.
    """
    import tensorflow as tf

    channels = int(network.inputs[0].shape[-1])
    spec = tf.TensorSpec(shape=(None, None, None, channels), dtype=tf.float32, name=SERVING_INPUT)

    def serve(image):
        return {SERVING_OUTPUT: network(image, training=False)}

    endpoint = tf.function(serve, input_signature=[spec], autograph=False)
    concrete = endpoint.get_concrete_function()
    # The tf.Variable objects the graph reads, each once: tracking exactly these (not the keras.Variable
    # wrappers around them) is what keeps the checkpoint from holding a second copy (keras#23553).
    captured = list(concrete.variables)
    root = tf.__internal__.tracking.AutoTrackable()
    root.variables = captured
    root.trainable_variables = [v for v in captured if v.trainable]
    root.non_trainable_variables = [v for v in captured if not v.trainable]
    root.serve = endpoint
    tf.saved_model.save(root, str(path), signatures={SERVING_SIGNATURE: concrete})


def _give_umask_mode(folder: Path) -> None:
    """Give ``folder`` the mode a plain ``mkdir`` would (the staging folder is made private, 0o700).

    A version folder that only its owner can read would be refused by a TF Serving that runs as
    another user.
    """
    mask = os.umask(0)
    os.umask(mask)
    folder.chmod(0o777 & ~mask)


def _missing_folders(folder: Path) -> list[Path]:
    """The folders from ``folder`` upwards that do not exist yet, deepest first."""
    missing = []
    folder = Path(os.path.abspath(folder))
    while not folder.exists() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove_if_empty(folders: list[Path]) -> None:
    """Remove those of ``folders`` (deepest first) that are empty; never touches one with content."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def export_model(model, directory, *, name=None, version: int = 1, overwrite: bool = False) -> Path:
    """Write ``model`` as ``directory/<name>/<version>/`` for TF Serving, with a ``.keras`` copy beside it.

    The target is checked before the model is loaded; the version folder is written aside and renamed
    into place when complete, so an interrupt (Ctrl-C) or an error leaves an existing version intact and
    no partial folder behind.

    Parameters
    ----------
    model : str, Path or keras.Model
        A registry name (``"r_em/hrstem"``), a ``.keras`` path, or a Keras model taking
        ``float32 [N, H, W, C]`` raw intensities.
    directory : str or Path
        Base directory (TF Serving's ``--model_base_path`` parent); created if missing.
    name : str, optional
        Served model name; defaults to the registry name with ``/`` replaced (``r_em_hrstem``) or the
        model's name.
    version : int
        Version sub-directory (positive integer), as TF Serving expects.
    overwrite : bool
        Replace an existing version directory (only once the new one is complete); otherwise it is an
        error.

    Returns
    -------
    Path
        The version directory, holding ``saved_model.pb``, ``variables/`` (each weight once) and
        ``<name>.keras``.

    Raises
    ------
    FileExistsError
        The version directory exists and ``overwrite`` is False.
    NotADirectoryError, PermissionError
        The target or one of its parents is a file, or its folder is not writable (raised before the
        model is loaded).
    ValueError
        Bad version, or a model whose input is not ``[N, H, W, C]``.

    Examples
    --------
    >>> export_model("r_em/hrstem", "serving", version=1)  # doctest: +SKIP
    PosixPath('serving/r_em_hrstem/1')
    """
    version = _checked_version(version)
    served_name = _served_name(model, name)
    target = Path(directory) / served_name / str(version)
    _check_target(target, overwrite)
    network = _keras_network(model)
    created = _missing_folders(target.parent)
    try:
        with atomic_directory(target, force=overwrite) as staging:
            _write_saved_model(network, staging)
            network.save(staging / f"{served_name}.keras")
            _give_umask_mode(staging)
    except BaseException:
        _remove_if_empty(created)  # a first export that failed leaves no empty model folder
        raise
    return target
