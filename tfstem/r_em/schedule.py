"""The r_em learning-rate schedule: linear warm-up, then exponential decay per epoch with a floor."""

from __future__ import annotations

import keras
import tensorflow as tf

__all__ = ["WarmupExponentialDecay"]


@keras.saving.register_keras_serializable(package="tfstem")
class WarmupExponentialDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up, then exponential decay with a floor (the authors' schedule).

    ``lr(t) = lr0 * min(1, (t + 1) / warmup_steps) * max(decay_rate ** (t / decay_steps), min_fraction)``.

    Parameters
    ----------
    initial_learning_rate : float
        lr0.
    warmup_steps : int
        Steps of linear warm-up (authors: min(512, steps / 2)); 0 for none.
    decay_steps : int
        Steps per decay by ``decay_rate`` (authors: one "epoch").
    decay_rate : float
        Authors: 0.90 per epoch.
    min_fraction : float
        Floor as a fraction of lr0 (authors: 1e-4).
    """

    def __init__(self, initial_learning_rate, warmup_steps=512, decay_steps=1000, decay_rate=0.9,
                 min_fraction=1e-4):
        self.initial_learning_rate = float(initial_learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.decay_steps = int(decay_steps)
        self.decay_rate = float(decay_rate)
        self.min_fraction = float(min_fraction)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warmup = 1.0 if self.warmup_steps <= 0 else tf.minimum(1.0, (step + 1.0) / self.warmup_steps)
        decay = tf.maximum(tf.pow(self.decay_rate, step / max(self.decay_steps, 1)), self.min_fraction)
        return self.initial_learning_rate * warmup * decay

    def get_config(self):
        return dict(initial_learning_rate=self.initial_learning_rate, warmup_steps=self.warmup_steps,
                    decay_steps=self.decay_steps, decay_rate=self.decay_rate, min_fraction=self.min_fraction)
