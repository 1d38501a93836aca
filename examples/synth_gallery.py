"""Gallery of the r_em synthetic-data model: one distortion per panel, and random full pipelines.

Writes four PNGs like the r_em paper's Figs. 12-14:

* ``gallery_tem.png``   - TEM distortions one at a time on one undistorted HRTEM image (Fig. 12),
* ``gallery_jitter.png`` - X and Y scan jitter (sigma 0.75 px, phi 0.6) next to the undistorted image (Fig. 13),
* ``gallery_stem.png``  - S(T)EM distortions one at a time on one undistorted HRSTEM image (Fig. 14),
* ``gallery_pairs.png`` - random (distorted, clean) pairs of all six modalities from ``tfstem.synth.pairs``,
* ``gallery_hr_clean.png`` - 16 random undistorted HRSTEM images: the spread of specimens the networks see
  (crystals in zone axis, stripes, amorphous speckle, points, soft blobs at small pixel sizes).

Full run (256 px, a few minutes on 2 CPU cores)::

    python examples/synth_gallery.py --out gallery/

CI run: ``python examples/synth_gallery.py --quick --out /tmp/gallery``.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import pathlib  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfstem.synth as synth  # noqa: E402
from tfstem.synth import noise_stem, noise_tem, postprocess  # noqa: E402


def _grid(images, titles, path, cols):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = -(-len(images) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.8 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, title in zip(axes.flat, images, titles):
        img = np.asarray(img)[..., 0] if np.ndim(img) == 3 else np.asarray(img)
        lo, hi = np.percentile(img, [0.5, 99.5])
        ax.imshow(img, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1e-6)
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"wrote {path}")


def tem_panels(clean, seed):
    """Fig. 12: each TEM distortion alone, in counts at a dose of 20 counts per unit of the clean image."""
    y = clean[None]
    dose = 20.0
    counts = noise_tem.shot_noise(y, dose, seed) * dose
    base = y * dose
    s = lambda i: tf.random.experimental.stateless_fold_in(seed, i)  # noqa: E731
    panels = {
        "undistorted": y,
        "MTF (Eq. 27-29)": noise_tem.apply_mtf(y, 0.3, 0.25, 1.0),
        "shot noise (Eq. 30)": counts / dose,
        "fixed pattern (Eq. 31)": noise_tem.fixed_pattern_noise(base, 0.2, s(1)) / dose,
        "dark current (Eq. 32-33)": noise_tem.dark_current_noise(base, 4.0, 3.0, 0.01, s(2)) / dose,
        "thermal (Eq. 34)": noise_tem.thermal_noise(base, 4.0, s(3)) / dose,
        "flicker 1/f (Eq. 35)": noise_tem.flicker_noise(base, 4.0, s(4)) / dose,
        "reset rows (Eq. 36)": noise_tem.reset_noise(base, 3.0, s(5)) / dose,
        "black pixels (Eq. 37)": noise_tem.black_pixels(base, 30.0, 8, 0.0, s(6)) / dose,
        "zingers (Eq. 38)": noise_tem.zingers(base, 30.0, 8, 3.0, s(7)) / dose,
        "upper clip (Eq. 39)": noise_tem.upper_clip(base, 0.7 * float(tf.reduce_max(base))) / dose,
        "quantisation (Eq. 40)": noise_tem.quantize(base, 0.5) / dose,
    }
    return [v[0] for v in panels.values()], list(panels)


def stem_panels(clean, seed):
    """Fig. 14: each S(T)EM distortion alone."""
    y = clean[None]
    dose = 20.0
    base = y * dose
    s = lambda i: tf.random.experimental.stateless_fold_in(seed, i)  # noqa: E731
    panels = {
        "undistorted": y,
        "XY jitter (Eq. 41-42)": noise_stem.scan_jitter(y, 0.75, 0.6, 0.75, 0.6, s(1)),
        "PMT noise (Eq. 43-46)": noise_stem.pmt_noise(y, dose, s(2), photons=50.0, quantum_efficiency=0.1,
                                                      stage_gain=3.0, photon_variance=50.0),
        "fast scan (Eq. 47-50)": noise_stem.fast_scan_blur(y, 4.0, 4.0, 16.0, 0.8, 32),
        "row lines (Eq. 51)": noise_stem.row_lines(y, 6, 6, 0.8, (0.5, 1.5), s(3)),
        "black pixels (Eq. 52)": noise_stem.black_pixels(base, 60.0, 0, 0.0, s(4), max_steps=0) / dose,
        "zingers (Eq. 53)": noise_stem.zingers(base, 60.0, 0, 3.0, s(5), max_steps=0) / dose,
        "upper clip (Eq. 54)": noise_stem.upper_clip(y, 0.7),
        "quantisation (Eq. 55)": noise_stem.quantize(y, 12.0),
        "interpolation": postprocess.random_linear_transform([y], s(6))[0],
        "Gaussian blur 1 px": postprocess.gaussian_blur(y, 1.0),
        "annotations + crop": postprocess.crop_fill(postprocess.annotations([y], s(7), 6, 1.0), s(8))[0],
    }
    return [v[0] for v in panels.values()], list(panels)


def illustrative_seed(modality, size, start, tries=40):
    """First seed >= start whose clean image is a crystal with clear contrast (Figs. 12-14 show crystals).

    Other specimens (amorphous, points, supports) are as likely in training data but show the distortions less well;
    std/mean >= 0.2 keeps e.g. the upper clip (Eq. 39) from flattening a nearly uniform image.
    """
    from tfstem.synth import imaging
    from tfstem.synth.pipelines import example_rng
    from tfstem.synth.specimen import sample_specimen

    cfg = synth.modality_config(modality).imaging
    for seed in range(start, start + tries):
        rng = example_rng(modality, seed, 0)  # the stream make_clean_example uses for image 0
        imaging.sample_finish(rng, cfg)
        if sample_specimen(rng, cfg, (size, size)).kind != "crystalline":
            continue
        clean = synth.clean_images(modality, 1, size, seed)[0]
        if clean.std() >= 0.2 * clean.mean():
            return seed
    return start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gallery", help="output directory")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--quick", action="store_true", help="64 px, one pair per modality (CI)")
    args = parser.parse_args(argv)
    size = 64 if args.quick else args.size
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seed = tf.constant([args.seed, 0], tf.int64)

    tem_clean = tf.constant(synth.clean_images("hrtem", 1, size, illustrative_seed("hrtem", size, args.seed))[0])
    images, titles = tem_panels(tem_clean, seed)
    _grid(images, titles, out / "gallery_tem.png", cols=4)

    stem_seed = illustrative_seed("hrstem", size, args.seed + 1)
    stem_clean = tf.constant(synth.clean_images("hrstem", 1, size, stem_seed)[0])
    y = stem_clean[None]
    jitter = [noise_stem.scan_jitter(y, 0.75, 0.6, 0.0, 0.0, seed)[0], noise_stem.scan_jitter(y, 0.0, 0.0, 0.75, 0.6,
                                                                                              seed)[0], stem_clean]
    _grid(jitter, ["(a) X jitter", "(b) Y jitter", "(c) undistorted"], out / "gallery_jitter.png", cols=3)
    images, titles = stem_panels(stem_clean, seed)
    _grid(images, titles, out / "gallery_stem.png", cols=4)

    per = 1 if args.quick else 2
    images, titles = [], []
    for modality in synth.MODALITIES:
        x, y = next(iter(synth.pairs(modality, size=size, batch_size=per, seed=args.seed)))
        for i in range(per):
            images += [x[i], y[i]]
            titles += [f"{modality} distorted", f"{modality} clean"]
    _grid(images, titles, out / "gallery_pairs.png", cols=4)

    count = 4 if args.quick else 16
    sheet = synth.clean_images("hrstem", count, size, args.seed)
    _grid(list(sheet), [f"hrstem clean {i}" for i in range(count)], out / "gallery_hr_clean.png", cols=4)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
