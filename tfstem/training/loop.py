"""The one training loop of tfstem: every method (:class:`~tfstem.training.method.Method`) runs through it.

What it does the same way for every method: steps and epochs; the wall-clock budget; a guard that stops at
the first non-finite loss and goes back to the last good checkpoint; Ctrl-C that finishes the step, saves and
returns (:mod:`~tfstem.training.interrupt`); a tqdm bar; the history; TensorBoard scalars and image panels;
checkpoints and resume; the run folder (:mod:`~tfstem.training.run_folder`)::

    <output_dir>/config.json      the config, the method and a fingerprint of the data (checked on resume)
                 history.json     every step's losses and wall time, every epoch's means, how the run stopped
                 checkpoints/     tf.train checkpoints (every epoch, every ``checkpoint_every`` steps, at the end)
                 logs/            TensorBoard
                 model.keras      the deployable model
                 serving/<v>/     with ``export=True``: a TF Serving SavedModel (``tfstem.export``)
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
import warnings
from pathlib import Path

import tensorflow as tf

from tfstem.outputs import atomic_file, write_json
from tfstem.training import summaries
from tfstem.training.interrupt import StopOnInterrupt
from tfstem.training.run_folder import DATA_KEY, clear_previous_run, prepare_run_folder

__all__ = ["train", "FitResult", "RUN_OUTPUTS", "STOP_REASONS"]

#: What a run writes in its folder; any of them marks an earlier run.
RUN_OUTPUTS = ("config.json", "history.json", "checkpoints", "model.keras", "logs", "serving")

#: How a run can end (``FitResult.stopped``, ``history.json``'s ``stopped``).
STOP_REASONS = ("completed", "max_minutes", "interrupted", "callback", "early_stop", "non_finite")


@dataclasses.dataclass
class FitResult:
    """What :func:`tfstem.fit` (and :func:`train`) return, the same for every method.

    Attributes
    ----------
    model : keras.Model
        The deployable model (input ``image`` float32 ``[N, H, W, C]`` raw intensities, any H and W), ready
        for :func:`tfstem.restore` and :func:`tfstem.export.export_model`.
    history : dict
        ``step`` and ``seconds`` (lists, one entry per step run so far, resumed sessions included), ``losses``
        (name -> list of float or None, None where the step skipped the term), ``epochs`` (one dict of mean
        losses and method extras per finished epoch), ``events`` and ``stopped``.
    config : dataclass
        The method's config the run used.
    run_folder : Path or None
        The run folder, if there is one.
    stopped : str
        One of :data:`STOP_REASONS` (``"completed"``: every step ran).
    method : str
        ``"r_em"``, ``"noise2atom"`` or ``"n2v"``.
    extra : dict
        Method-specific results (e.g. Noise2Atom's mapping correlation, N2V's best epoch) and, for the
        methods that check it, ``collapse``: :func:`tfstem.training.collapse.check_collapse`'s verdict.
    """

    model: object
    history: dict
    config: object
    run_folder: Path | None
    stopped: str
    method: str
    extra: dict = dataclasses.field(default_factory=dict)

    @property
    def collapsed(self) -> bool:
        """True when the trained model returns an almost flat image (``extra["collapse"]``; a warning said so)."""
        return bool(self.extra.get("collapse", {}).get("collapsed", False))

    @property
    def steps(self) -> int:
        """Steps completed (resumed sessions included)."""
        return self.history["step"][-1] if self.history["step"] else 0

    @property
    def seconds(self) -> float:
        """Training wall time in seconds (resumed sessions included)."""
        return self.history["seconds"][-1] if self.history["seconds"] else 0.0


# ---------------------------------------------------------------------------------------------- run folder
class RunFolder:
    """The output folder of one run: checked before any work, written only once there is something to keep."""

    def __init__(self, directory, record: dict, *, resume: bool, force: bool, writer: bool, may_change=()):
        self.directory = Path(directory)
        self.record = record
        self.writer = writer  # False on a non-chief worker: it reads the folder, never writes it
        self.resuming = prepare_run_folder(self.directory, record, resume=resume, force=force, outputs=RUN_OUTPUTS,
                                           record_file="config.json", what="output_dir", may_change=may_change)
        self.started = self.resuming
        self._summary_writer = None

    def start(self) -> None:
        """Before the first file of a fresh run: remove an earlier run's outputs (``force``), write the record."""
        if self.started or not self.writer:
            return
        clear_previous_run(self.directory, RUN_OUTPUTS)
        self.directory.mkdir(parents=True, exist_ok=True)
        write_json(self.directory / "config.json", self.record, force=True)
        self.started = True

    @property
    def checkpoints(self) -> Path:
        return self.directory / "checkpoints"

    def summary_writer(self):
        if self._summary_writer is None and self.writer:
            self.start()
            self._summary_writer = tf.summary.create_file_writer(str(self.directory / "logs"))
        return self._summary_writer

    def read_history(self) -> dict | None:
        path = self.directory / "history.json"
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except ValueError:
            return None

    def write_history(self, history: dict) -> None:
        if self.writer:
            self.start()
            write_json(self.directory / "history.json", history, force=True)

    def save_model(self, model) -> None:
        if self.writer:
            self.start()
            with atomic_file(self.directory / "model.keras", force=True) as partial:
                model.save(partial)

    def export(self, model) -> Path | None:
        """``serving/<v>/``, ``v`` one more than the newest version there (TF Serving serves the newest)."""
        if not self.writer:
            return None
        from tfstem.export import export_model

        serving = self.directory / "serving"
        versions = [int(p.name) for p in serving.glob("*") if p.name.isdigit()] if serving.exists() else []
        return export_model(model, self.directory, name="serving", version=max(versions, default=0) + 1)

    def close(self) -> None:
        if self._summary_writer is not None:
            self._summary_writer.flush()


