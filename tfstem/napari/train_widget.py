"""The napari "Train" widget: dual-channel Noise2Void or Noise2Atom on an image layer, with a live loss readout.

Training runs N2V on :func:`tfstem.training.train` (its ``callback`` receives each step's loss; the epoch's
validation loss is read from the method) or
:func:`tfstem.noise2atom.fit` (its ``callback`` receives each iteration's losses; it returns a
:class:`~tfstem.training.loop.FitResult`) in a
:func:`napari.qt.threading.thread_worker`. The callbacks put ``(what, step, losses)`` on a queue that a
``QTimer`` in the GUI thread reads every :data:`POLL_MS` ms to update the readout and the budget bar
(no Qt call from the worker thread). **Stop** ends training cleanly after the current step. The model is
saved by :func:`tfstem.napari.trained_models.save_trained_model` (the user cache folder, or the folder
chosen in the widget) and then offered by every open Restore widget.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

from magicgui import widgets

from tfstem.napari import import_tensorflow, trained_models
from tfstem.napari.restore_widget import _image_layers, stack_channels

__all__ = ["TrainWidget", "METHODS", "DEFAULTS", "fit_patch_size", "train_job"]

#: Label in the method list -> method key.
METHODS = {"Noise2Void (N2V2, dual-channel)": "n2v", "Noise2Atom": "noise2atom"}
#: Widget defaults per method: the paper's epochs, width and patch (Noise2Atom: its ``cpu`` preset).
DEFAULTS = {"n2v": dict(epochs=32, features=64, patch_size=256),
            "noise2atom": dict(epochs=100, features=16, patch_size=128)}
#: Noise2Atom preset the widget trains with (the 30-minute CPU one; see ``models/noise2atom.json``).
NOISE2ATOM_PRESET = "cpu"
#: How often the GUI reads the worker's loss queue, in milliseconds.
POLL_MS = 200


def fit_patch_size(requested: int, height: int, width: int, *, minimum: int = 16) -> int:
    """The largest multiple of 16 that is at most ``requested`` and fits in ``height`` x ``width`` pixels.

    Raises
    ------
    ValueError
        The frames are smaller than ``minimum`` (then no patch fits).
    """
    size = min(int(requested), int(height), int(width)) // 16 * 16
    if size < minimum:
        raise ValueError(f"frames of {height} x {width} pixels are too small to train on; "
                         f"they need at least {minimum} x {minimum}.")
    return size


def train_job(frames, method: str, settings: dict, *, updates: queue.Queue, stop: threading.Event,
              source: str, output_dir=None, record=None) -> dict:
    """Train ``method`` on ``frames`` and save the model; run in the worker thread.

    Parameters
    ----------
    frames : numpy.ndarray
        ``[N, H, W, C]`` raw frames (C = 1, or 2 for N2V's ADF + BF).
    method : {"n2v", "noise2atom"}
    settings : dict
        ``epochs``, ``max_minutes``, ``features``, ``patch_size`` (and for tests any other config field
        under ``"options"``).
    updates : queue.Queue
        Receives ``("step", iteration, {loss: value})`` after every step and ``("epoch", epoch, {...})``
        after every N2V epoch.
    stop : threading.Event
        Set it to end training after the current step.
    source : str
        Name of the layer (for the file name and the record).
    output_dir : str or Path, optional
        Folder for the model (default :func:`tfstem.napari.trained_models.models_dir`).
    record : dict, optional
        More facts for the model's JSON record (pixel size, unit).

    Returns
    -------
    dict
        ``path`` (the saved ``.keras`` file), ``steps``, ``seconds``, ``stopped``; or ``error`` (one line)
        when anything failed, so that the GUI shows a notification rather than a traceback.
    """
    try:
        import_tensorflow()  # before anything else imports it: see tfstem.napari.import_tensorflow
        start = time.monotonic()
        options = dict(settings.get("options", {}))
        height, width = frames.shape[1:3]
        patch = fit_patch_size(settings["patch_size"], height, width, minimum=16 if method == "n2v" else 48)
        if method == "n2v":
            from tfstem.training.fit import build_method
            from tfstem.training.loop import train

            job = build_method("n2v", frames, epochs=settings["epochs"], features=settings["features"],
                               patch_size=patch, **options)
            per_epoch, epoch_losses = job.steps_per_epoch(), []

            def report(step, losses):
                updates.put(("step", step, {"loss": losses["loss"]}))
                epoch_losses.append(losses["loss"])
                if step % per_epoch == 0:  # the loop has just measured this epoch's validation loss
                    updates.put(("epoch", step // per_epoch, {"loss": sum(epoch_losses) / len(epoch_losses),
                                                              "val_loss": job.last_val_loss}))
                    epoch_losses.clear()
                return stop.is_set()

            result = train(job, max_minutes=settings["max_minutes"], verbose=False, callback=report)
            model = result.model
            summary = dict(steps=result.steps, stopped=result.stopped, best_val_loss=result.extra["best_val_loss"])
        elif method == "noise2atom":
            import tfstem.noise2atom

            if frames.shape[-1] != 1:
                raise ValueError(f"Noise2Atom trains on one channel; received {frames.shape[-1]} "
                                 "(set 'second channel' to none).")

            def report(iteration, losses):  # None: a term the iteration skipped (the cpu preset's warm-up)
                updates.put(("step", iteration, {k: float(v) for k, v in losses.items() if v is not None}))
                return stop.is_set()  # True stops the run after this iteration (stopped="callback")

            result = tfstem.noise2atom.fit(
                frames[..., 0], epochs=settings["epochs"], max_minutes=settings["max_minutes"], verbose=False,
                preset=NOISE2ATOM_PRESET, callback=report, features=settings["features"], patch_size=patch,
                **options)
            model = result.model
            summary = dict(steps=result.steps, stopped=result.stopped)
        else:
            raise ValueError(f"method must be one of {sorted(set(METHODS.values()))}; received {method!r}.")
        seconds = time.monotonic() - start
        path = trained_models.save_trained_model(
            model, method=method, source=source, output_dir=output_dir,
            record={**(record or {}), **summary, "channels": int(frames.shape[-1]), "patch_size": patch,
                    "epochs": settings["epochs"], "features": settings["features"], "seconds": seconds})
        return {"path": path, "seconds": seconds, **summary}
    except Exception as error:  # shown to the user in one line; the worker must not raise into Qt
        text = " ".join(str(error).split()) or type(error).__name__
        return {"error": text if isinstance(error, (ValueError, OSError, ImportError))
                else f"{type(error).__name__}: {text}"}


def format_losses(what: str, step: int, losses: dict) -> str:
    """One readout line, e.g. ``"step 12: loss 0.0123"`` or ``"epoch 2: loss 0.012, val_loss 0.011"``."""
    shown = {k: v for k, v in losses.items() if k in ("loss", "val_loss", "cycle", "lfc", "gan")}
    return f"{what} {step}: " + ", ".join(f"{k} {v:.4g}" for k, v in shown.items())


class TrainWidget(widgets.Container):
    """Dock widget: train N2V or Noise2Atom on an image layer within a minutes budget.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose image layers are offered.

    Attributes
    ----------
    worker : napari.qt.threading.FunctionWorker or None
        The running (or last) training job.
    losses : list of (str, int, dict)
        Every loss report of the last run, in order (the readout shows the latest).
    last_result : dict
        What :func:`train_job` returned for the last run.
    config_overrides : dict
        Extra config fields passed to the method's ``fit`` (empty in the GUI; scripts and tests may set
        e.g. ``steps_per_epoch``).
    """

    def __init__(self, viewer: napari.viewer.Viewer):  # noqa: F821 (napari's injection reads the name)
        from qtpy.QtCore import QTimer

        super().__init__(labels=True)
        self.viewer = viewer
        self.worker = None
        self.losses = []
        self.last_result = {}
        self.config_overrides = {}
        self._updates = queue.Queue()
        self._stop = threading.Event()
        self._started = None
        self.method = widgets.ComboBox(label="method", choices=list(METHODS), value=list(METHODS)[0])
        self.image = widgets.ComboBox(label="image", choices=_image_layers(viewer, nullable=False),
                                      tooltip="Noisy frames [N, H, W] (N2V: the ADF channel).")
        self.second = widgets.ComboBox(label="second channel", choices=_image_layers(viewer, nullable=True),
                                       tooltip="N2V only: the simultaneous BF channel (dual-channel N2V).")
        self.max_minutes = widgets.FloatSpinBox(label="budget (min)", value=10.0, min=0.05, max=10080.0, step=1.0,
                                                tooltip="Training stops cleanly once this wall-clock budget is spent.")
        self.epochs = widgets.SpinBox(label="epochs", value=DEFAULTS["n2v"]["epochs"], min=1, max=100000)
        self.features = widgets.SpinBox(label="features", value=DEFAULTS["n2v"]["features"], min=1, max=512,
                                        tooltip="Width of the network's first level (smaller trains faster).")
        self.patch_size = widgets.SpinBox(label="patch size", value=DEFAULTS["n2v"]["patch_size"], min=16,
                                          max=4096, step=16, tooltip="Training crops (px, multiple of 16); "
                                          "capped at the frame size.")
        self.output_dir = widgets.FileEdit(label="save in", mode="d", value="",
                                           tooltip=f"Empty: {trained_models.models_dir()}")
        self.train_button = widgets.PushButton(text="Train")
        self.stop_button = widgets.PushButton(text="Stop", enabled=False)
        self.progress = widgets.ProgressBar(label="budget", value=0, min=0, max=100)
        self.readout = widgets.Label(label="loss", value="")
        self.status = widgets.Label(label="", value="")
        self.extend([self.method, self.image, self.second, self.max_minutes, self.epochs, self.features,
                     self.patch_size, self.output_dir, widgets.Container(widgets=[self.train_button, self.stop_button],
                                                                         layout="horizontal", labels=False),
                     self.progress, self.readout, self.status])
        self.method.changed.connect(self._on_method)
        self.train_button.changed.connect(self.run)
        self.stop_button.changed.connect(self.stop)
        for event in (viewer.layers.events.inserted, viewer.layers.events.removed,
                      viewer.layers.events.reordered):
            event.connect(self._reset_layers)
        self._timer = QTimer(self.native)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)

    @property
    def method_key(self) -> str:
        """``"n2v"`` or ``"noise2atom"``."""
        return METHODS[self.method.value]

    @property
    def running(self) -> bool:
        """Whether training is under way (from :meth:`run` until its worker has finished)."""
        return not self.train_button.enabled

    def _reset_layers(self, _event=None):
        self.image.reset_choices()
        self.second.reset_choices()

    def _on_method(self, _value=None):
        defaults = DEFAULTS[self.method_key]
        self.epochs.value, self.features.value, self.patch_size.value = (
            defaults["epochs"], defaults["features"], defaults["patch_size"])
        self.second.enabled = self.method_key == "n2v"
        if self.method_key != "n2v":
            self.second.value = None

    # ------------------------------------------------------------------ the job
    def run(self, *_):
        """Start training on the chosen layer(s) in a worker thread; returns the worker, or None on bad input."""
        from napari.qt.threading import thread_worker
        from napari.utils.notifications import show_error

        from tfstem import outputs

        layer, second = self.image.value, self.second.value
        if layer is None:
            show_error("Train: no image layer; open a noisy series first (File > Open, or a tfstem sample).")
            return None
        if second is not None and (second.name == layer.name or self.method_key != "n2v"):
            second = None
        output_dir = str(self.output_dir.value) if str(self.output_dir.value) not in ("", ".") else None
        try:
            frames = stack_channels(layer.data, None if second is None else second.data)
            outputs.check_directory_writable(output_dir or trained_models.models_dir(), what="save in")
        except (ValueError, OSError) as error:
            show_error(f"Train: {error}")
            return None
        meta = layer.metadata.get("tfstem", {}) if isinstance(layer.metadata, dict) else {}
        record = {"pixel_size": meta.get("pixel_size"), "unit": meta.get("unit"),
                  "layers": [layer.name] + ([second.name] if second is not None else [])}
        settings = dict(epochs=int(self.epochs.value), max_minutes=float(self.max_minutes.value),
                        features=int(self.features.value), patch_size=int(self.patch_size.value),
                        options=dict(self.config_overrides))
        self.losses, self.last_result = [], {}
        self._updates, self._stop = queue.Queue(), threading.Event()
        self.progress.value, self.readout.value = 0, ""
        self.status.value = f"training {self.method_key} on {frames.shape[0]} frame(s)..."
        self.train_button.enabled, self.stop_button.enabled = False, True
        worker = thread_worker(train_job, start_thread=False)(
            frames, self.method_key, settings, updates=self._updates, stop=self._stop, source=layer.name,
            output_dir=output_dir, record=record)
        worker.returned.connect(self._on_done)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self._started = time.monotonic()
        self._timer.start()
        worker.start()
        return worker

    def stop(self, *_):
        """End training after the current step; the model so far is saved."""
        self._stop.set()
        self.status.value = "stopping after this step..."

    def _poll(self):
        latest = None
        while True:
            try:
                latest = self._updates.get_nowait()
            except queue.Empty:
                break
            self.losses.append(latest)
        if latest is not None:
            self.readout.value = format_losses(*latest)
        if self._started is not None:
            budget = 60.0 * float(self.max_minutes.value)
            self.progress.value = min(100, int(100 * (time.monotonic() - self._started) / budget))

    def _on_done(self, result):
        from napari.utils.notifications import show_error, show_info

        self._poll()
        self.last_result = result
        if "error" in result:
            self.status.value = "failed"
            show_error(f"Train {self.method_key}: {result['error']}")
            return
        trained_models.announce(result["path"])
        self.status.value = f"saved {Path(result['path']).name} ({result['steps']} steps, {result['seconds']:.0f} s)"
        show_info(f"Trained model saved: {result['path']}; it is in the Restore widget's model list.")

    def _on_finished(self):
        self._timer.stop()
        self._started = None
        self.train_button.enabled, self.stop_button.enabled = True, False
