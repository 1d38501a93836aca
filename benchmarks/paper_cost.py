"""GFLOP per training step of each method's ``paper`` preset: the ``paper_cost`` entry of ``models/<method>.json``.

The forward FLOPs of each network at the paper's patch size and batch are counted by the TensorFlow profiler
(``tf.compat.v1.profiler``, float operations of the frozen forward graph; convolutions, transposed convolutions
and dense layers, i.e. nearly all of the work). One step is then a number of forward passes (the backward pass of
an update costs about two forward passes, so an update counts 3; the gradient penalty's double backward through
the critic counts 2 more):

* noise2atom (Wang et al. 2020, Training Details): Ms2c forward for the critic (1 Ms2c); 5 critic updates, each
  on clean, denoised and interpolated images with the penalty (5 x (3 x 3 + 2) = 55 critic); the adversarial
  update (3 Ms2c + 3 critic); the low-frequency cycle update (3 Ms2c + 3 Mc2s) and the clean cycle update
  (3 Mc2s + 3 Ms2c): 16 generator and 58 critic passes of one 128x128 patch, times the batch of 6.
* n2v (Thornley et al. 2025): one update of the U-Net on 12 dual-channel 256x256 patches (3 passes).
* r_em (Lobato et al. 2023): one generator update and one critic update on 4 patches of 256x256: generator
  3 passes, critic on the real and the restored pair with both updates through it (3 x 2 = 6 critic passes).

The start-up estimate (:mod:`tfstem.training.sizing`) divides steps x GFLOP per step by the rate of a timed
convolution times ``rate_vs_probe``: the FLOP rate a real step of the method's ``cpu`` preset reaches over the
probe's rate, both timed together (``--calibrate``), because normalisation, element-wise ops, losses and data are
not counted in the FLOPs and a batched convolution runs at another rate than the batch-1 probe.

    python benchmarks/paper_cost.py [--measured] [--calibrate STEPS] [--only METHOD]

``--measured`` also prints this machine's convolution rate and the seconds per step at that rate;
``--calibrate 8`` times 8 steps of each ``cpu`` preset (the first left out) with the probe after each, and prints
``rate_vs_probe`` (the ``paper_cost`` entry of ``models/<method>.json``).
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def forward_gflop(model, input_shapes) -> float:
    """Forward GFLOP of ``model`` on float32 inputs of ``input_shapes`` (a list of shapes), profiler count."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    specs = [tf.TensorSpec(shape, tf.float32) for shape in input_shapes]
    function = tf.function(lambda *x: model(list(x) if len(x) > 1 else x[0], training=False))
    frozen = convert_variables_to_constants_v2(function.get_concrete_function(*specs))
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return tf.compat.v1.profiler.profile(graph=frozen.graph, options=options).total_float_ops / 1e9


def noise2atom_step(preset="paper"):
    from tfstem.config import load_config
    from tfstem.noise2atom.wgan_critic import build_wgan_critic
    from tfstem.noise2atom.xception_unet import build_xception_unet

    c = load_config("noise2atom", preset)
    shape = [(1, c.patch_size, c.patch_size, 1)]
    generator = forward_gflop(build_xception_unet(
        features=c.features, num_residual_blocks=c.num_residual_blocks,
        full_resolution_kernels=c.full_resolution_kernels, low_resolution_kernels=c.low_resolution_kernels,
        normalization=c.normalization), shape)
    critic = forward_gflop(build_wgan_critic(patch_size=c.patch_size, filters=c.critic_filters,
                                             dropout=c.critic_dropout, normalization=c.normalization,
                                             grid=c.critic_grid), shape)
    passes = {"generator": 16, "critic": 58}
    step = c.batch_size * (passes["generator"] * generator + passes["critic"] * critic)
    return {"generator": generator, "critic": critic}, passes, c.batch_size, step


def n2v_step(preset="paper"):
    from tfstem.config import load_config
    from tfstem.n2v.unet import build_n2v_unet_core

    c = load_config("n2v", preset)
    unet = forward_gflop(build_n2v_unet_core(channels=2, depth=c.depth, features=c.features,
                                             first_kernel_size=c.first_kernel_size, kernel_size=c.kernel_size,
                                             negative_slope=c.negative_slope, group_norm_groups=c.group_norm_groups),
                         [(1, c.patch_size, c.patch_size, 2)])
    passes = {"unet": 3}
    return {"unet": unet}, passes, c.batch_size, c.batch_size * 3 * unet


