"""The ``tf.distribute`` strategy of a run, chosen by name (``--strategy``)."""

from __future__ import annotations

import os

import tensorflow as tf

__all__ = ["STRATEGIES", "make_strategy"]

STRATEGIES = ("default", "mirrored", "multiworker")


def make_strategy(strategy):
    """A strategy from a name or a strategy; None for ``"default"`` (the current one: one device).

    ``"multiworker"`` must be created before any other TensorFlow op of the process and needs ``TF_CONFIG``.
    """
    if strategy is None or isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES} or a tf.distribute.Strategy; received {strategy!r}.")
    if strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    if strategy == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("strategy 'multiworker' needs the TF_CONFIG environment variable (cluster and task).")
        return tf.distribute.MultiWorkerMirroredStrategy()
    return None
