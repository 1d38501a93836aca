"""Speed of dual-channel N2V: prediction ms per 512x512 ADF + BF frame and training images/s, beside CAREamics.

Both sides run the paper's network size (depth-4 U-Net, 64 first-level features, 2 channels in
and out) on the same frames (the shipped simulated video tiled to 512 x 512) on the same machine:

* tfstem: the deployable Keras model (normalisation, padding inside) called through a
  ``tf.function``; training = one step of masking (:func:`tfstem.n2v.masking.mask_batch`) + forward
  + masked MSE + Adam update, also a ``tf.function``;
* CAREamics (PyTorch; ``--peer-python`` points at a venv with ``careamics`` and ``torch``): the
  ``UNet`` of its ``N2VModule`` (``depth=4, num_channels_init=64, independent_channels=False``)
  under ``torch.inference_mode``; training = its ``N2VManipulate`` + forward + ``n2v_loss`` +
  Adam step — the body of ``N2VModule.training_step`` without Lightning's logging.

Ratios are ours/theirs in *time* (ms per frame, s per training image): <= 1.0 means tfstem is as
fast or faster. The paper reports 22–23 ms per 512x512 dual-channel frame on an RTX A5000 and 11 ms
for a Gaussian blur (sigma 1 px); the Gaussian is timed here too for scale.

* CSBDeep's ``n2v`` 0.3.3 (``--n2v-python``; TensorFlow with tf-keras, ``TF_USE_LEGACY_KERAS=1``): its
  U-Net (``unet_n_depth=4, unet_n_first=64``) and its NumPy ``N2V_DataWrapper`` masking + ``train_on_batch``.

Run: ``python benchmarks/n2v_speed.py [--peer-python /work/peer-venv/bin/python] [--n2v-python
/work/n2v-venv/bin/python] [--limit limit.json]``. Each peer side is this same file run with ``--worker
careamics|n2v`` by the peer's interpreter, in a subprocess, on the same frames (a temporary .npy). The peers are
optional: those two paths are the defaults, and a peer whose interpreter is absent is skipped with a note
(``--no-peers`` skips both), so the script always gives tfstem's own figures.

**Fraction of the compute limit** (issue 18): multiply-adds done / (seconds x this machine's sustained 3x3
convolution rate in the precision the side runs in; ``benchmarks/compute_limit.py``, measured in this process
unless ``--limit`` gives its JSON). Prediction: the U-Net's MAC on the frame (:func:`tfstem.profiling.multiply_adds`
of the deployable model at 512 x 512 x 2). Training: 3 x the forward MAC of a patch (forward, and a backward pass
of about two forwards) per image. The peers' U-Nets use 3x3 kernels at the first level where ours (the paper's)
uses 5x5, and CAREamics' is narrower at the bottom (22 M parameters against 31 M): CAREamics' MAC are counted in
its worker by hooks on its PyTorch convolutions (on one patch, scaled to the frame), CSBDeep n2v's on our U-Net
built with ``first_kernel_size=3``, the same depth and widths (31.4 M parameters against its 31.1 M: a close
stand-in, not its graph). The peers run in float32; ours in the precision found from the outputs
(``restore``'s default compared with ``precision="float32"``/``"bfloat16"`` where that option exists) and, for
training, the core's Keras compute dtype.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# _limit (benchmarks/_limit.py) is found because Python puts a script's own folder first on its path

import _limit  # noqa: E402  (this machine's compute limit, shared with the other speed benchmarks)

ROOT = Path(__file__).resolve().parents[1]
PEER_PYTHONS = {"careamics": "/work/peer-venv/bin/python", "n2v": "/work/n2v-venv/bin/python"}
VIDEO = ROOT / "examples" / "data" / "n2v_dual_channel_video.npz"


def make_frames(n, size):
    """``float32 [n, size, size, 2]``: the shipped noisy video tiled to ``size`` (same bits for both sides)."""
    import numpy as np

    with np.load(VIDEO) as data:
        video = data["noisy"].astype(np.float32)
    reps = -(-size // video.shape[1])
    frames = np.stack([np.tile(video[i % len(video)], (reps, reps, 1))[:size, :size] for i in range(n)])
    return np.ascontiguousarray(frames)


def _median_ms(fn, inputs, warmup=1):
    for x in inputs[:warmup]:
        fn(x)
    times = []
    for x in inputs:
        start = time.perf_counter()
        fn(x)
        times.append(1000 * (time.perf_counter() - start))
    times.sort()
    return times[len(times) // 2], times


def run_ours(frames, args):
    import numpy as np
    import tensorflow as tf

    from tfstem import baselines
    from tfstem.n2v.losses import masked_mse
    from tfstem.n2v.unet import build_n2v_unet
    from tfstem.n2v.data import normalise_frames
    from tfstem.n2v.masking import mask_batch

    model = build_n2v_unet(channels=2, features=args.features, depth=args.depth)
    import tfstem

    # the user path: tfstem.restore on a whole [H, W, 2] frame (XLA with --xla, i.e. restore(jit_compile=True))
    ms, all_ms = _median_ms(lambda x: tfstem.restore(x, model=model, jit_compile=args.xla, verbose=False),
                            list(frames))
    gauss_ms, _ = _median_ms(lambda x: baselines.gaussian(x, 1.0), list(frames))

    precision = "float32"
    if "precision" in inspect.signature(tfstem.restore).parameters:
        # which precision the default call runs in: the explicit one whose output it matches (nearest)
        outputs = {p: tfstem.restore(frames[0], model=model, jit_compile=args.xla, verbose=False, precision=p)
                   for p in ("float32", "bfloat16")}
        default = tfstem.restore(frames[0], model=model, jit_compile=args.xla, verbose=False)
        precision = min(outputs, key=lambda p: float(np.max(np.abs(outputs[p] - default))))

    core = model.get_layer("n2v_unet_core")
    # the training precision of the default preset on this machine (cpu preset: "auto"), or --train-precision
    from tfstem.n2v.training import training_precision
    from tfstem.precision import bfloat16_model

    if training_precision(args.train_precision) == "bfloat16":
        core = bfloat16_model(core)
    optimizer = __import__("keras").optimizers.Adam(1e-5)
    p, b = args.patch_size, args.batch_size
    patches = normalise_frames(frames)[:, :p, :p]
    batch = tf.constant(np.stack([patches[i % len(patches)] for i in range(b)]))

    @tf.function(jit_compile=args.xla)
    def step(x, seed):
        masked, mask = mask_batch(x, seed, spacing=24, jitter=2, replacement="local_mean", radius=12)
        with tf.GradientTape() as tape:
            loss = masked_mse(x, tf.cast(core(masked, training=True), tf.float32), mask)
        grads = tape.gradient(loss, core.trainable_variables)
        optimizer.apply_gradients(zip(grads, core.trainable_variables))
        return loss

    step(batch, tf.constant([0, 0])).numpy()  # trace + build the optimizer
    start = time.perf_counter()
    for i in range(args.train_steps):
        step(batch, tf.constant([0, i + 1])).numpy()
    seconds = time.perf_counter() - start
    return {"predict_ms": ms, "predict_ms_all": all_ms, "gaussian_ms": gauss_ms,
            "train_images_per_s": b * args.train_steps / seconds, "params": int(core.count_params()),
            "device": "GPU" if tf.config.list_physical_devices("GPU") else "CPU", "predict_precision": precision,
            "train_precision": str(core.dtype_policy.compute_dtype)}


def unet_mac(args, first_kernel_size):
    """``(MAC of one [size, size, 2] frame, MAC of one [patch, patch, 2] patch)`` of a U-Net of this size."""
    from tfstem.n2v.unet import build_n2v_unet

    model = build_n2v_unet(channels=2, features=args.features, depth=args.depth, first_kernel_size=first_kernel_size)
    return (_limit.useful_mac(model, args.size, args.size, 2),
            _limit.useful_mac(model, args.patch_size, args.patch_size, 2))


def add_fractions(side, limit, frame_mac, patch_mac):
    """Add ``predict_fraction`` and ``train_fraction`` of the compute limit to one side's results."""
    side["predict_fraction"] = _limit.fraction(frame_mac, side["predict_ms"] / 1000, limit,
                                               side.get("predict_precision", "float32"))
    # one training image: forward + backward ~ 3 forward passes of the patch
    side["train_fraction"] = _limit.fraction(3 * patch_mac * side["train_images_per_s"], 1.0, limit,
                                             side.get("train_precision", "float32"))


