"""Throughput of tfstem.synth.pairs (pairs per second) and the share of time per stage.

The whole ``tf.data`` pipeline (parallel map, prefetch) is timed end to end after two warm-up batches, in wall-clock
seconds and in CPU seconds of this process (``time.process_time``, all threads). On a shared machine the wall
figure depends on the other jobs; the CPU seconds per pair do not (much), and ``cores / CPU s per pair`` is the rate
the same work would reach on that many idle cores (an upper bound: it assumes the map keeps every core busy).

The stages are then timed one after the other (not overlapped, so that the shares add up) on the first
``--stage-images`` elements of the timed batches, in CPU seconds per image: specimen sampling (NumPy), image
formation (TensorFlow, Eq. 16-26) and distortion of batches (TensorFlow, ``distort``).

Usage::

    python benchmarks/synth_throughput.py --modalities hrstem hrtem --size 256 --batches 6 --batch-size 8
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import gc  # noqa: E402
import time  # noqa: E402

import tensorflow as tf  # noqa: E402


class Clock:
    """Wall and process CPU seconds between construction and :meth:`stop`."""

    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def stop(self):
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modalities", nargs="+", default=["hrstem", "hrtem"])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batches", type=int, default=6, help="timed batches after two warm-up batches")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stage-images", type=int, default=16, help="images for the per-stage timings")
    parser.add_argument("--cores", type=int, default=2, help="idle cores for the implied rate (default 2)")
    args = parser.parse_args(argv)

    from tfstem.synth import distort, imaging, pairs
    from tfstem.synth.configs import modality_config
    from tfstem.synth.pipelines import _margin, make_clean_example

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"cores visible: {os.cpu_count()}, load average (1 min) at start: {load:.1f}")
    header = ("| modality | size | batch | pipeline pairs/s (wall) | CPU s/pair | implied pairs/s on "
              f"{args.cores} idle cores | specimen CPU ms/img | render CPU ms/img | distort CPU ms/img | "
              "share specimen / render / distort |")
    lines = []
    for modality in args.modalities:
        cfg = modality_config(modality)
        margin = _margin(cfg, args.size)
        n = args.batch_size
        m = args.stage_images
        # end to end: two untimed batches (start-up, and prefetch buffers filling), so that the timed batches begin
        # and end with full buffers and measure the steady-state rate
        ds = iter(pairs(modality, size=args.size, batch_size=n, seed=args.seed))
        for _ in range(2):
            next(ds)[0].numpy()
        clock = Clock()
        for _ in range(args.batches):
            x, _ = next(ds)
            x.numpy()
        wall, cpu = clock.stop()
        count = args.batches * n
        # stop the pipeline's background workers (they would refill the buffers while the stages are timed)
        del ds
        gc.collect()
        time.sleep(3.0)
        # stage 1: specimen and parameter draws (NumPy)
        clock = Clock()
        # the elements of the first timed batches above (specimen cost is heavy-tailed: compare like with like)
        parts = [make_clean_example(cfg, args.seed, 2 * n + i, args.size, args.size, margin) for i in range(m)]
        t_specimen = clock.stop()[1] / m
        # stage 2: image formation (TensorFlow), traced once for any number of atoms/species
        he = we = args.size + 2 * margin
        high = cfg.imaging.resolution == "high"

        rows = imaging.low_resolution_table_rows(cfg.imaging)

        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32), tf.TensorSpec([None], tf.int32),
                                      tf.TensorSpec([None, 5], tf.float32), tf.TensorSpec([rows, 12], tf.float32),
                                      tf.TensorSpec([10], tf.float32)])
        def render(positions, species, profiles, table, finish):
            if high:
                y = imaging.render_atoms(positions, species, profiles, he, we)
            else:
                y = imaging.render_low_resolution(table, he, we, cfg.imaging)
            return imaging.finish_image(y, finish, cfg.imaging.std_over_mean)

        render(*parts[0][:5])
        clock = Clock()
        cleans = [render(*p[:5]) for p in parts]
        clean = tf.stack(cleans)[..., None]
        clean.numpy()
        t_render = clock.stop()[1] / m
        # stage 3: distortion of batches (TensorFlow)
        dr = tf.constant([p[5] for p in parts])
        fn = tf.function(lambda c, s, d: distort(c, cfg, s, pixel_size=d))
        fn(clean[:n], tf.constant([1, 2], tf.int64), dr[:n])[0].numpy()
        clock = Clock()
        for start in range(0, m - n + 1, n):
            fn(clean[start:start + n], tf.constant([1, 3 + start], tf.int64), dr[start:start + n])[0].numpy()
        t_distort = clock.stop()[1] / (n * (m // n))
        total = t_specimen + t_render + t_distort
        share = " / ".join(f"{100 * t / total:.0f} %" for t in (t_specimen, t_render, t_distort))
        lines.append(f"| {modality} | {args.size} | {n} | {count / wall:.2f} | {cpu / count:.3f} | "
                    f"{args.cores * count / cpu:.1f} | {1e3 * t_specimen:.0f} | {1e3 * t_render:.0f} | "
                    f"{1e3 * t_distort:.0f} | {share} |")
        print(f"{modality}: {count} pairs in {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average (1 min) at end: {load:.1f}")
    print(header)
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
