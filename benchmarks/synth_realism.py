"""Realism check of tfstem.synth with the r_em authors' pretrained networks (tk-r-em, GPLv3 extra).

If our (distorted, clean) pairs look like the pairs the authors trained on, their network should restore ours:
for each modality it restores ``-n`` of our pairs and reports the PSNR gain over the distorted input (vs our clean
image), and compares the input-PSNR distribution of our pairs with that of tk-r-em's own shipped test pairs
(histograms in a PNG, quartiles in the table). Results accumulate in ``OUT.json`` over runs (one modality at a time
is fine); the PNG and the printed table cover every modality in it (``--fresh`` starts over).

PSNR is ``10 log10(range(clean)^2 / MSE)`` (tfstem.metrics.psnr). tk-r-em's test pairs store the distorted and
clean images on different intensity scales (16-bit, separately scaled), so the input-PSNR comparison uses the
*scale-matched* PSNR: the distorted image is first fitted to the clean one by least squares (a x + b), for both
datasets alike; the raw PSNR is reported too.

Usage::

    python benchmarks/synth_realism.py -n 64 --out benchmarks/synth_realism
    python benchmarks/synth_realism.py -n 16 --modalities lrstem      # adds lrstem to OUT.json / OUT.png
    python benchmarks/synth_realism.py --quick --out /tmp/realism
"""

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"  # tk-r-em's SavedModels need Keras 2 (tf_keras); set before TensorFlow
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402


def psnr(clean, test):
    rng = float(clean.max() - clean.min())
    mse = float(np.mean((clean.astype(np.float64) - test) ** 2))
    return 10 * np.log10(rng**2 / max(mse, 1e-20))


def matched_psnr(clean, test):
    """PSNR after the least-squares affine fit of ``test`` onto ``clean`` (scale-free input quality)."""
    a = np.stack([test.ravel().astype(np.float64), np.ones(test.size)], 1)
    coef, *_ = np.linalg.lstsq(a, clean.ravel().astype(np.float64), rcond=None)
    return psnr(clean, (a @ coef).reshape(clean.shape))


