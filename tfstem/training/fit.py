"""``tfstem.fit(method, data, ...)``: train any method with one call, the same arguments for every method."""

from __future__ import annotations

import os
import sys

from tfstem.config import default_preset, load_config, method_class, method_name
from tfstem.training.loop import RUN_OUTPUTS, FitResult, train
from tfstem.training.run_folder import prepare_run_folder
from tfstem.training.strategy import make_strategy

__all__ = ["fit", "build_method", "announce_default_preset"]


def build_method(method: str, data=None, *, preset: str | None = None, config=None, seed: int | None = None,
                 strategy=None, from_model=None, channels_axis: int | None = None, **overrides):
    """The :class:`~tfstem.training.method.Method` of ``method`` built on ``data`` (see :func:`fit`)."""
    name = method_name(method)
    cls = method_class(name)
    # Keyword arguments of the method's constructor (e.g. r_em's validation_data), not config options.
    extras = {key: overrides.pop(key) for key in list(overrides) if key in cls.constructor_options}
    if config is None:
        config = load_config(name, preset or default_preset(name), **overrides)
    else:
        if not isinstance(config, cls.config_class):
            raise ValueError(f"config must be a {cls.config_class.__name__} for {name}; "
                             f"received {type(config).__name__}.")
        config = config.replace(**overrides) if overrides else config
    if seed is not None:
        config = config.replace(seed=int(seed))
    if isinstance(data, (str, os.PathLike)):
        data = cls.read_data(data, channels_axis=channels_axis)
    kwargs = {"strategy": make_strategy(strategy)} if strategy is not None else {}
    if from_model is not None:
        kwargs["from_model"] = from_model
    return cls(config, data, **kwargs, **extras)


def fit(method: str, data=None, *, preset: str | None = None, output_dir=None, resume: bool = False,
        force: bool = False, epochs: int | None = None, steps: int | None = None, max_minutes: float | None = None,
        seed: int | None = None, strategy=None, export: bool = False, verbose: bool = True, callback=None,
        config=None, from_model=None, channels_axis: int | None = None, **overrides) -> FitResult:
    """Train ``method`` on ``data`` and return the deployable model with its history, config and run folder.

    Parameters
    ----------
    method : {"r_em", "noise2atom", "n2v"}
        The paper's method (``"cgrdn"`` is accepted for ``"r_em"``).
    data : array_like or path-like or None
        * ``"noise2atom"``: the noisy HAADF series, ``[T, H, W]`` (or ``[T, H, W, 1]``) raw counts;
        * ``"n2v"``: the video, ``[N, H, W]`` or ``[N, H, W, C]`` (C = 2: ADF + BF) raw intensities;
        * ``"r_em"``: ``(distorted, clean)`` pairs, float32 ``[N, H, W(, C)]`` each, or None: synthetic
          pairs of the config's modality made on the fly by :mod:`tfstem.synth`.
        A path is read by the method's reader (:func:`tfstem.io.read_series`; for r_em a ``.npz``/``.h5``
        with arrays ``x`` and ``y`` or a ``tfstem simulate --format npy`` folder). Never modified.
    preset : str, optional
        A preset of ``models/<method>.json`` (``paper``, ``released``, ``cpu``, ``quick``); default
        :func:`tfstem.config.default_preset`: ``paper`` where TensorFlow sees a GPU, ``cpu`` (the paper's method
        at a reduced size) where it does not, announced in one line (stderr, with ``verbose``) together with the
        ``paper`` preset's estimated time on this machine. ``preset="paper"`` runs the paper's method anywhere.
    output_dir : path-like, optional
        The run folder (``config.json``, ``history.json``, ``checkpoints/``, ``logs/``, ``model.keras``,
        ``serving/<v>/``); nothing is written without it.
    resume, force : bool
        Continue the matching run in ``output_dir`` / start afresh there. A folder holding a run needs one
        of them (FileExistsError otherwise); resume is never silent.
    epochs, steps : int, optional
        Length of the run: ``epochs`` (default the config's) or ``steps`` in total.
    max_minutes : float, optional
        Wall-clock budget; the run stops cleanly after the step that crosses it.
    seed : int, optional
        Replaces the config's seed (weights, data order, masks, noise).
    strategy : str or tf.distribute.Strategy, optional
        ``"mirrored"``, ``"multiworker"`` (reads ``TF_CONFIG``) or a strategy (r_em only).
    export : bool
        Also write a TF Serving SavedModel to ``output_dir/serving/<version>/``.
    verbose : bool
        Progress bar and messages.
    callback : callable, optional
        ``callback(step, losses)`` after every step; returning True stops the run.
    config : dataclass, optional
        A full config of the method instead of ``preset`` (``**overrides`` still apply).
    from_model : keras.Model or path-like, optional
        A trained model of the same method to continue from (transfer training; n2v).
    channels_axis : int, optional
        With a path: the axis of the channels in the file if it is not the last.
    **overrides
        Options of the method's config (names as in ``models/<method>.json``), e.g. ``patch_size=64``, and the
        method's own constructor options (``Method.constructor_options``, e.g. r_em's ``validation_data``).

    Returns
    -------
    FitResult
        ``model`` (deployable), ``history``, ``config``, ``run_folder``, ``stopped``, ``extra``.

    Examples
    --------
    >>> result = tfstem.fit("n2v", "video.tif", preset="cpu", output_dir="runs/n2v")  # doctest: +SKIP
    >>> clean = tfstem.restore(frames, model=result.model)                            # doctest: +SKIP
    """
    _check_folder_first(output_dir, resume=resume, force=force)
    sized = preset is None and config is None  # the default preset, chosen for this machine
    if sized:
        data = _read_if_path(method, data, channels_axis=channels_axis)
        preset = default_preset(method)
    built = build_method(method, data, preset=preset, config=config, seed=seed, strategy=strategy,
                         from_model=from_model, channels_axis=channels_axis, **overrides)
    if sized and verbose:  # after the build: a refused series or option stays a one-line error
        announce_default_preset(method, data)
    return train(built, output_dir=output_dir, resume=resume, force=force, epochs=epochs, steps=steps,
                 max_minutes=max_minutes, verbose=verbose, callback=callback, export=export)


def _read_if_path(method: str, data, *, channels_axis):
    if isinstance(data, (str, os.PathLike)):
        return method_class(method_name(method)).read_data(data, channels_axis=channels_axis)
    return data


def announce_default_preset(method: str, data=None) -> None:
    """Where :func:`~tfstem.config.default_preset` is ``cpu`` (no GPU visible), print the one line that says so
    with the ``paper`` preset's estimated time on this machine (stderr); nothing where a GPU is visible."""
    if default_preset(method) != "paper":
        from tfstem.training.sizing import default_preset_announcement

        print(default_preset_announcement(method, data), file=sys.stderr, flush=True)


def _check_folder_first(output_dir, *, resume: bool, force: bool) -> None:
    """The part of the run-folder rule that needs no network: an earlier run without resume or force, both
    flags, a file or an unwritable folder fail before anything is built (the full rule, which compares the
    saved config, runs again in :func:`~tfstem.training.loop.train`)."""
    if output_dir is None:
        if resume:
            raise ValueError("resume needs output_dir (the folder of the run to continue).")
        return
    if not resume:
        prepare_run_folder(output_dir, {}, resume=False, force=force, outputs=RUN_OUTPUTS, record_file="config.json",
                           what="output_dir")
    elif force:
        raise ValueError("pass --resume (continue the run) or --force (start afresh), not both.")