# ---------------------------------------------------------------------------------------------- history
def _new_history(method_name: str) -> dict:
    return {"method": method_name, "step": [], "seconds": [], "losses": {}, "epochs": [], "events": [],
            "stopped": None}


def _truncated(history: dict, step: int, method_name: str) -> dict:
    """A saved history cut back to ``step`` (the restored checkpoint's): later entries were not kept."""
    if not history or history.get("method") != method_name:
        return _new_history(method_name)
    keep = sum(1 for s in history["step"] if s <= step)
    out = _new_history(method_name)
    out["step"], out["seconds"] = history["step"][:keep], history["seconds"][:keep]
    out["losses"] = {k: v[:keep] for k, v in history["losses"].items()}
    out["epochs"] = [e for e in history["epochs"] if e.get("step", 0) <= step]
    out["events"] = [e for e in history["events"] if e.get("step", 0) <= step]
    return out


def _append(history: dict, step: int, seconds: float, losses: dict) -> None:
    n = len(history["step"])
    history["step"].append(step)
    history["seconds"].append(seconds)
    for name, value in losses.items():
        history["losses"].setdefault(name, [None] * n).append(None if value is None else float(value))
    for name, values in history["losses"].items():
        if len(values) < n + 1:
            values.append(None)


def _epoch_means(history: dict, per_epoch: int) -> dict:
    """Mean of each loss over the last ``per_epoch`` steps (None entries skipped)."""
    means = {}
    for name, values in history["losses"].items():
        kept = [v for v in values[-per_epoch:] if v is not None]
        means[name] = sum(kept) / len(kept) if kept else None
    return means


def _non_finite(losses: dict) -> list:
    return [name for name, value in losses.items() if value is not None and not math.isfinite(float(value))]


# ---------------------------------------------------------------------------------------------- the loop
def _check_options(epochs, steps, max_minutes):
    if epochs is not None and (int(epochs) != epochs or epochs < 1):
        raise ValueError(f"epochs must be a positive integer or None; received epochs={epochs!r}.")
    if steps is not None and (int(steps) != steps or steps < 1):
        raise ValueError(f"steps must be a positive integer or None; received steps={steps!r}.")
    if max_minutes is not None and not max_minutes > 0:
        raise ValueError(f"max_minutes must be positive or None; received max_minutes={max_minutes!r}.")


