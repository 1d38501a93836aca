"""Dual-channel Noise2Void training on the shared training layer (Thornley et al., npj Comput. Mater. 2025).

:class:`N2V` is the :class:`~tfstem.training.method.Method` of ``tfstem.fit("n2v", frames)`` and
``tfstem train n2v VIDEO -o DIR``: the U-Net core (:mod:`tfstem.n2v.unet`) and Adam built from an
:class:`~tfstem.n2v.config.N2VConfig`, the training frames cut into masked patches (:mod:`tfstem.n2v.data`,
:mod:`tfstem.n2v.masking`), one step = forward, masked MSE (:mod:`tfstem.n2v.losses`), gradient, Adam update.
At each epoch's end the loss on fixed validation patches is measured and the weights of the lowest one are
kept (in the checkpoints too, so a resumed run keeps them); the deployable model is built from them. The loop
(:func:`tfstem.training.train`) does the rest: epochs, budget, checkpoints and resume, history, TensorBoard.

Transfer training (paper, Fig. 10c): ``from_model=`` a trained N2V model or its ``.keras`` file; its
architecture replaces the config's and its weights are the start (copied; the given model is not changed).
"""

from __future__ import annotations

import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from tfstem.n2v.config import N2VConfig
from tfstem.n2v.data import (
    as_frames, check_channels, check_patch_fits, normalise_frames, read_series, split_frames, training_dataset,
    validation_batch,
)
from tfstem.n2v.losses import packed_masked_mse
from tfstem.n2v.unet import build_n2v_unet, build_n2v_unet_core
from tfstem.precision import bfloat16_model, float32_model, has_fast_bfloat16
from tfstem.training.collapse import check_collapse
from tfstem.training.method import Method
from tfstem.training.run_folder import data_fingerprint

__all__ = ["N2V", "METHOD", "core_of", "architecture_of"]


COLLAPSE_ADVICE = ("for N2V also check that the frames hold enough signal for the blind spot (a few hundred "
                   "patches per channel at least) and try the cpu preset on a CPU (the paper-size network "
                   "barely moves in minutes there)")
#: Frames (evenly spaced) and largest crop (px, centred) the collapse check predicts after training.
COLLAPSE_CHECK_FRAMES = 4
COLLAPSE_CHECK_SIZE = 256


def collapse_check_sample(frames) -> np.ndarray:
    """Up to :data:`COLLAPSE_CHECK_FRAMES` raw frames, centre-cropped to at most :data:`COLLAPSE_CHECK_SIZE` px.

    Parameters
    ----------
    frames : numpy.ndarray ``[N, H, W, C]``, raw intensities

    Returns
    -------
    numpy.ndarray, float32 ``[n, h, w, C]``, a copy.
    """
    picks = np.unique(np.linspace(0, frames.shape[0] - 1, COLLAPSE_CHECK_FRAMES).round().astype(int))
    h, w = (min(size, COLLAPSE_CHECK_SIZE) for size in frames.shape[1:3])
    top, left = (frames.shape[1] - h) // 2, (frames.shape[2] - w) // 2
    return np.array(frames[picks, top:top + h, left:left + w], dtype=np.float32)


def core_of(model) -> keras.Model:
    """The U-Net core inside a deployable N2V model (or the model itself if it is a core)."""
    if model.inputs and model.inputs[0].name.split(":")[0] in ("normalised",) or model.name.endswith("_core"):
        return model
    for layer in model.layers:
        if isinstance(layer, keras.Model) and layer.name.endswith("_core"):
            return layer
    raise ValueError(
        f"model {model.name!r} is not a tfstem N2V model (no '*_core' U-Net inside); pass a model returned by "
        "tfstem.n2v.fit or tfstem.n2v.unet.build_n2v_unet."
    )


def architecture_of(core) -> dict:
    """The config options that describe ``core`` (a U-Net of :func:`~tfstem.n2v.unet.build_n2v_unet_core`):
    ``depth``, ``features``, ``first_kernel_size``, ``kernel_size``, ``negative_slope``, ``group_norm_groups``."""
    names = {layer.name: layer for layer in core.layers}
    first, later = names["enc0_conv1"], names["enc1_conv1" if "enc1_conv1" in names else "bottleneck_conv1"]
    norm = names.get("enc0_norm1")
    return {"depth": sum(1 for layer in core.layers if isinstance(layer, keras.layers.AveragePooling2D)),
            "features": int(first.filters), "first_kernel_size": int(first.kernel_size[0]),
            "kernel_size": int(later.kernel_size[0]), "negative_slope": float(names["enc0_lrelu1"].negative_slope),
            "group_norm_groups": None if norm is None else int(norm.groups)}


def _uncompiled_copy(core):
    """A new core with the same architecture and weights, without optimizer or compile state."""
    copy = keras.Model.from_config(core.get_config())
    copy.set_weights(core.get_weights())
    return copy


def _load(model):
    """A Keras model, or the one in a ``.keras`` file."""
    if isinstance(model, (str, os.PathLike)):
        import tfstem.n2v.unet  # noqa: F401  (registers the custom layers)

        return keras.models.load_model(model)
    return model


