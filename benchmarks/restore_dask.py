"""Restoring with dask: peak memory of a file-to-file restore, and throughput of the schedulers.

Two measurements, printed as tables:

``memory``  Peak resident memory (RSS) of ``tfstem restore in.zarr -o out.zarr`` at several series lengths.
            The input series (float32 frames of ``--size`` x ``--size``, Poisson noise) is generated lazily
            with dask and written to ``in.zarr`` chunk by chunk, so no step ever holds the series. Each
            restore runs in a fresh process whose peak RSS is read with ``os.wait4``; the model is the
            smallest CGRDN of the tests (features 8), so that 512 frames of 1024 x 1024 take minutes on a
            CPU: the peak depends on the chunk and the model, not on the length.

``speed``   Frames/s of ``tfstem.restore(dask_array).compute()`` on the threaded scheduler and on a
            ``LocalCluster`` of 1 and 2 worker processes (1 thread each), with ``r_em/hrstem`` on
            ``--frames`` frames of 256 x 256 (``--frames-per-chunk`` per task), after a warm-up that loads the
            model and traces the network in every worker. The per-task overhead is the worker time not spent
            in network calls, per task: ``(wall * workers - network seconds) / tasks``, where the network
            seconds are summed by a timer around the network call in every worker (threads: workers = 1, since
            tfstem.lazy makes one network call at a time per process).

Usage::

    python benchmarks/restore_dask.py memory --frames 64 512 --size 1024 --workdir /tmp/tfstem-dask-memory
    python benchmarks/restore_dask.py speed --frames 16 --frames-per-chunk 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")



# ------------------------------------------------------------------------------------------- memory


def _tiny_model(folder: Path) -> Path:
    from tfstem.r_em.cgrdn import build_cgrdn

    path = folder / "tiny.keras"
    if not path.exists():
        build_cgrdn(features=8, growth=4, layers_per_rdb=2, rdbs_per_grdb=1, grdbs=1).save(path)
    return path


def _make_series(path: Path, frames: int, size: int) -> None:
    import dask.array as da
    import numpy as np
    import zarr

    if path.exists():
        return
    state = da.random.RandomState(19)
    series = state.poisson(20.0, size=(frames, size, size), chunks=(8, size, size)).astype(np.float32)
    target = zarr.open_array(str(path), mode="w", shape=series.shape, chunks=(8, size, size), dtype="float32")
    target.attrs.update({"pixel_size": 0.05, "unit": "nm"})
    da.store(series, target, lock=False)


def _peak_rss(command) -> tuple[float, float, int]:
    """Run ``command``; its peak RSS in GB (ru_maxrss, kB on Linux), wall seconds and exit status."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    error = process.stderr.read().decode(errors="replace")
    if process.returncode:
        raise RuntimeError(f"{' '.join(map(str, command))} failed ({process.returncode}): {error[-2000:]}")
    return usage.ru_maxrss / 1e6, time.perf_counter() - start, process.returncode


def run_memory(args) -> None:
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    model = _tiny_model(workdir)
    tfstem = Path(sys.executable).with_name("tfstem")
    rows = []
    for frames in args.frames:
        source = workdir / f"series_{frames}x{args.size}.zarr"
        _make_series(source, frames, args.size)
        output = workdir / f"restored_{frames}.zarr"
        shutil.rmtree(output, ignore_errors=True)
        command = [str(tfstem), "restore", str(source), "-o", str(output), "--model", str(model), "--quiet"]
        peak, wall, _ = _peak_rss(command)
        gigabytes = frames * args.size * args.size * 4 / 1e9
        rows.append((frames, gigabytes, peak, wall, frames / wall))
        print(" ".join(command), file=sys.stderr)
        if not args.keep:
            shutil.rmtree(output, ignore_errors=True)
    print(f"\nPeak RSS of `tfstem restore in.zarr -o out.zarr` (float32 {args.size} x {args.size} frames, "
          f"tiny CGRDN, chunks of {max(1, 32 * 2**20 // (4 * args.size**2))} frames, {os.cpu_count()} CPU cores)\n")
    print("| frames | series (GB float32) | peak RSS (GB) | wall (s) | frames/s |")
    print("|---:|---:|---:|---:|---:|")
    for frames, gigabytes, peak, wall, rate in rows:
        print(f"| {frames} | {gigabytes:.2f} | {peak:.2f} | {wall:.0f} | {rate:.2f} |")


# ------------------------------------------------------------------------------------------- speed