def r_em_step(preset="paper"):
    from tfstem.config import load_config
    from tfstem.r_em.cgrdn import build_cgrdn
    from tfstem.r_em.patch_critic import build_patch_critic

    c = load_config("r_em", preset)
    shape = (1, c.patch_size, c.patch_size, c.channels)
    generator = forward_gflop(build_cgrdn(channels=c.channels, features=c.features, growth=c.growth,
                                          layers_per_rdb=c.layers_per_rdb, rdbs_per_grdb=c.rdbs_per_grdb,
                                          grdbs=c.grdbs), [shape])
    critic = forward_gflop(build_patch_critic(channels=c.channels, features=c.critic_features), [shape, shape])
    passes = {"generator": 3, "critic": 6}
    return {"generator": generator, "critic": critic}, passes, c.batch_size, c.batch_size * (3 * generator + 6 * critic)


def timing_data(method):
    """Random data of the right kind for a timed ``cpu`` run (the step's cost does not depend on the values)."""
    import numpy as np

    rng = np.random.default_rng(0)
    if method == "noise2atom":
        return rng.poisson(1.5, (8, 256, 256)).astype(np.float32)
    if method == "n2v":
        return rng.standard_normal((8, 128, 128, 2)).astype(np.float32)
    x = rng.standard_normal((8, 256, 256, 1)).astype(np.float32)
    return x, x


def seconds_per_cpu_step(method, steps):
    """Median seconds of a ``cpu``-preset step of ``method`` here and the median convolution rate (GFLOP/s)
    timed right after each step: the load of a shared machine changes from minute to minute, so the step and
    the rate it is compared with are measured together. The first step, which traces, is left out."""
    import time

    import numpy as np
    import tfstem
    from tfstem.training.sizing import convolution_rate

    durations, rates, clock = [], [], {}

    def probe(step, losses):
        now = time.perf_counter()
        if "end" in clock:
            durations.append(now - clock["end"])
            rates.append(convolution_rate())
        clock["end"] = time.perf_counter()

    # Noise2Atom's cpu preset starts with 150 warm-up iterations without the adversarial update: timed without.
    overrides = {"adversarial_warmup": 0} if method == "noise2atom" else {}
    tfstem.fit(method, timing_data(method), preset="cpu", steps=steps, verbose=False, callback=probe, **overrides)
    return float(np.median(durations)), float(np.median(rates))


STEPS = {"noise2atom": noise2atom_step, "n2v": n2v_step, "r_em": r_em_step}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measured", action="store_true", help="also time this machine's convolution rate")
    parser.add_argument("--calibrate", type=int, default=0, metavar="STEPS",
                        help="also time STEPS steps of each method's cpu preset here and print the fraction of the "
                             "convolution rate a real step reaches (paper_cost.rate_vs_probe)")
    parser.add_argument("--only", choices=tuple(STEPS), default=None)
    args = parser.parse_args(argv)
    names = [name for name in STEPS if not args.only or name == args.only]
    # Timed first: after the profiler's graph-mode calls in this process, a tf.function of a method fails to trace.
    measured = {name: seconds_per_cpu_step(name, args.calibrate) for name in names} if args.calibrate else {}
    rate = None
    if args.measured or args.calibrate:
        from tfstem.training.sizing import machine_gflops

        rate = machine_gflops()
        print(f"convolution rate here: {rate:.1f} GFLOP/s")
    print("| method | preset | forward GFLOP per patch | passes per step | batch | GFLOP per step |"
          + (" s per step at the convolution rate |" if rate else "") + (" s per step measured | rate_vs_probe |"
                                                                         if args.calibrate else ""))
    print("|---|---|---|---|---|---|" + ("---|" if rate else "") + ("---|---|" if args.calibrate else ""))
    for name in names:
        function = STEPS[name]
        for preset in ("paper", "cpu"):
            forward, passes, batch, step = function(preset)
            forward_text = ", ".join(f"{k} {v:.3f}" for k, v in forward.items())
            passes_text = ", ".join(f"{k} {v}" for k, v in passes.items())
            extra = f" {step / rate:.2f} |" if rate else ""
            if args.calibrate and preset == "cpu":
                seconds, rate_then = measured[name]
                extra += f" {seconds:.2f} at {rate_then:.1f} GFLOP/s | {step / rate_then / seconds:.3f} |"
            elif args.calibrate:
                extra += " | |"
            print(f"| {name} | {preset} | {forward_text} | {passes_text} | {batch} | {step:.1f} |{extra}", flush=True)


if __name__ == "__main__":
    main()