def training_precision(precision: str) -> str:
    """``"float32"`` or ``"bfloat16"``: the config's ``precision``, ``"auto"`` resolved by the hardware."""
    if precision == "auto":
        return "bfloat16" if has_fast_bfloat16() else "float32"
    return precision


class N2V(Method):
    """Noise2Void on a noisy video: the networks, the data and one training step.

    Parameters
    ----------
    config : N2VConfig
        Every hyperparameter (:func:`tfstem.config.load_config` ``("n2v", preset)``).
    data : array_like, ``[N, H, W]`` or ``[N, H, W, C]``
        Raw noisy frames, any real dtype (not modified); C = 2 for simultaneous ADF + BF. Every
        ``frame_step``-th frame trains, the others give the validation patches.
    strategy : None
        N2V trains on one device; any strategy is refused.
    from_model : keras.Model or path-like, optional
        A trained N2V model (deployable or core, or its ``.keras`` file) to continue from.

    Raises
    ------
    ValueError
        Frames that are empty, not ``[N, H, W]`` / ``[N, H, W, C]``, complex, not numbers, hold NaN or inf,
        or are smaller than ``patch_size``; channels that do not match ``from_model``; a strategy.
    """

    name = "n2v"
    config_class = N2VConfig
    progress_keys = ("loss",)

    def __init__(self, config: N2VConfig, data, *, strategy=None, from_model=None):
        if strategy is not None:
            raise ValueError(f"n2v trains on one device (host-side patches, one validation set); received "
                             f"strategy={strategy!r}; leave strategy unset.")
        frames = as_frames(data)  # before a model is loaded or built
        check_patch_fits(frames, config.patch_size)
        core = None
        if from_model is not None:
            core = _uncompiled_copy(core_of(_load(from_model)))
            check_channels(frames, int(core.input_shape[-1]))
            config = config.replace(**architecture_of(core))
        self.config = config
        self._data_record = data_fingerprint(frames)
        self._check_frames = collapse_check_sample(frames)
        keras.utils.set_random_seed(config.seed)
        self.core = core if core is not None else build_n2v_unet_core(
            channels=frames.shape[-1], depth=config.depth, features=config.features,
            first_kernel_size=config.first_kernel_size, kernel_size=config.kernel_size,
            negative_slope=config.negative_slope, group_norm_groups=config.group_norm_groups)
        self.precision = training_precision(config.precision)
        if self.precision == "bfloat16":  # bfloat16 arithmetic, float32 variables (Keras' mixed_bfloat16)
            self.core = bfloat16_model(self.core)
        self.train_frames, validation_frames = split_frames(normalise_frames(frames, config.std_multiplier),
                                                            config.frame_step)
        self.validation = validation_batch(validation_frames, config)
        self.optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate)
        self.optimizer.build(self.core.trainable_variables)
        self._step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self._best = {"weights": [tf.Variable(w, trainable=False) for w in self.core.get_weights()],
                      "val_loss": tf.Variable(math.inf, dtype=tf.float64, trainable=False),
                      "epoch": tf.Variable(0, dtype=tf.int64, trainable=False)}  # epoch 0: none yet
        # Keras' jit_compile="auto" of the trainer this replaces: XLA where there is a GPU, none on a CPU.
        jit = bool(tf.config.list_physical_devices("GPU"))
        self._train_function = tf.function(self._train_on_batch, jit_compile=jit)
        self._loss_function = tf.function(self._loss_on_batch, jit_compile=jit)
        self._session = {"started": None, "steps": 0}
        self.last_val_loss = None  # the latest end_of_epoch's (the napari Train widget's readout)

    # ------------------------------------------------------------------ data
    @classmethod
    def read_data(cls, path, *, channels_axis=None):
        """The video in ``path`` (``.tif``/``.npy``/``.npz``/... via :func:`tfstem.io.read_image`), as stored."""
        return read_series(path, channels_axis)

    def data_record(self):
        return self._data_record

    # ------------------------------------------------------------------ steps
    @property
    def step(self) -> int:
        return int(self._step.numpy())

    def steps_per_epoch(self) -> int:
        """``config.steps_per_epoch``, or one patch per training frame: ``ceil(n_train / batch_size)``."""
        return self.config.steps_per_epoch or max(1, math.ceil(self.train_frames.shape[0] / self.config.batch_size))

    @classmethod
    def epoch_steps(cls, config, data_shape) -> int:
        """:meth:`steps_per_epoch` for a video of shape ``data_shape`` (``[N, H, W(, C)]``), nothing built: the
        training frames are every ``frame_step``-th of the N."""
        if config.steps_per_epoch:
            return int(config.steps_per_epoch)
        if not data_shape:
            raise ValueError(f"the epoch length of n2v needs the video's shape [N, H, W(, C)]; received {data_shape!r}.")
        frames = int(data_shape[0]) if len(data_shape) >= 3 else 1  # [H, W]: one frame
        return max(1, math.ceil(math.ceil(frames / config.frame_step) / config.batch_size))

    def batches(self, start_step: int):
        return iter(training_dataset(self.train_frames, self.config, start=start_step))

    def _train_on_batch(self, masked, packed):
        with tf.GradientTape() as tape:
            loss = packed_masked_mse(packed, self.core(masked, training=True))
        variables = self.core.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        self._step.assign_add(1)
        return loss

    def _loss_on_batch(self, masked, packed):
        return packed_masked_mse(packed, self.core(masked, training=False))

    def train_step(self, batches) -> dict:
        """One Adam step on the next masked batch; returns ``{"loss": masked MSE of this batch}`` (before the
        update, as Keras reports it)."""
        masked, packed = next(batches)
        if self._session["started"] is None:
            self._session["started"] = time.monotonic()
        loss = self._train_function(masked, packed)
        self._session["steps"] += 1
        return {"loss": float(loss)}

    def validation_loss(self) -> float:
        """Masked MSE on the fixed validation patches, in batches of ``batch_size``, averaged over patches in
        float32 as Keras' ``val_loss`` was (each batch's loss weighted by its number of patches)."""
        masked, packed = self.validation
        size = self.config.batch_size
        total, count = np.float32(0.0), np.float32(0.0)
        for start in range(0, masked.shape[0], size):
            loss = self._loss_function(tf.constant(masked[start:start + size]), tf.constant(packed[start:start + size]))
            patches = np.float32(min(size, masked.shape[0] - start))
            total, count = np.float32(total + np.float32(loss.numpy()) * patches), np.float32(count + patches)
        return float(total / count)

    def _keep_if_best(self, val_loss: float, epoch: int) -> None:
        if val_loss < float(self._best["val_loss"].numpy()):
            for variable, weight in zip(self._best["weights"], self.core.weights):
                variable.assign(weight)
            self._best["val_loss"].assign(val_loss)
            self._best["epoch"].assign(epoch)

    def end_of_epoch(self, epoch: int, means: dict) -> dict:
        """Validation loss; the weights are kept if it is the lowest so far."""
        self.last_val_loss = self.validation_loss()
        self._keep_if_best(self.last_val_loss, epoch)
        return {"val_loss": self.last_val_loss}

    def trackables(self) -> dict:
        return {"core": self.core, "optimizer": self.optimizer, "step": self._step,
                "best_weights": self._best["weights"], "best_val_loss": self._best["val_loss"],
                "best_epoch": self._best["epoch"]}

    # ------------------------------------------------------------------ the end
    def finish(self, stopped: str) -> dict:
        """Validate a run stopped within an epoch (budget, Stop, ``steps``) as Keras did, then set the core
        to the best weights: the deployable model is the lowest validation loss's.

        Returns
        -------
        dict
            ``best_epoch`` (int or None: none validated), ``best_val_loss`` (float), ``images_per_second``
            (training patches per second of this session, validation included).
        """
        per_epoch = self.steps_per_epoch()
        if stopped != "non_finite" and self.step % per_epoch:
            self._keep_if_best(self.validation_loss(), self.step // per_epoch + 1)
        best_epoch = int(self._best["epoch"].numpy())
        if best_epoch:
            self.core.set_weights([v.numpy() for v in self._best["weights"]])
        started, steps = self._session["started"], self._session["steps"]
        seconds = time.monotonic() - started if started is not None else 0.0
        return {"best_epoch": best_epoch or None, "best_val_loss": float(self._best["val_loss"].numpy()),
                "images_per_second": steps * self.config.batch_size / seconds if seconds > 0 else math.nan,
                "collapse": self.check_collapse()}

    def check_collapse(self) -> dict:
        """:func:`tfstem.training.collapse.check_collapse` on a few training frames (warns when collapsed)."""
        model = self.deployable()
        out = np.concatenate([np.asarray(model(self._check_frames[i:i + 2], training=False))
                              for i in range(0, len(self._check_frames), 2)])
        return check_collapse(self._check_frames, out, method="n2v", advice=COLLAPSE_ADVICE)

    def deployable(self):
        """Raw frames in, denoised frames out (:func:`~tfstem.n2v.unet.build_n2v_unet` around a copy of the core:
        a ``.keras`` file of it needs only :mod:`tfstem.n2v.unet` to load)."""
        return build_n2v_unet(core=float32_model(self.core), std_multiplier=self.config.std_multiplier,
                              name="n2v_unet")

    # ------------------------------------------------------------------ command line
    @classmethod
    def add_arguments(cls, parser) -> None:
        """``--from-model``: transfer training (the other options: ``--preset``, ``--set KEY=VALUE``)."""
        parser.add_argument("--from-model", default=None, metavar="MODEL",
                            help="transfer training: a trained N2V model (.keras) to continue from; its "
                                 "architecture replaces the preset's")

    @classmethod
    def cli_options(cls, args) -> dict:
        from_model = getattr(args, "from_model", None)
        return {"from_model": from_model} if from_model else {}


METHOD = N2V
