"""Noise2Atom (Wang et al. 2020): train on your own noisy HAADF STEM series, get a denoiser back.

    import tfstem
    result = tfstem.noise2atom.fit(frames, preset="paper", max_minutes=60)   # frames: [T, H, W] raw counts
    clean = tfstem.restore(frames, model=result.model)                      # [T, H, W] in [0, 1]

The deployable model obeys the tfstem model contract: input ``image`` ``float32 [N, H, W, 1]`` raw
intensities of any H and W; the training stack's min/max scaling to [-1, 1], the padding to a multiple
of 8 and the map of tanh back to the clean domain [0, 1] are layers inside it, so it saves to ``.keras``
and exports for TF Serving unchanged.

Modules: :mod:`~tfstem.noise2atom.xception_unet` (Ms2c, Mc2s), :mod:`~tfstem.noise2atom.wgan_critic` (D),
:mod:`~tfstem.noise2atom.lowpass` (Ms2b), :mod:`~tfstem.noise2atom.losses` (Eq. 1-8),
:mod:`~tfstem.noise2atom.clean_domain` (the Gaussian-peak simulator), :mod:`~tfstem.noise2atom.data`
(the noisy domain), :mod:`~tfstem.noise2atom.config`, :mod:`~tfstem.noise2atom.training` (the schedule),
:mod:`~tfstem.noise2atom.checks` (the reverted-mapping check).

Reference: F. Wang, T. R. Henninen, D. Keller, R. Erni, "Noise2Atom: unsupervised denoising for scanning
transmission electron microscopy images", Appl. Microsc. 50:23 (2020).
"""

from __future__ import annotations

__all__ = ["fit", "Noise2AtomConfig", "check_reverted_mapping", "mapping_correlation"]


def fit(frames, **kwargs):
    """Train Noise2Atom on a noisy series: ``tfstem.fit("noise2atom", frames, **kwargs)``.

    ``frames``: ``[T, H, W]`` or ``[T, H, W, 1]`` raw counts, or a path. Every keyword of :func:`tfstem.fit`
    (``preset``, ``output_dir``, ``resume``, ``force``, ``epochs``, ``steps``, ``max_minutes``, ``seed``,
    ``callback``, ...) and every option of ``models/noise2atom.json`` is accepted. Returns a
    :class:`~tfstem.training.loop.FitResult`; ``result.extra["mapping_correlation"]`` is the reverted-mapping
    check (a warning is issued when it is negative).
    """
    from tfstem.training.fit import fit as _fit

    return _fit("noise2atom", frames, **kwargs)


def __getattr__(name):
    if name == "Noise2AtomConfig":
        from tfstem.noise2atom.config import Noise2AtomConfig

        return Noise2AtomConfig
    if name in ("check_reverted_mapping", "mapping_correlation"):
        from tfstem.noise2atom import checks

        return getattr(checks, name)
    raise AttributeError(f"module 'tfstem.noise2atom' has no attribute {name!r}")