def run_careamics(frames, args):
    import types

    import numpy as np
    import torchmetrics.functional  # noqa: F401  (decides "no torchvision" before the stand-in below)
    import torchmetrics.image  # noqa: F401

    try:
        import torchvision  # noqa: F401
    except (ImportError, RuntimeError):
        # careamics imports torchvision at start-up for its LVAE and BioImage export code only; no CPU
        # torchvision matching torch 2.13.0+cpu installs here, so a module stand-in lets the N2V path load.
        vision, transforms, functional = (types.ModuleType(n) for n in
                                          ("torchvision", "torchvision.transforms", "torchvision.transforms.functional"))
        vision.transforms, transforms.functional, vision.__version__ = transforms, functional, "0+unavailable"
        sys.modules.update({m.__name__: m for m in (vision, transforms, functional)})
    import torch
    from careamics.config import create_advanced_n2v_config
    from careamics.lightning.modules.n2v_module import N2VModule

    p, b = args.patch_size, args.batch_size
    config = create_advanced_n2v_config(
        "speed", "array", "SYXC", [p, p], b, n_channels=2, independent_channels=False,
        model_params={"depth": args.depth, "num_channels_init": args.features},
    )
    module = N2VModule(config.algorithm_config)
    net = module.model
    net.eval()
    chw = [torch.from_numpy(np.ascontiguousarray(f.transpose(2, 0, 1)))[None] for f in frames]

    def predict(x):
        with torch.inference_mode():
            return net(x).numpy()

    ms, all_ms = _median_ms(predict, chw)
    patch_mac = torch_mac(net, torch.zeros((1, 2, args.patch_size, args.patch_size)))
    net.train()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-5)
    normalised = (frames - frames.mean(axis=(1, 2), keepdims=True)) / frames.std(axis=(1, 2), keepdims=True)
    batch = torch.from_numpy(np.ascontiguousarray(
        np.stack([normalised[i % len(frames), :p, :p] for i in range(b)]).transpose(0, 3, 1, 2)))

    def step():
        optimizer.zero_grad()
        x_masked, x_original, mask = module.n2v_manipulate(batch)
        loss = module.loss_func(net(x_masked), x_original, mask)
        loss.backward()
        optimizer.step()
        return float(loss)

    step()
    start = time.perf_counter()
    for _ in range(args.train_steps):
        step()
    seconds = time.perf_counter() - start
    import careamics

    return {"predict_ms": ms, "predict_ms_all": all_ms, "train_images_per_s": b * args.train_steps / seconds,
            "patch_mac": patch_mac, "frame_mac": patch_mac * (args.size / args.patch_size) ** 2,
            "params": int(sum(p.numel() for p in net.parameters())), "threads": torch.get_num_threads(),
            "version": f"careamics {careamics.__version__}, torch {torch.__version__}"}


