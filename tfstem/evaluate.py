"""``tfstem evaluate``: quality figures of restored images, with or without a reference.

* with ``--reference``: PSNR, SSIM and N-RMSE of each frame against the reference (data range of the
  reference frame);
* for a series (``[N, H, W]``): CSS, the consecutive structural similarity of Noise2Atom (Eq. 10), which
  needs no reference.
"""

from __future__ import annotations

import json

import numpy as np

from tfstem import metrics

__all__ = ["evaluate", "add_cli_arguments", "run_cli"]


def _frames(array):
    array = np.asarray(array, dtype=np.float64)
    if array.ndim == 2:
        return array[None]
    if array.ndim == 3:
        return array
    raise ValueError(f"evaluate takes [H, W] or [N, H, W] images; received shape {array.shape}.")


def evaluate(image, reference=None) -> dict:
    """Quality figures of ``image`` (``[H, W]`` or ``[N, H, W]``, any real dtype).

    Returns a dict with ``frames``; ``psnr``, ``ssim``, ``nrmse`` (per-frame lists and their means under
    ``mean_*``) when ``reference`` (same shape) is given; ``css`` (mean over consecutive pairs) when there
    are at least two frames.
    """
    frames = _frames(image)
    result = {"frames": int(frames.shape[0])}
    if reference is not None:
        refs = _frames(reference)
        if refs.shape != frames.shape:
            raise ValueError(f"reference shape {refs.shape} differs from the image shape {frames.shape}.")
        for name, fn in (("psnr", metrics.psnr), ("ssim", metrics.ssim), ("nrmse", metrics.nrmse)):
            values = [fn(r, f) for r, f in zip(refs, frames)]
            result[name] = values
            result[f"mean_{name}"] = float(np.mean(values))
    if frames.shape[0] >= 2:
        result["css"] = metrics.css(frames)
    return result


def add_cli_arguments(parser):
    parser.add_argument("image", help="restored image or series (any format tfstem reads)")
    parser.add_argument("--reference", help="noise-free reference of the same shape")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run_cli(args) -> int:
    from tfstem.io import read_image

    image = read_image(args.image).data
    reference = read_image(args.reference).data if args.reference else None
    result = evaluate(image, reference)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"frames: {result['frames']}")
    for key in ("mean_psnr", "mean_ssim", "mean_nrmse", "css"):
        if key in result:
            print(f"{key}: {result[key]:.4f}")
    return 0
