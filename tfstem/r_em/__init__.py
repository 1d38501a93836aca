"""r_em (Lobato, Friedrich & Van Aert 2023): the CGRDN restorer, its conditional patch critic, the losses of
Eq. 2-15, the training step under ``tf.distribute`` and the import of the authors' published weights.

Modules: :mod:`~tfstem.r_em.cgrdn` (generator), :mod:`~tfstem.r_em.patch_critic`, :mod:`~tfstem.r_em.losses`
(with :mod:`~tfstem.r_em.pixel_losses` and :mod:`~tfstem.r_em.adversarial_losses`),
:mod:`~tfstem.r_em.config` (options, ``models/r_em.json``), :mod:`~tfstem.r_em.data` (pairs),
:mod:`~tfstem.r_em.schedule`, :mod:`~tfstem.r_em.training` (the method of :mod:`tfstem.training`),
:mod:`~tfstem.r_em.authors` (tk-r-em import). The synthetic training data of the paper is :mod:`tfstem.synth`.
"""

from tfstem.r_em.authors import (R_EM_MODELS, load_r_em_model, load_r_em_weights, load_test_data,
                                 r_em_package_dir, reference_predict, reference_predict_many)

__all__ = ["R_EM_MODELS", "r_em_package_dir", "load_r_em_model", "load_r_em_weights", "load_test_data",
           "reference_predict", "reference_predict_many", "fit"]


def fit(data=None, **kwargs):
    """Train an r_em restorer: ``tfstem.fit("r_em", data, **kwargs)`` (see :func:`tfstem.training.fit.fit`).

    Parameters
    ----------
    data : tuple of array_like, path-like or None
        ``(distorted, clean)`` pairs, float32 ``[N, H, W(, C)]`` raw intensities each; a ``.npz``/``.h5`` file
        with arrays ``x`` and ``y`` or a ``tfstem simulate --format npy`` folder; None (or ``"synthetic"``):
        synthetic pairs of the config's ``modality`` made on the fly.
    **kwargs
        ``preset`` (``paper``, ``released``, ``cpu``, ``quick``), ``output_dir``, ``resume``, ``force``,
        ``epochs``, ``steps``, ``max_minutes``, ``seed``, ``strategy``, ``export``, ``validation_data`` and
        any option of ``models/r_em.json`` (e.g. ``modality="hrtem"``, ``patch_size=128``).

    Returns
    -------
    tfstem.training.FitResult
        ``model`` is the trained CGRDN (raw intensities in and out, any H and W).

    Examples
    --------
    >>> result = tfstem.r_em.fit(preset="cpu", output_dir="runs/hrstem", max_minutes=60)  # doctest: +SKIP
    """
    from tfstem.training.fit import fit as fit_method

    return fit_method("r_em", data, **kwargs)
