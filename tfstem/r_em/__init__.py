"""r_em (Lobato, Friedrich & Van Aert 2023): the CGRDN restorer, its conditional patch critic, the losses of
Eq. 13-14, the training step under ``tf.distribute`` and the import of the authors' published weights.

Modules: :mod:`~tfstem.r_em.cgrdn` (generator), :mod:`~tfstem.r_em.patch_critic`,
:mod:`~tfstem.r_em.losses`, :mod:`~tfstem.r_em.training`, :mod:`~tfstem.r_em.authors` (tk-r-em import).
The synthetic training data of the paper is :mod:`tfstem.synth`.
"""

from tfstem.r_em.authors import (R_EM_MODELS, load_r_em_model, load_r_em_weights, load_test_data,
                                 r_em_package_dir, reference_predict, reference_predict_many)

__all__ = ["R_EM_MODELS", "r_em_package_dir", "load_r_em_model", "load_r_em_weights", "load_test_data",
           "reference_predict", "reference_predict_many"]
