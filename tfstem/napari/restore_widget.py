"""The napari "Restore" widget: restore an image layer with a tfstem model, in a worker thread.

The model is a registry name (:func:`tfstem.list_models`), a model trained in napari
(:mod:`tfstem.napari.trained_models`, listed as ``trained: <file>``) or a ``.keras`` file picked with the
file chooser. The layer's frames (``[H, W]`` or ``[..., H, W]``; with a second channel layer, the two
stacked as ``[N, H, W, 2]`` for a dual-channel model) are restored a few at a time by :func:`tfstem.restore`
in a :func:`napari.qt.threading.thread_worker`, which moves the progress bar after each batch. The result
is added as a new layer with the input layer's scale, translate, units and axis labels; a bad input or
model is shown as a one-line napari notification.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from magicgui import widgets

from tfstem.napari import import_tensorflow, trained_models

__all__ = ["RestoreWidget", "layer_geometry", "stack_channels", "split_channels", "FRAMES_PER_CALL"]

#: Frames restored per call of :func:`tfstem.restore` (one progress step each).
FRAMES_PER_CALL = 4


def layer_geometry(layer) -> dict:
    """``scale``, ``translate``, ``units`` and ``axis_labels`` of ``layer``, to give a derived layer."""
    return dict(scale=tuple(layer.scale), translate=tuple(layer.translate), units=tuple(layer.units),
                axis_labels=tuple(layer.axis_labels))


def stack_channels(first, second=None) -> np.ndarray:
    """The frames of one or two layers as ``[N, H, W, C]`` (C = 1 or 2), in the layers' dtype.

    Parameters
    ----------
    first, second : array_like
        Layer data ``[H, W]`` or ``[..., H, W]`` (leading axes are flattened into N); ``second`` (optional)
        must have ``first``'s shape.

    Raises
    ------
    ValueError
        A layer of fewer than 2 dimensions, or two layers of different shapes.
    """
    first = np.asarray(first)
    if first.ndim < 2:
        raise ValueError(f"the image layer must be at least 2-D [H, W]; received shape {first.shape}.")
    planes = [first]
    if second is not None:
        second = np.asarray(second)
        if second.shape != first.shape:
            raise ValueError(f"the second channel layer must have the image layer's shape {first.shape}; "
                             f"received {second.shape}.")
        planes.append(second)
    return np.stack([p.reshape((-1,) + first.shape[-2:]) for p in planes], axis=-1)


def split_channels(frames: np.ndarray, shape: tuple) -> list[np.ndarray]:
    """Undo :func:`stack_channels`: ``[N, H, W, C]`` -> C arrays of the layer ``shape``."""
    return [frames[..., c].reshape(shape) for c in range(frames.shape[-1])]


def _image_layers(viewer, *, nullable: bool):
    from napari.layers import Image

    def choices(_widget=None):
        found = [(layer.name, layer) for layer in viewer.layers if isinstance(layer, Image) and not layer.rgb]
        return ([("none", None)] if nullable else []) + found
    return choices


def _restore_job(frames, model_ref, loaded: dict, tile_size):
    """Generator run in the worker thread: yields ``(done, total)`` frames, returns a result dict.

    Every exception becomes ``{"error": message}`` so that the GUI shows a notification, not a traceback.
    """
    try:
        import_tensorflow()  # before anything else imports it: see tfstem.napari.import_tensorflow
        import tfstem

        model = loaded.get(model_ref)
        if model is None:
            model = loaded[model_ref] = tfstem.load_model(model_ref)
        total = frames.shape[0]
        restored = np.empty(frames.shape, np.float32)
        yield 0, total
        for start in range(0, total, FRAMES_PER_CALL):
            stop = min(start + FRAMES_PER_CALL, total)
            restored[start:stop] = tfstem.restore(frames[start:stop], model=model, tile_size=tile_size,
                                                  verbose=False)
            yield stop, total
        return {"restored": restored}
    except Exception as error:  # shown to the user in one line; the worker must not raise into Qt
        text = " ".join(str(error).split()) or type(error).__name__
        return {"error": text if isinstance(error, (ValueError, OSError, ImportError))
                else f"{type(error).__name__}: {text}"}


class RestoreWidget(widgets.Container):
    """Dock widget: restore the chosen image layer with a tfstem model into a new layer.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose image layers are offered and which receives the result.

    Attributes
    ----------
    worker : napari.qt.threading.GeneratorWorker or None
        The running (or last) restore job, for scripts and tests.
    last_result : list of napari.layers.Image
        The layers added by the last successful run.
    """

    def __init__(self, viewer: napari.viewer.Viewer):  # noqa: F821 (napari's injection reads the name)
        super().__init__(labels=True)
        self.viewer = viewer
        self.worker = None
        self.last_result = []
        self._loaded = {}  # model reference -> loaded model, reused between runs
        self._files = []  # .keras files picked with the chooser
        self.image = widgets.ComboBox(label="image", choices=_image_layers(viewer, nullable=False),
                                      tooltip="Image layer to restore: [H, W] or a stack [N, H, W].")
        self.second = widgets.ComboBox(label="second channel", choices=_image_layers(viewer, nullable=True),
                                       tooltip="For a dual-channel model (N2V ADF + BF): the other channel.")
        self.model = widgets.ComboBox(label="model", choices=self._model_choices,
                                      tooltip="A tfstem model, one trained in napari, or a file picked below.")
        self.model_file = widgets.FileEdit(label="model file", mode="r", filter="*.keras",
                                           tooltip="A .keras model file; it is added to the model list.")
        self.tile_size = widgets.SpinBox(label="tile size", value=0, min=0, max=8192, step=32,
                                         tooltip="0: whole frames up to 1024 x 1024, larger ones in tiles of 512.")
        self.run_button = widgets.PushButton(text="Restore")
        self.progress = widgets.ProgressBar(label="progress", value=0, min=0, max=1)
        self.status = widgets.Label(label="", value="")
        self.extend([self.image, self.second, self.model, self.model_file, self.tile_size, self.run_button,
                     self.progress, self.status])
        self.model_file.changed.connect(self._on_model_file)
        self.run_button.changed.connect(self.run)
        for event in (viewer.layers.events.inserted, viewer.layers.events.removed,
                      viewer.layers.events.reordered):
            event.connect(self._reset_layers)
        trained_models.on_change(self._on_trained)
        self.native.destroyed.connect(self._disconnect)

    # ------------------------------------------------------------------ choices
    def _model_choices(self, _widget=None):
        import tfstem

        choices = [(name, name) for name in tfstem.list_models()]
        choices += [(f"trained: {path.name}", str(path)) for path in trained_models.list_trained_models()]
        choices += [(f"file: {path.name}", str(path)) for path in self._files]
        return choices

    def _reset_layers(self, _event=None):
        self.image.reset_choices()
        self.second.reset_choices()

    def _on_trained(self, path):
        self.model.reset_choices()
        self.model.value = str(path)

    def _on_model_file(self, value):
        path = Path(value)
        if path.is_file():
            if path not in self._files:
                self._files.append(path)
            self.model.reset_choices()
            self.model.value = str(path)

    def _disconnect(self, *_):
        trained_models.on_change(self._on_trained, remove=True)

    @property
    def running(self) -> bool:
        """Whether a restore job is under way (from :meth:`run` until its worker has finished)."""
        return not self.run_button.enabled

    # ------------------------------------------------------------------ the job
    def run(self, *_):
        """Start restoring the chosen layer (in a worker thread); returns the worker, or None on bad input."""
        from napari.qt.threading import thread_worker
        from napari.utils.notifications import show_error

        layer, second = self.image.value, self.second.value
        if layer is None:
            show_error("Restore: no image layer; open an image first (File > Open, or a tfstem sample).")
            return None
        if second is not None and second.name == layer.name:  # names are unique in a viewer
            second = None
        try:
            frames = stack_channels(layer.data, None if second is None else second.data)
        except ValueError as error:
            show_error(f"Restore: {error}")
            return None
        model_ref = self.model.value
        tile_size = int(self.tile_size.value) or None
        shape = np.shape(layer.data)
        self.progress.max, self.progress.value = frames.shape[0], 0
        self.status.value = f"restoring {frames.shape[0]} frame(s) with {Path(str(model_ref)).name}..."
        self.run_button.enabled = False
        worker = thread_worker(_restore_job, start_thread=False)(frames, model_ref, self._loaded, tile_size)
        worker.yielded.connect(self._on_progress)
        worker.returned.connect(lambda result: self._on_done(result, layer, second, shape, model_ref))
        worker.finished.connect(lambda: setattr(self.run_button, "enabled", True))
        self.worker = worker
        worker.start()
        return worker

    def _on_progress(self, value):
        done, total = value
        self.progress.max, self.progress.value = max(total, 1), done

    def _on_done(self, result, layer, second, shape, model_ref):
        from napari.utils.notifications import show_error

        if "error" in result:
            self.status.value = "failed"
            show_error(f"Restore with {model_ref}: {result['error']}")
            return
        model_name = Path(str(model_ref)).stem if Path(str(model_ref)).suffix else str(model_ref)
        sources = [layer] if second is None else [layer, second]
        self.last_result = []
        for source, plane in zip(sources, split_channels(result["restored"], shape)):
            metadata = dict(source.metadata)
            metadata["tfstem_restore"] = {"model": str(model_ref), "source_layer": source.name}
            self.last_result.append(self.viewer.add_image(
                plane, name=f"{source.name} restored ({model_name})", metadata=metadata,
                colormap=source.colormap.name, blending=source.blending, **layer_geometry(source)))
        self.status.value = f"done: {len(self.last_result)} layer(s) added"