def torch_mac(net, x):
    """Multiply-adds of one forward of a PyTorch ``net`` on ``x``, counted by hooks on its convolutions and
    linear layers (the formulas of :mod:`tfstem.profiling`)."""
    import math

    import torch

    total, hooks = [0], []

    def count(module, inputs, output):
        kernel = math.prod(getattr(module, "kernel_size", (1,)))
        if isinstance(module, torch.nn.modules.conv._ConvTransposeNd):
            total[0] += inputs[0].numel() * kernel * module.out_channels // module.groups
        elif isinstance(module, torch.nn.modules.conv._ConvNd):
            total[0] += output.numel() * kernel * module.in_channels // module.groups
        else:
            total[0] += output.numel() * module.in_features

    for module in net.modules():
        if isinstance(module, (torch.nn.modules.conv._ConvNd, torch.nn.Linear)):
            hooks.append(module.register_forward_hook(count))
    with torch.inference_mode():
        net(x)
    for hook in hooks:
        hook.remove()
    return int(total[0])


def run_n2v_package(frames, args):
    """CSBDeep's ``n2v`` (TensorFlow + tf-keras): its U-Net and its ``N2V_DataWrapper`` masking."""
    import tempfile as _tempfile

    import numpy as np
    import tensorflow as tf

    if not hasattr(np, "product"):  # n2v 0.3.3 still calls np.product, removed in NumPy 2.0
        np.product = np.prod
    from n2v.internals.N2V_DataWrapper import N2V_DataWrapper
    from n2v.models import N2V, N2VConfig
    from n2v.utils.n2v_utils import pm_uniform_withCP

    p, b = args.patch_size, args.batch_size
    patches = np.stack([frames[i % len(frames), :p, :p] for i in range(4 * b)]).astype(np.float32)
    config = N2VConfig(patches, unet_n_depth=args.depth, unet_n_first=args.features, unet_kern_size=3,
                       train_batch_size=b, n2v_patch_shape=(p, p), train_steps_per_epoch=args.train_steps,
                       train_epochs=1, n2v_perc_pix=0.198, train_tensorboard=False)
    with _tempfile.TemporaryDirectory() as tmp:
        model = N2V(config, "speed", basedir=tmp)
        model.prepare_for_training()
        net = model.keras_model
        predict = tf.function(lambda x: net(x, training=False))
        ms, all_ms = _median_ms(lambda x: predict(tf.constant(x)).numpy(), [f[None] for f in frames])
        normalised = (patches - patches.mean()) / patches.std()
        wrapper = N2V_DataWrapper(normalised, np.concatenate([normalised, np.zeros_like(normalised)], axis=-1),
                                  batch_size=b, length=args.train_steps + 1, perc_pix=0.198, shape=(p, p),
                                  value_manipulation=pm_uniform_withCP(5))
        x, y = wrapper[0]
        net.train_on_batch(x, y)
        start = time.perf_counter()
        for i in range(args.train_steps):
            x, y = wrapper[i + 1]  # their masking (NumPy, host) is part of a training step
            net.train_on_batch(x, y)
        seconds = time.perf_counter() - start
        params = int(net.count_params())
    import n2v

    return {"predict_ms": ms, "predict_ms_all": all_ms, "train_images_per_s": b * args.train_steps / seconds,
            "params": params, "version": f"n2v {n2v.__version__}, tensorflow {tf.__version__} (tf-keras)"}


