"""Ready-to-run (LiteRT) copies against TensorFlow: agreement, quality against clean targets and speed.

Usage::

    python benchmarks/ready_agreement.py [--frames 8]

For each of tk-r-em's six test sets (``tfstem.r_em.load_test_data``: hrstem, lrstem, hrtem, lrtem, hrsem,
lrsem; hrtem's 768 x 768 frames cropped to their central 256 x 256) with its authors' model, it makes the
ready copy (``tfstem.ready.prepare``, cached) and restores ``--frames`` frames with ``tfstem.restore`` twice:
with the TensorFlow model in float32 and with the copy. One row per set:

* ``max |copy - tf| / range``: the largest difference over the set's frames, as a fraction of each frame's
  TensorFlow output range (the criterion :data:`tfstem.ready.AGREEMENT` holds a copy to on its check frame);
* ``copy vs tf``: PSNR of the copy's output against TensorFlow's (TensorFlow's range as the peak, mean over
  frames);
* the change in PSNR against the clean targets (copy - tf, dB; ``-`` for hrtem, which has no targets);
* the warm time per frame of each (one warm-up call first).

A last row restores a 256 x 256 frame of pure Poisson noise (mean 5), the worst case for a relative
measure: the network returns an almost flat frame there (range ~0.17 in units of the input's std).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

R_EM_SETS = ("hrstem", "lrstem", "hrtem", "lrtem", "hrsem", "lrsem")


def _psnr(reference, test):
    span = float(reference.max() - reference.min())
    mse = float(np.mean((reference.astype(np.float64) - test) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(span**2 / mse)


def _timed(frames, model, **options):
    import tfstem

    tfstem.restore(frames[:1], model=model, verbose=False, **options)  # warm-up: trace / allocate
    start = time.perf_counter()
    out = tfstem.restore(frames, model=model, verbose=False, batch_size=1, **options)
    return out, (time.perf_counter() - start) / frames.shape[0]


def measure(name, model_name, noisy, clean):
    """One row: agreement, quality change and speed of the ready copy of ``model_name`` on ``noisy``."""
    import tfstem
    from tfstem import ready

    keras_model = tfstem.load_model(model_name)
    copy = ready.prepare(model_name)
    ours, tf_seconds = _timed(noisy, keras_model, precision="float32")
    theirs, copy_seconds = _timed(noisy, copy)
    worst = max(float(np.abs(theirs[i] - ours[i]).max()) / float(ours[i].max() - ours[i].min())
                for i in range(noisy.shape[0]))
    agreement = float(np.mean([_psnr(ours[i], theirs[i]) for i in range(noisy.shape[0])]))
    change = None
    if clean is not None:
        change = float(np.mean([_psnr(clean[i], theirs[i]) - _psnr(clean[i], ours[i]) for i in range(noisy.shape[0])]))
    return dict(name=name, worst=worst, agreement=agreement, change=change, tf=tf_seconds, copy=copy_seconds,
                check=copy.agreement)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    args = parser.parse_args(argv)

    from tfstem import r_em

    rows = []
    for name in R_EM_SETS:
        noisy, clean = r_em.load_test_data(name)
        if name == "hrtem":
            start = (noisy.shape[1] - 256) // 2
            noisy = noisy[:, start: start + 256, start: start + 256]
        noisy = noisy[: args.frames]
        clean = None if clean is None else clean[: args.frames]
        rows.append(measure(name, f"r_em/{name}", noisy, clean))
    noise = np.random.default_rng(0).poisson(5.0, (1, 256, 256, 1)).astype(np.float32)
    rows.append(measure("pure noise (hrstem)", "r_em/hrstem", noise, None))

    print(f"LiteRT copy vs TensorFlow float32, tfstem.restore, {args.frames} frames per set, "
          f"{os.cpu_count()} CPU threads")
    print("| set | max \\|copy - tf\\| / range | copy vs tf (dB) | change vs clean (dB) | check frame | "
          "tf s/frame | copy s/frame |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        change = "-" if r["change"] is None else f"{r['change']:+.5f}"
        print(f"| {r['name']} | {r['worst']:.1e} | {r['agreement']:.1f} | {change} | {r['check']:.1e} | "
              f"{r['tf']:.2f} | {r['copy']:.2f} |")


if __name__ == "__main__":
    main()
