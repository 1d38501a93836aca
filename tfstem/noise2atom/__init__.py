"""Noise2Atom in one call: train on your own noisy STEM series, get a denoiser back.

    import tfstem
    from tfstem import noise2atom
    model = noise2atom.fit(frames, epochs=100, max_minutes=60, seed=0)   # frames: [T, H, W] raw counts
    clean = tfstem.restore(frames, model=model)                          # [T, H, W] in [0, 1]

The returned ``keras.Model`` obeys the tfstem model contract: input ``image`` ``float32 [N, H, W, 1]`` raw
intensities of any H and W; the training stack's min/max scaling to [-1, 1], the padding to a multiple
of 8 and the map of tanh back to the clean domain [0, 1] are layers inside it, so it saves to ``.keras``
and exports for TF Serving unchanged.

Reference: F. Wang, T. R. Henninen, D. Keller, R. Erni, "Noise2Atom: unsupervised denoising for scanning
transmission electron microscopy images", Appl. Microsc. 50:23 (2020).
"""

from __future__ import annotations

from tfstem.noise2atom.training import (Noise2AtomConfig, Noise2AtomTrainer, check_frames, check_reverted_mapping,
                                     load_config, mapping_correlation)

__all__ = ["fit", "Noise2AtomConfig", "Noise2AtomTrainer", "load_config", "check_reverted_mapping",
           "mapping_correlation"]


def fit(frames, *, epochs: int | None = None, max_minutes: float | None = None, seed: int = 0, verbose: bool = True,
        preset: str = "paper", config: Noise2AtomConfig | None = None, output_dir=None, resume: bool = True,
        force: bool = False, check_mapping: bool = True, callback=None, **options):
    """Train Noise2Atom on a noisy series and return the denoiser.

    Parameters
    ----------
    frames : array_like, ``[T, H, W]`` or ``[T, H, W, 1]``, any real dtype
        The noisy series (raw counts/intensities; H, W >= ``crop_size``, 128 by default). Not modified.
        At most ``training_frames`` (120) frames are sampled for training (paper, Training Details).
    epochs : int, optional
        Default: the config's (paper: 100). Training also stops early when the epoch means reach
        L_cycle < 0.05 and L_lfc < 0.1.
    max_minutes : float, optional
        Wall-clock budget; training stops cleanly after it and the model so far is returned.
    seed : int
        Seeds weights, crops, simulated clean images and the gradient-penalty interpolation.
    verbose : bool
        tqdm progress with the three losses.
    preset : {"paper", "released", "cpu_budget"}
        Preset of ``models/noise2atom.json`` used when ``config`` is not given.
    config : Noise2AtomConfig, optional
        Full configuration; ``options`` are applied on top.
    output_dir : path-like, optional
        Checkpoints (resumable), TensorBoard logs, ``config.json`` and ``history.json``, written from the
        end of the first epoch on.
    resume : bool
        Continue the run already in ``output_dir`` when its ``config.json`` matches (same frames, seed and
        options); a folder that holds another run raises ValueError.
    force : bool
        Start afresh in an ``output_dir`` that holds an earlier run (replaced at the first checkpoint).
    check_mapping : bool
        Warn when the learned mapping is reverted (paper, failure case 1).
    callback : callable, optional
        ``callback(iteration, losses)`` after every iteration (int from 1, dict of float losses); returning
        True stops training after it and the model so far is returned.
    **options
        Any :class:`Noise2AtomConfig` field, e.g. ``base_filters=16, num_residual_blocks=2``.

    Returns
    -------
    keras.Model
        Input ``image`` ``float32 [N, H, W, 1]`` raw intensities, any H, W; output ``float32 [N, H, W, 1]``
        in [0, 1] (the clean atomic domain). Attribute ``training_result`` holds the loss history.

    Raises
    ------
    ValueError
        On a bad option value; frames that are empty, 1-D, multi-channel, complex, not numbers, hold NaN or
        inf, or are smaller than the crop size; an ``output_dir`` that holds a run with other settings.
    FileExistsError
        ``output_dir`` holds an earlier run and neither ``resume`` nor ``force`` is set.
    """
    config = (config or load_config(preset)).replace(seed=int(seed), **options)
    check_frames(frames, config)  # before the networks are built
    trainer = Noise2AtomTrainer(config)
    result = trainer.fit(frames, epochs=epochs, max_minutes=max_minutes, output_dir=output_dir, resume=resume,
                         force=force, verbose=verbose, callback=callback)
    model = trainer.denoiser()
    model.training_result = result
    if check_mapping:
        check_reverted_mapping(model, frames)
    return model