def run_mono_vs_dual(frames, dual_path, adf_path, bf_path):
    """ms per dual-channel frame: one dual-channel model vs two mono-channel models (paper: 23 vs 43 ms)."""
    import keras
    import tensorflow as tf

    import tfstem.n2v.losses  # noqa: F401  (models saved before commit "uncompiled copy" carry the loss)
    import tfstem.n2v.unet  # noqa: F401  (registers the custom layers)

    def timed(path, channels):
        model = keras.models.load_model(path)
        fn = tf.function(lambda x: model(x, training=False))
        return _median_ms(lambda x: fn(tf.constant(x)).numpy(), [f[None][..., channels] for f in frames])[0]

    dual = timed(dual_path, [0, 1])
    adf, bf = timed(adf_path, [0]), timed(bf_path, [1])
    return {"dual_ms": dual, "adf_ms": adf, "bf_ms": bf, "mono_pair_ms": adf + bf}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3, help="frames timed (median reported)")
    parser.add_argument("--size", type=int, default=512, help="frame side in px (paper: 512)")
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--patch-size", type=int, default=64, help="training patch side")
    parser.add_argument("--batch-size", type=int, default=12, help="training batch (paper: 12)")
    parser.add_argument("--train-steps", type=int, default=3)
    parser.add_argument("--train-precision", choices=("auto", "float32", "bfloat16"), default="float32",
                        help="our training step's arithmetic (every preset: float32; auto: bfloat16 where the "
                             "hardware has it)")
    parser.add_argument("--xla", action="store_true", help="jit_compile the tfstem functions")
    parser.add_argument("--peer-python", default=PEER_PYTHONS["careamics"],
                        help="python of a venv with careamics (skipped with a note when absent)")
    parser.add_argument("--n2v-python", default=PEER_PYTHONS["n2v"],
                        help="python of a venv with CSBDeep's n2v and tf-keras (run with TF_USE_LEGACY_KERAS=1; "
                             "skipped with a note when absent)")
    parser.add_argument("--no-peers", action="store_true", help="time tfstem only")
    parser.add_argument("--limit", default=None, help="JSON from compute_limit.py --json (else measured here)")
    parser.add_argument("--worker", choices=("careamics", "n2v"), default=None, help=argparse.SUPPRESS)
    parser.add_argument("--frames-file", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", default=None, help="also write the results as JSON")
    parser.add_argument("--force", action="store_true", help="replace an existing --json file")
    parser.add_argument("--mono-vs-dual", nargs=3, metavar=("DUAL", "ADF", "BF"), default=None,
                        help="time three trained .keras models (dual, ADF-only, BF-only) on the frames instead")
    args = parser.parse_args(argv)

    import numpy as np

    if args.worker:
        worker = run_careamics if args.worker == "careamics" else run_n2v_package
        print(json.dumps(worker(np.load(args.frames_file), args)))
        return 0
    frames = make_frames(args.frames, args.size)
    if args.mono_vs_dual:
        timing = run_mono_vs_dual(frames, *args.mono_vs_dual)
        print(f"{args.size}x{args.size} frames, median of {args.frames}: dual-channel model {timing['dual_ms']:.0f} ms, "
              f"ADF model {timing['adf_ms']:.0f} ms + BF model {timing['bf_ms']:.0f} ms = {timing['mono_pair_ms']:.0f} ms "
              f"(dual/mono pair {timing['dual_ms'] / timing['mono_pair_ms']:.2f})")
        if args.json:
            from tfstem.outputs import write_json
            write_json(args.json, timing, force=args.force)
        return 0
    limit = _limit.load(args.limit)
    results = {"ours": run_ours(frames, args)}
    for peer, python in (("careamics", args.peer_python), ("n2v", args.n2v_python)):
        if args.no_peers or not python:
            continue
        if not Path(python).exists():
            print(f"{peer}: skipped, no interpreter at {python} (--{'peer' if peer == 'careamics' else 'n2v'}-python)")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "frames.npy"
            np.save(path, frames)
            command = [python, __file__, "--worker", peer, "--frames-file", str(path)]
            for name in ("frames", "size", "features", "depth", "patch_size", "batch_size", "train_steps"):
                command += ["--" + name.replace("_", "-"), str(getattr(args, name))]
            env = {**os.environ, "TF_USE_LEGACY_KERAS": "1"} if peer == "n2v" else None
            done = subprocess.run(command, capture_output=True, text=True, env=env)
            if done.returncode:
                results[peer] = {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
            else:
                results[peer] = json.loads(done.stdout.strip().splitlines()[-1])
    ours = results["ours"]
    frame_mac, patch_mac = unet_mac(args, 5)
    add_fractions(ours, limit, frame_mac, patch_mac)
    peer_frame_mac, peer_patch_mac = unet_mac(args, 3)
    for name in ("careamics", "n2v"):
        if name in results and "error" not in results[name]:
            peer = results[name]  # CAREamics counts its own (hooks); n2v's U-Net: our stand-in
            add_fractions(peer, limit, peer.get("frame_mac", peer_frame_mac), peer.get("patch_mac", peer_patch_mac))
    print(_limit.describe(limit))
    print(f"{args.size}x{args.size} dual-channel frames, depth {args.depth}, {args.features} features, "
          f"{ours['device']}, {args.frames} frames (median), training batch {args.batch_size} of {args.patch_size}^2")
    peers = [(name, results[name]) for name in ("careamics", "n2v") if name in results]
    for name, peer in peers:
        if "error" in peer:
            print(f"{name} failed: {peer['error']}")
    peers = [(name, peer) for name, peer in peers if "error" not in peer]
    print("| | tfstem | " + " | ".join(f"{name} | ours/{name} (time)" for name, _ in peers) + " |")
    print("|---" * (2 + 2 * len(peers)) + "|")
    row = f"| prediction, ms per frame | {ours['predict_ms']:.0f} | "
    row += " | ".join(f"{peer['predict_ms']:.0f} | {ours['predict_ms'] / peer['predict_ms']:.2f}" for _, peer in peers)
    print(row + " |")
    row = f"| training, images/s | {ours['train_images_per_s']:.2f} | "
    row += " | ".join(f"{peer['train_images_per_s']:.2f} | {peer['train_images_per_s'] / ours['train_images_per_s']:.2f}"
                      for _, peer in peers)
    print(row + " |")
    row = f"| prediction, fraction of compute limit | {_limit.format_fraction(ours['predict_fraction'])} "
    row += f"({ours['predict_precision']}) | "
    row += " | ".join(f"{_limit.format_fraction(peer['predict_fraction'])} (float32) | " for _, peer in peers)
    print(row + " |")
    row = f"| training, fraction of compute limit | {_limit.format_fraction(ours['train_fraction'])} "
    row += f"({ours['train_precision']}) | "
    row += " | ".join(f"{_limit.format_fraction(peer['train_fraction'])} (float32) | " for _, peer in peers)
    print(row + " |")
    print(f"| parameters | {ours['params']:,} | " + " | ".join(f"{peer['params']:,} | " for _, peer in peers) + " |")
    for name, peer in peers:
        print(f"{name}: {peer.get('version', '')}")
    print(f"Gaussian blur (sigma 1 px, both channels): {ours['gaussian_ms']:.0f} ms per frame; "
          f"paper: N2V 22-23 ms, Gaussian 11 ms per 512x512 dual frame on an RTX A5000")
    if args.json:
        from tfstem.outputs import write_json
        write_json(args.json, results, force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
