"""Synthetic electron-microscopy data of the r_em paper (Lobato et al. 2023): specimens, undistorted images,
TEM/S(T)EM/SEM noise models and post-processing distortions as stateless TensorFlow ops, and ``tf.data`` pipelines.

Public API
----------
pairs(modality, size=256, batch_size=16, seed=0)
    Endless ``tf.data.Dataset`` of ``(distorted, clean)`` float32 batches.
distort(clean, modality, seed, pixel_size=None)
    The modality's random distortion pipeline on a clean batch, usable on the device and under XLA.
clean_images(modality, n, size=256, seed=0)
    Undistorted images only.
modality_config(modality, preset="default"), MODALITIES, PRESETS
    The per-modality frozen configs holding every probability and range; preset "paper" sets every option beyond
    the paper as the text reads.
"""

from tfstem.synth.configs import MODALITIES, PRESETS, ModalityConfig, modality_config
from tfstem.synth.distortion import distort
from tfstem.synth.pipelines import clean_images, pairs

__all__ = ["pairs", "distort", "clean_images", "modality_config", "ModalityConfig", "MODALITIES", "PRESETS"]
