"""Dual-channel Noise2Void for STEM in one call: ``tfstem.n2v.fit(frames)``.

Self-supervised denoising of simultaneously recorded ADF + BF frames (or mono frames) trained on the
noisy video itself (Thornley et al., "Noise2Void denoising of atomic resolution STEM dual-channel
images", npj Comput. Mater. 2025). The returned model obeys tfstem's model contract, so::

    import tfstem, tfstem.n2v
    result = tfstem.n2v.fit(frames, max_minutes=30)                 # frames [N, H, W, 2]: ADF, BF
    clean = tfstem.restore(frames, model=result.model)              # full frames, same shape

    more = tfstem.n2v.fit(new_frames, from_model=result.model, epochs=4)  # transfer training (Fig. 10c)

The folder holds the whole method: :mod:`~tfstem.n2v.unet` (the U-Net), :mod:`~tfstem.n2v.masking`
(N2V2 masks), :mod:`~tfstem.n2v.losses` (masked MSE), :mod:`~tfstem.n2v.data` (frames, patches,
validation), :mod:`~tfstem.n2v.config` (hyperparameters; defaults and presets in ``models/n2v.json``) and
:mod:`~tfstem.n2v.training` (the training step on :mod:`tfstem.training`). Importing this package loads
neither TensorFlow nor Keras.
"""

from __future__ import annotations

from tfstem.n2v.config import N2VConfig

__all__ = ["N2VConfig", "fit"]


def fit(frames, **kwargs):
    """Train Noise2Void on a noisy video: :func:`tfstem.fit` ``("n2v", frames, **kwargs)``.

    Parameters
    ----------
    frames : array_like or path-like
        Raw noisy frames ``[N, H, W]`` or ``[N, H, W, C]`` (C = 2: ADF + BF on the same pixel grid), any real
        dtype (not modified), or a file of them. Training uses every other frame (paper, Methods), validation
        the rest.
    **kwargs
        Those of :func:`tfstem.training.fit.fit`: ``preset`` (``"paper"`` default, ``"cpu"``, ``"quick"``),
        ``output_dir``, ``resume``, ``force``, ``epochs``, ``steps``, ``max_minutes``, ``seed``, ``verbose``,
        ``callback``, ``export``, ``config``, ``from_model`` (transfer training: a model returned by an
        earlier fit, or its ``.keras`` file; its architecture replaces the preset's), ``channels_axis``, and
        any option of :class:`N2VConfig`, e.g. ``patch_size=128``.

    Returns
    -------
    tfstem.training.FitResult
        ``model`` (input ``image`` float32 ``[N, H, W, C]`` raw intensities with any H and W; output the
        denoised frames, same shape and units: the weights of the lowest validation loss), ``history``
        (per-step ``loss``, per-epoch ``val_loss``), ``config``, ``run_folder``, ``stopped`` and ``extra``
        (``best_epoch``, ``best_val_loss``, ``images_per_second``).

    Raises
    ------
    ValueError
        Frames that are empty, not ``[N, H, W]`` / ``[N, H, W, C]``, complex, not numbers, hold NaN or inf,
        or are smaller than ``patch_size``; unknown options; channels that do not match ``from_model``.
    FileExistsError
        ``output_dir`` holds an earlier run and neither ``resume`` nor ``force`` is given.

    References
    ----------
    Thornley et al., npj Comput. Mater. (2025), "Noise2Void implementation" and "Methods";
    Krull et al., CVPR 2019 (Noise2Void); Höck et al., ECCV-W 2022 (N2V2).
    """
    from tfstem.training.fit import fit as fit_method

    return fit_method("n2v", frames, **kwargs)