def prepare(method, *, output_dir=None, resume: bool = False, force: bool = False) -> RunFolder | None:
    """Apply the run-folder rule before the method is built; returns the :class:`RunFolder` (or None)."""
    if output_dir is None:
        if resume:
            raise ValueError("resume needs output_dir (the folder of the run to continue).")
        return None
    record = {**method.config.to_dict(), "_method": method.name, DATA_KEY: method.data_record()}
    return RunFolder(output_dir, record, resume=resume, force=force, writer=method.is_chief,
                     may_change=method.may_change_on_resume)


def train(method, *, output_dir=None, resume: bool = False, force: bool = False, epochs: int | None = None,
          steps: int | None = None, max_minutes: float | None = None, verbose: bool = True, callback=None,
          export: bool = False) -> FitResult:
    """Train ``method`` (a built :class:`~tfstem.training.method.Method`) and return a :class:`FitResult`.

    Parameters
    ----------
    method : Method
        Networks, optimizers and data of one paper's method, built from its config.
    output_dir : path-like, optional
        The run folder (layout in the module docstring). Without it nothing is written and nothing resumes.
    resume : bool
        Continue the run in ``output_dir`` from its newest checkpoint; its ``config.json`` must match (same
        method, options and data), otherwise ValueError says what differs. Never silent: without ``resume``
        or ``force`` a folder holding a run raises FileExistsError before any step.
    force : bool
        Start afresh in a folder holding an earlier run (removed when the new run writes its first file).
    epochs : int, optional
        Default ``config.epochs``.
    steps : int, optional
        Stop after this many steps in total (resumed sessions included); default ``epochs`` full epochs.
    max_minutes : float, optional
        Wall-clock budget of this call: stop cleanly after the step that crosses it (``--resume`` goes on).
    verbose : bool
        Progress bar and a line when the run stops early.
    callback : callable, optional
        ``callback(step, losses)`` after every step (step count from 1; dict of float or None); returning
        True stops the run after that step (``stopped="callback"``), e.g. the napari Train widget's Stop.
    export : bool
        Also write ``output_dir/serving/<version>/`` (a TF Serving SavedModel).

    Returns
    -------
    FitResult

    Raises
    ------
    FloatingPointError
        A non-finite loss before any checkpoint was saved (nothing good to go back to).
    """
    from tqdm.auto import tqdm

    _check_options(epochs, steps, max_minutes)
    config = method.config
    per_epoch = int(method.steps_per_epoch())
    total = int(steps) if steps is not None else int(epochs or config.epochs) * per_epoch
    folder = prepare(method, output_dir=output_dir, resume=resume, force=force)
    checkpoint = tf.train.Checkpoint(**_with_random_states(method.trackables()))
    manager = None
    if folder is not None:
        directory = method.scratch_directory(folder.directory) or folder.checkpoints
        manager = tf.train.CheckpointManager(checkpoint, str(directory), max_to_keep=method.keep_checkpoints)
    history = _new_history(method.name)
    if folder is not None and folder.resuming:
        latest = tf.train.latest_checkpoint(str(folder.checkpoints))
        if latest:
            checkpoint.restore(latest).assert_existing_objects_matched()
            if verbose and method.is_chief:
                print(f"{method.name}: resumed from {latest} (step {method.step})", file=sys.stderr)
        history = _truncated(folder.read_history(), method.step, method.name)
    start = method.step
    offset = history["seconds"][-1] if history["seconds"] else 0.0
    stopped, extra, last_saved = "completed", {}, (start if start else None)

    def save_checkpoint():
        nonlocal last_saved
        if manager is not None and last_saved != method.step:
            if folder is not None:
                folder.start()
            manager.save(checkpoint_number=method.step)
            last_saved = method.step
            if folder is not None:
                folder.write_history(history)

    batches = method.batches(start) if start < total else None
    bar = tqdm(total=total, initial=start, desc=method.name, dynamic_ncols=True,
               disable=not (verbose and method.is_chief))
    t0 = time.monotonic()
    with StopOnInterrupt() as interrupt:
        while method.step < total:
            losses = method.train_step(batches)
            step = method.step
            _append(history, step, offset + time.monotonic() - t0, losses)
            bar.update(1)
            bar.set_postfix({k: f"{losses[k]:.4g}" for k in method.progress_keys if losses.get(k) is not None})
            bad = _non_finite(losses)
            if bad:
                stopped = "non_finite"
                history["events"].append({"step": step, "event": f"non-finite {', '.join(bad)}"})
                break
            writer = folder.summary_writer() if folder is not None and method.log_every else None
            if writer is not None and step % method.log_every == 0:
                summaries.write_scalars(writer, "loss", losses, step)
                summaries.write_scalars(writer, "", method.log_scalars(), step)
            if folder is not None and method.image_every and (step % method.image_every == 0 or step == total):
                panel = method.preview()
                if panel is not None and folder.summary_writer() is not None:
                    summaries.write_images(folder.summary_writer(), "preview", panel, step)
            if step % per_epoch == 0:
                entry = {"epoch": step // per_epoch, "step": step, **_epoch_means(history, per_epoch)}
                entry.update(method.end_of_epoch(step // per_epoch, entry))
                reason = entry.pop("stop", None)
                event = entry.pop("event", None)
                if event:
                    history["events"].append({"step": step, "event": event})
                history["epochs"].append(entry)
                if folder is not None and folder.summary_writer() is not None:
                    summaries.write_scalars(folder.summary_writer(), "epoch",
                                            {k: v for k, v in entry.items() if k not in ("epoch", "step")}, step)
                save_checkpoint()
                if reason:
                    stopped = reason
                    break
            elif method.checkpoint_every and step % method.checkpoint_every == 0:
                save_checkpoint()
            if callback is not None and callback(step, dict(losses)) is True:
                stopped = "callback"
                break
            if max_minutes is not None and step < total and time.monotonic() - t0 > 60.0 * max_minutes:
                stopped = "max_minutes"
                break
            if interrupt.requested:
                stopped = "interrupted"
                break
    bar.close()
    if stopped == "non_finite":
        _go_back(method, checkpoint, manager, history, verbose)
    else:
        save_checkpoint()
    history["stopped"] = stopped
    extra = method.finish(stopped) or {}
    model = method.deployable()
    exported = None
    if folder is not None:
        folder.write_history(history)
        folder.save_model(model)
        if export:
            exported = folder.export(model)
        folder.close()
    if exported is not None:
        extra["serving"] = str(exported)
    if verbose and method.is_chief and stopped not in ("completed", "early_stop"):
        where = f"; the run folder {folder.directory} is saved, --resume continues" if folder is not None else ""
        print(f"{method.name}: stopped ({stopped}) at step {method.step} of {total}{where}.", file=sys.stderr)
    return FitResult(model=model, history=history, config=config, run_folder=folder.directory if folder else None,
                     stopped=stopped, method=method.name, extra=extra)


def _with_random_states(trackables: dict) -> dict:
    """``trackables`` plus the state of every Keras seed generator inside its models (dropout masks).

    Keras 3 layers keep a ``SeedGenerator`` whose state variable ``tf.train.Checkpoint`` does not see through
    the model; without it a resumed run would draw other dropout masks than an uninterrupted one.
    """
    import keras

    out = dict(trackables)
    for key, value in trackables.items():
        if isinstance(value, keras.Model):
            states = [generator.state.value for layer in value._flatten_layers()
                      for generator in getattr(layer, "_seed_generators", ())]
            if states:
                out[f"{key}_random_states"] = states
    return out


def _go_back(method, checkpoint, manager, history, verbose) -> None:
    """After a non-finite loss: restore the newest checkpoint, or fail if there is none."""
    step = history["step"][-1]
    bad = history["events"][-1]["event"]
    latest = manager.latest_checkpoint if manager is not None else None
    if latest is None:
        raise FloatingPointError(f"{method.name}: {bad} at step {step} and no checkpoint to go back to; "
                                 "lower the learning rate or check the data (NaN/inf, constant frames).")
    checkpoint.restore(latest).assert_existing_objects_matched()
    history["events"].append({"step": step, "event": f"went back to the checkpoint of step {method.step}"})
    warnings.warn(f"{method.name}: {bad} at step {step}; training stopped and the model is the last good "
                  f"checkpoint's (step {method.step}).", RuntimeWarning, stacklevel=3)
