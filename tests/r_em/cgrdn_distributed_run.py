"""Run a few r_em (CGRDN + critic) training steps in a fresh process and write the per-step losses as JSON.

Used by ``test_training.py``: logical devices and ``MultiWorkerMirroredStrategy`` must be set up before
TensorFlow initialises, which a pytest process has long done.

    python cgrdn_distributed_run.py MODE OUT.json

MODE ``single``: one device; ``mirrored``: a single-device run and then a ``MirroredStrategy`` run over two
logical CPU devices in the same process (JSON ``{"single": ..., "mirrored": ...}``); ``worker``: one worker
of a ``MultiWorkerMirroredStrategy`` cluster described by ``TF_CONFIG`` (worker 0 writes the JSON).
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

STEPS = 3


def tiny_config(**changes):
    """The ``released`` loss (L1 x 10) with the critic on, a tiny network, instance noise at every step."""
    from tfstem.config import load_config

    values = dict(features=8, growth=8, layers_per_rdb=2, rdbs_per_grdb=1, grdbs=1, critic_features=8, gan=True,
                  batch_size=4, patch_size=32, warmup_steps=0, log_every=0, image_every=0, checkpoint_every=0,
                  instance_noise_probability=1.0, seed=7)
    values.update(changes)
    return load_config("r_em", "released", **values)


def tiny_pairs(n=6, size=48, seed=3):
    """Noisy/clean pairs of Gaussian peaks on a lattice (test data only)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    clean = np.zeros((n, size, size, 1), np.float32)
    for i in range(n):
        for cy in range(4, size, 8):
            for cx in range(4, size, 8):
                amp = rng.uniform(50, 150)
                clean[i, ..., 0] += amp * np.exp(-((yy - cy - rng.normal(0, .5)) ** 2 + (xx - cx) ** 2) / 4.0)
    distorted = rng.poisson(clean + 5.0).astype(np.float32)
    return distorted, clean


def run(strategy):
    from tfstem.r_em.training import R_EM
    from tfstem.training import train

    method = R_EM(tiny_config(), tiny_pairs(), strategy=strategy)
    result = train(method, steps=STEPS, verbose=False)
    return {"replicas": method.strategy.num_replicas_in_sync, "step": result.history["step"],
            **result.history["losses"]}, method.is_chief


def main(mode, out_path):
    if mode == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        single, _ = run(None)
        mirrored, _ = run(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
        result, chief = {"single": single, "mirrored": mirrored}, True
    elif mode == "worker":
        result, chief = run(tf.distribute.MultiWorkerMirroredStrategy())
    else:
        result, chief = run(None)
    if chief:
        with open(out_path, "w") as f:
            json.dump(result, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