def _timer_state():
    """The timer of this process, kept on the tfstem.restore module (these functions are shipped to workers)."""
    import importlib
    import threading

    module = importlib.import_module("tfstem.restore")  # the module, not tfstem.restore the function
    if not hasattr(module, "_benchmark_timer"):
        module._benchmark_timer = {"seconds": 0.0, "calls": 0, "lock": threading.Lock()}
    return module, module._benchmark_timer


def _install_timer():
    """Wrap tfstem.restore.predictor so that every network call adds to this process's timer."""
    import time

    module, timer = _timer_state()
    if getattr(module.predictor, "_timed", False):
        return True
    original = module.predictor

    def predictor(model, jit_compile, precision="float32"):
        run = original(model, jit_compile, precision)

        def timed(batch):
            start = time.perf_counter()
            result = run(batch)
            with timer["lock"]:
                timer["seconds"] += time.perf_counter() - start
                timer["calls"] += 1
            return result

        return timed

    predictor._timed = True
    module.predictor = predictor
    return True


def _reset_timer():
    _, timer = _timer_state()
    with timer["lock"]:
        timer.update(seconds=0.0, calls=0)
    return True


def _read_timer():
    _, timer = _timer_state()
    with timer["lock"]:
        return timer["seconds"], timer["calls"]


def _series(frames, size, per_chunk):
    import dask.array as da
    import numpy as np

    state = da.random.RandomState(7)
    return state.poisson(20.0, size=(frames, size, size), chunks=(per_chunk, size, size)).astype(np.float32)


def run_speed(args) -> None:
    import dask
    import tfstem

    model, size = args.model, 256
    series = _series(args.frames, size, args.frames_per_chunk)  # generated in the tasks (~1 ms a frame)
    tasks = series.numblocks[0]
    rows = []

    # threaded scheduler
    threads = args.threads or os.cpu_count()
    _install_timer()
    with dask.config.set(scheduler="threads", num_workers=threads):
        tfstem.restore(series[: threads * args.frames_per_chunk], model=model).compute()  # warm-up
        _reset_timer()
        start = time.perf_counter()
        tfstem.restore(series, model=model).compute()
        wall = time.perf_counter() - start
    network, _ = _read_timer()
    # tfstem.lazy runs one network call at a time per process: the network's parallelism is 1 here
    rows.append((f"threads ({threads}; network serialised)", 1, wall, network))

    # LocalCluster of 1 and 2 worker processes
    from distributed import Client, LocalCluster

    for workers in args.workers:
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            client.run(_install_timer)
            data = series
            for _ in range(2):  # warm-up: load and trace in every worker
                client.compute(tfstem.restore(data[: workers * args.frames_per_chunk], model=model)).result()
            client.run(_reset_timer)
            start = time.perf_counter()
            client.compute(tfstem.restore(data, model=model)).result()
            wall = time.perf_counter() - start
            network = sum(seconds for seconds, _ in client.run(_read_timer).values())
        rows.append((f"LocalCluster {workers} worker{'s' if workers > 1 else ''}", workers, wall, network))

    print(f"\nRestoring {args.frames} frames of {size} x {size} ({model}; {args.frames_per_chunk} frames per task, "
          f"{tasks} tasks; {os.cpu_count()} CPU cores)\n")
    print("| scheduler | frames/s | wall (s) | network (s, all workers) | overhead per task (s) |")
    print("|---|---:|---:|---:|---:|")
    for name, workers, wall, network in rows:
        overhead = (wall * workers - network) / tasks
        print(f"| {name} | {args.frames / wall:.2f} | {wall:.1f} | {network:.1f} | {overhead:.3f} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    memory = commands.add_parser("memory", help="peak RSS of tfstem restore in.zarr -o out.zarr")
    memory.add_argument("--frames", type=int, nargs="+", default=[64, 512])
    memory.add_argument("--size", type=int, default=1024)
    memory.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "tfstem-dask-memory"))
    memory.add_argument("--keep", action="store_true", help="keep the restored .zarr folders")
    speed = commands.add_parser("speed", help="frames/s on threads and LocalCluster(1, 2)")
    speed.add_argument("--frames", type=int, default=16)
    speed.add_argument("--frames-per-chunk", type=int, default=2)
    speed.add_argument("--model", default="r_em/hrstem")
    speed.add_argument("--threads", type=int, default=None)
    speed.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    (run_memory if args.command == "memory" else run_speed)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