def tk_test_pairs(name):
    import tk_r_em

    path = pathlib.Path(tk_r_em.__file__).parent / "test_data" / f"{name}.h5"
    with h5py.File(path, "r") as f:
        if "y" not in f:  # tk-r-em 1.0.4 ships sfr_hrtem.h5 with distorted images only
            return None, None
        x, y = np.asarray(f["x"], np.float32), np.asarray(f["y"], np.float32)
    # stored as [H, W, N] or [N, H, W] depending on the file; put N first
    if x.ndim == 3 and x.shape[0] == x.shape[1]:
        x, y = np.moveaxis(x, -1, 0), np.moveaxis(y, -1, 0)
    return x.reshape(-1, x.shape[-2], x.shape[-1], 1), y.reshape(-1, y.shape[-2], y.shape[-1], 1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modalities", nargs="+", default=["hrstem", "hrtem", "lrstem"])
    parser.add_argument("-n", type=int, default=64, help="our pairs per modality (default 64)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=2023)
    parser.add_argument("--out", default="benchmarks/synth_realism", help="output prefix for .png and .json")
    parser.add_argument("--quick", action="store_true", help="CI: 4 pairs, 128 px")
    parser.add_argument("--stop-at", help="UTC HH:MM: start no chunk of 8 pairs that would end after it")
    parser.add_argument("--resume", action="store_true",
                        help="continue each modality's earlier run in OUT.json (same seed and size) up to -n pairs")
    parser.add_argument("--fresh", action="store_true", help="ignore results of earlier runs in OUT.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.size = 4, 128
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import tk_r_em

    import tfstem.synth as synth

    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    json_path = pathlib.Path(str(out) + ".json")
    # runs for different modalities (e.g. in different time slots) accumulate in one JSON and one PNG
    results = json.loads(json_path.read_text()) if json_path.exists() and not args.fresh else {}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=pathlib.Path(__file__).parent).stdout.strip()
    q = lambda v: [round(float(a), 2) for a in np.percentile(v, [25, 50, 75])] if len(v) else None  # noqa: E731
    stop_at = None
    if args.stop_at:
        hour, minute = map(int, args.stop_at.split(":"))
        now = datetime.datetime.now(datetime.timezone.utc)
        stop_at = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    for modality in args.modalities:
        net = tk_r_em.load_network(f"sfr_{modality}")
        batch = min(8, args.n)
        ds = iter(synth.pairs(modality, size=args.size, batch_size=batch, seed=args.seed))
        prev = results.get(modality)
        if args.resume and prev and prev["seed"] == args.seed and prev["size"] == args.size:
            # continue an earlier run of the same stream: skip the batches it measured, reuse its tk-r-em figures
            p_in, p_out, m_in = prev["ours_input_psnr"], prev["ours_restored_psnr"], prev["ours_matched_input_psnr"]
            t_gen, t_net = prev["seconds_generate"], prev["seconds_network"]
            for _ in range(len(p_in) // batch):
                next(ds)
            tk_n, t_in = prev["tk_test_n"], np.array(prev["tk_test_matched_input_psnr"])
            tk_raw_q, tk_gain = prev["tk_test_raw_input_psnr_quartiles"], prev["tk_test_gain_db_matched"]
            print(f"{modality}: resuming after {len(p_in)} pairs", flush=True)
        else:
            tx, ty = tk_test_pairs(f"sfr_{modality}")
            if tx is None:
                tx = ty = np.zeros((0, 1, 1, 1), np.float32)
            t_in = np.array([matched_psnr(ty[i], tx[i]) for i in range(len(tx))])
            t_raw = np.array([psnr(ty[i], tx[i]) for i in range(len(tx))])
            t_out = np.array([psnr(ty[i], r) for i, r in enumerate(net.predict(tx, batch_size=4))]) if len(tx) else t_in
            tk_n, tk_raw_q = int(len(tx)), q(t_raw)
            tk_gain = float(t_out.mean() - t_in.mean()) if len(tx) else None
            p_in, p_out, m_in = [], [], []
            t_gen = t_net = 0.0
        # chunk by chunk, saving after each, so that a run cut short (time slot, --stop-at) keeps what it measured
        for _ in range(max(args.n // batch, 1) - len(p_in) // batch):
            if stop_at is not None and p_in and (datetime.datetime.now(datetime.timezone.utc)
                                                 + datetime.timedelta(seconds=(t_gen + t_net) / len(p_in) * batch)
                                                 > stop_at):
                print(f"{modality}: stopping at {len(p_in)} pairs (--stop-at {args.stop_at})", flush=True)
                break
            t0 = time.time()
            x, y = (v.numpy() for v in next(ds))
            t_gen += time.time() - t0
            t0 = time.time()
            restored = net.predict(x, batch_size=4)
            t_net += time.time() - t0
            p_in += [psnr(y[i], x[i]) for i in range(len(x))]
            p_out += [psnr(y[i], restored[i]) for i in range(len(x))]
            m_in += [matched_psnr(y[i], x[i]) for i in range(len(x))]
            pi, po, mi = np.array(p_in), np.array(p_out), np.array(m_in)
            results[modality] = {
                "n": int(len(pi)), "size": args.size, "seed": args.seed,
                "ours_input_psnr_mean": float(pi.mean()), "ours_restored_psnr_mean": float(po.mean()),
                "ours_gain_db": float(po.mean() - pi.mean()),
                "ours_gain_db_quartiles": q(po - pi), "ours_pairs_with_gain": int(np.sum(po > pi)),
                "ours_input_psnr_quartiles": q(pi), "ours_matched_input_psnr_quartiles": q(mi),
                "tk_test_n": tk_n, "tk_test_matched_input_psnr_quartiles": q(t_in),
                "tk_test_raw_input_psnr_quartiles": tk_raw_q, "tk_test_gain_db_matched": tk_gain,
                "seconds_generate": round(t_gen, 1), "seconds_network": round(t_net, 1), "commit": commit,
                "ours_input_psnr": [round(float(v), 3) for v in pi],
                "ours_restored_psnr": [round(float(v), 3) for v in po],
                "ours_matched_input_psnr": [round(float(v), 3) for v in mi],
                "tk_test_matched_input_psnr": [round(float(v), 3) for v in t_in],
            }
            from tfstem.outputs import write_json
            write_json(json_path, results, force=True)  # accumulates over runs (module notes): replaced atomically
            print(f"{modality}: {len(pi)} pairs, gain so far {po.mean() - pi.mean():+.2f} dB, generation "
                  f"{t_gen:.0f} s, network {t_net:.0f} s ({t_net / len(pi):.1f} s per image)", flush=True)

    print("| modality | our pairs | input PSNR mean | restored PSNR mean | gain | pairs improved | "
          "our input PSNR quartiles (raw) | ours, scale-matched | tk-r-em test pairs, scale-matched (n) | "
          "tk-r-em gain on its test pairs |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    results = {k: r for k, r in results.items() if "ours_matched_input_psnr" in r}  # drop old-format entries
    for modality, r in results.items():
        tk = (f"{' / '.join(map(str, r['tk_test_matched_input_psnr_quartiles']))} ({r['tk_test_n']})"
              if r["tk_test_n"] else "none shipped")
        tk_gain = f"{r['tk_test_gain_db_matched']:+.2f} dB" if r["tk_test_gain_db_matched"] is not None else "-"
        print(f"| {modality} | {r['n']} | {r['ours_input_psnr_mean']:.2f} dB | {r['ours_restored_psnr_mean']:.2f} dB | "
              f"{r['ours_gain_db']:+.2f} dB | {r['ours_pairs_with_gain']}/{r['n']} | "
              f"{' / '.join(map(str, r['ours_input_psnr_quartiles']))} | "
              f"{' / '.join(map(str, r['ours_matched_input_psnr_quartiles']))} | {tk} | {tk_gain} |")

    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4), squeeze=False)
    for ax, (modality, r) in zip(axes[0], results.items()):
        m_in, t_in = np.array(r["ours_matched_input_psnr"]), np.array(r["tk_test_matched_input_psnr"])
        both = np.concatenate([m_in, t_in])
        bins = np.linspace(both.min() - 1, both.max() + 1, 25)
        ax.hist(m_in, bins=bins, alpha=0.6, density=True, label=f"tfstem.synth (n={len(m_in)})")
        if len(t_in):
            ax.hist(t_in, bins=bins, alpha=0.6, density=True, label=f"tk-r-em test pairs (n={len(t_in)})")
        ax.set_title(f"{modality}: gain {r['ours_gain_db']:.1f} dB")
        ax.set_xlabel("input PSNR (dB, scale-matched)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(str(out) + ".png", dpi=90)
    print(f"wrote {out}.png and {json_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
