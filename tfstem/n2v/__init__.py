"""Dual-channel Noise2Void for STEM in one call: ``tfstem.n2v.fit(frames)``.

Self-supervised denoising of simultaneously recorded ADF + BF frames (or mono frames) trained on the
noisy video itself (Thornley et al., "Noise2Void denoising of atomic resolution STEM dual-channel
images", npj Comput. Mater. 2025). The returned model obeys tfstem's model contract, so::

    import tfstem, tfstem.n2v
    model = tfstem.n2v.fit(frames, max_minutes=30)          # frames [N, H, W, 2]: ADF, BF
    clean = tfstem.restore(frames, model=model)              # full frames, same shape

    more = tfstem.n2v.fit(new_frames, model=model, epochs=4)  # transfer training (paper, Fig. 10c)

Building blocks: :mod:`tfstem.n2v.unet` (the U-Net), :mod:`tfstem.n2v.training` (masking,
data, training loop, CLI), :mod:`tfstem.n2v.losses` (masked MSE).
"""

from __future__ import annotations

import dataclasses

from tfstem.n2v.training import N2VConfig, check_frames, train

__all__ = ["N2VConfig", "fit"]


def fit(frames, *, epochs=None, max_minutes=None, seed=0, verbose=True, model=None, config=None, output_dir=None,
        force=False, return_info=False, callbacks=None, **overrides):
    """Train Noise2Void on a noisy video and return the deployable denoising model.

    Parameters
    ----------
    frames : array_like, ``[N, H, W]`` or ``[N, H, W, C]``
        Raw noisy frames, any real dtype (not modified); C = 2 for ADF + BF, the same pixel grid.
        Training uses every other frame (paper, Methods), validation the rest.
    epochs : int, optional
        Training epochs (default the paper's 32; see ``N2VConfig.steps_per_epoch``).
    max_minutes : float, optional
        Wall-clock budget; training stops cleanly once it is spent and the best model so far (lowest
        validation loss) is returned.
    seed : int
        Seed of patch sampling and masking (same seed, same batches).
    verbose : bool
        tqdm progress bar.
    model : keras.Model or path, optional
        A model returned by an earlier :func:`fit` (or its ``.keras`` file): continue training it on
        ``frames`` (transfer training). It is copied, not modified.
    config : N2VConfig, optional
        All hyperparameters; default the paper's (``models/n2v_stem.json``).
    output_dir : str or path, optional
        Where to write checkpoints, TensorBoard logs, ``config.json``, ``history.json``, ``model.keras``
        (from the first checkpoint on, each file written aside and renamed into place).
    force : bool
        Replace an earlier run in ``output_dir``; without it such a folder is refused before any work.
    return_info : bool
        Also return the training summary dict (steps, seconds, images/s, history).
    callbacks : list of keras.callbacks.Callback, optional
        Extra Keras callbacks (per-step and per-epoch losses; ``self.model.stop_training = True`` stops
        cleanly and the best model so far is returned).
    **overrides
        Any :class:`N2VConfig` field, e.g. ``batch_size=12``, ``patch_size=128``, ``learning_rate=1e-4``.

    Returns
    -------
    keras.Model
        Input ``image`` float32 ``[N, H, W, C]`` raw intensities with any H and W; output the denoised
        frames, same shape and units (normalisation and padding are inside the graph).
    dict
        Only with ``return_info=True``.

    Raises
    ------
    ValueError
        Frames that are empty, not ``[N, H, W]`` / ``[N, H, W, C]``, complex, not numbers, hold NaN or inf,
        or are smaller than ``patch_size``; unknown config keys; channels that do not match ``model``.
    FileExistsError
        ``output_dir`` holds an earlier run and ``force`` is False.

    References
    ----------
    Thornley et al., npj Comput. Mater. (2025), "Noise2Void implementation" and "Methods";
    Krull et al., CVPR 2019 (Noise2Void); Höck et al., ECCV-W 2022 (N2V2).
    """
    config = config or N2VConfig()
    changes = dict(overrides)
    if epochs is not None:
        changes["epochs"] = epochs
    changes["seed"] = seed
    try:
        config = dataclasses.replace(config, **changes)
    except TypeError as error:
        valid = sorted(f.name for f in dataclasses.fields(N2VConfig))
        raise ValueError(f"unknown N2V setting in {sorted(changes)}; valid settings are {valid}.") from error
    check_frames(frames, config)  # before a model is loaded or built
    trained, info = train(frames, config, model=model, max_minutes=max_minutes, output_dir=output_dir,
                          force=force, verbose=verbose, callbacks=callbacks)
    return (trained, info) if return_info else trained
