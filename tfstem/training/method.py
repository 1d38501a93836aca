"""The contract between one paper's trainer and the shared training loop (:mod:`tfstem.training.loop`).

A method (``tfstem.r_em.training.R_EM``, ``tfstem.noise2atom.training.Noise2Atom``,
``tfstem.n2v.training.N2V``) builds its networks and optimizers from its config and its data, and
answers a few questions; the loop does everything else the same way for every method: steps and epochs,
the wall-clock budget, the non-finite-loss guard, Ctrl-C, progress, history, TensorBoard, checkpoints,
resume, the run folder and the deployable model. A fourth method is one subclass (and one
``models/<method>.json``), not a fourth loop.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["Method"]


class Method:
    """What a method must provide to be trained by :func:`tfstem.training.train`.

    Subclasses set the class attributes and implement the methods marked *required*; the others have
    defaults. ``config`` is the method's frozen config dataclass (:mod:`tfstem.config`).

    Attributes
    ----------
    name : str
        The method's name in ``tfstem train METHOD`` and ``models/<name>.json``.
    config_class : type
        Its config dataclass (built by :func:`tfstem.config.load_config`).
    progress_keys : tuple of str
        Losses shown on the progress bar.
    constructor_options : tuple of str
        Extra constructor keyword arguments that ``tfstem.fit(..., **overrides)`` passes to the method
        instead of to its config.
    """

    name: str = ""
    config_class: type = object
    progress_keys: tuple = ()
    #: Keyword arguments of the constructor beyond ``config``, ``data``, ``strategy`` and ``from_model`` that
    #: :func:`tfstem.training.fit.fit` passes through from its ``**overrides`` (e.g. r_em's ``validation_data``).
    constructor_options: tuple = ()

    # ------------------------------------------------------------------ data
    @classmethod
    def read_data(cls, path, *, channels_axis=None):
        """The training data in a file or folder ``path`` (command line and ``tfstem.fit(method, path)``)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ required
    @property
    def step(self) -> int:
        """Steps completed so far (restored with the checkpoint). *Required*."""
        raise NotImplementedError

    def steps_per_epoch(self) -> int:
        """Steps in one epoch (the loop checkpoints and reports at each epoch's end). *Required*."""
        raise NotImplementedError

    @classmethod
    def epoch_steps(cls, config, data_shape) -> int:
        """Steps in one epoch of ``config`` on data of shape ``data_shape`` (a tuple, or None when unknown),
        without building anything: what :mod:`tfstem.training.sizing` multiplies by ``config.epochs`` to
        estimate a run. Default ``config.steps_per_epoch``; a method whose epoch depends on the data overrides it.
        """
        return int(config.steps_per_epoch)

    def batches(self, start_step: int):
        """An iterator positioned at ``start_step``: the batches a run from step 0 would see from there on.
        *Required* (resume depends on it)."""
        raise NotImplementedError

    def train_step(self, batches) -> dict:
        """Run one step on the next batch of ``batches``; advance :attr:`step` by one.

        Returns
        -------
        dict of str to float or None
            The step's named losses; None for a term the step did not compute (e.g. during a warm-up).
            *Required*.
        """
        raise NotImplementedError

    def trackables(self) -> dict:
        """Objects saved in every checkpoint (networks, optimizers, the step variable). *Required*."""
        raise NotImplementedError

    def deployable(self):
        """The trained model to deploy (tfstem model contract: input ``image`` float32 ``[N, H, W, C]`` raw
        intensities). *Required*."""
        raise NotImplementedError

    def data_record(self):
        """A JSON-serialisable description of the data (a fingerprint), compared on resume. *Required*."""
        raise NotImplementedError

    # ------------------------------------------------------------------ optional hooks
    def end_of_epoch(self, epoch: int, means: dict) -> dict:
        """Called after each full epoch with the epoch's mean losses.

        Returns
        -------
        dict
            Extra values for the epoch's history entry (e.g. ``val_loss``); the key ``"stop"`` (a str) asks
            the loop to stop with that reason (e.g. ``"early_stop"``); the key ``"event"`` (a str) is appended
            to ``history["events"]`` at this step.
        """
        return {}

    def log_scalars(self) -> dict:
        """Extra TensorBoard scalars at each log (e.g. the learning rate)."""
        return {}

    def preview(self):
        """An image panel for TensorBoard, float ``[N, H, W, 1]`` in [0, 1], or None."""
        return None

    def finish(self, stopped: str) -> dict:
        """Called once after the last step (before the model is saved); returns extra result entries."""
        return {}

    @property
    def is_chief(self) -> bool:
        """True on the one worker that writes the run folder (always, without a multi-worker strategy)."""
        return True

    def scratch_directory(self, run_folder: Path) -> Path | None:
        """Where a non-chief worker writes its checkpoints (they must save too); None on the chief."""
        return None

    #: Steps between TensorBoard scalar logs (0: at epoch ends only), image panels and extra checkpoints
    #: (0: at epoch ends only). Methods take them from their config.
    log_every: int = 0
    image_every: int = 0
    checkpoint_every: int = 0
    keep_checkpoints: int = 3

    #: Config options a resumed run may change: how long it runs and how often it logs and checkpoints, not
    #: what each step computes.
    may_change_on_resume: tuple = ("epochs", "log_every", "image_every", "checkpoint_every", "keep_checkpoints",
                                   "jit_compile")
