"""``tfstem evaluate``: quality figures of restored images, with or without a reference.

* with ``--reference``: PSNR, SSIM and N-RMSE of each frame against the reference (data range of the
  reference frame; N-RMSE = RMSE / that range, the dual-channel N2V paper's, ``metrics.nrmse(...,
  normalization="paper")``);
* for a series (``[N, H, W]``): CSS, the consecutive structural similarity of Noise2Atom (Eq. 10), which
  needs no reference.

Images that cannot be scored are refused with one line: not real numbers, NaN or inf, empty, 1-D,
channel-last (``[H, W, C]`` or ``[N, H, W, C]`` with C <= 4: pass ``--channel`` or one channel), or a
reference of another shape. ``--output report.json`` writes the figures (atomically; an existing report
is replaced only with ``--force``, checked before any work).
"""

from __future__ import annotations

import json

import numpy as np

from tfstem import metrics
from tfstem.io.image import MAX_CHANNELS  # a last axis this short is read as channels, not as image width
from tfstem.io.series import check_real_dtype, check_values

__all__ = ["evaluate", "as_frames", "add_cli_arguments", "run_cli"]


def _select_channel(array, channel, name):
    if channel is None:
        if array.shape[-1] == 1:
            return array[..., 0]
        raise ValueError(f"{name} has shape {array.shape}: {array.shape[-1]} channels on its last axis; pass one "
                         f"channel (--channel K, channel=K) or a series [N, H, W].")
    if not -array.shape[-1] <= channel < array.shape[-1]:
        raise ValueError(f"channel must lie in [0, {array.shape[-1] - 1}] for {name} of shape {array.shape}; "
                         f"received channel={channel}.")
    return array[..., channel]


def as_frames(array, *, channel: int | None = None, name: str = "image") -> np.ndarray:
    """Validate an image or series and return it as ``float64 [N, H, W]``.

    Parameters
    ----------
    array : array_like
        ``[H, W]``, ``[N, H, W]``, or channel-last ``[H, W, C]`` / ``[N, H, W, C]`` with C <= 4 (then
        ``channel`` picks one; a single channel needs none). Real numbers, finite.
    channel : int, optional
        Channel to score for channel-last input.
    name : str
        How messages name the array (a file name in the command line).

    Raises
    ------
    ValueError
        Complex or non-numeric dtype, NaN or inf, no pixels, 1-D or > 4-D, several channels without
        ``channel``, or ``channel`` out of range.
    """
    array = np.asarray(array)
    check_real_dtype(array.dtype, name=name)  # the checks of tfstem.io.as_series; the shapes are evaluate's own
    if array.ndim == 4 or (array.ndim == 3 and array.shape[-1] <= MAX_CHANNELS < array.shape[0]):
        if array.ndim == 4 and array.shape[-1] > MAX_CHANNELS:
            raise ValueError(f"{name} has shape {array.shape}; evaluate takes [H, W], [N, H, W] or channel-last "
                             f"[H, W, C] / [N, H, W, C] with C <= {MAX_CHANNELS}.")
        array = _select_channel(array, channel, name)
    elif channel is not None:
        raise ValueError(f"channel={channel} given but {name} of shape {array.shape} has no channel axis.")
    if array.ndim not in (2, 3):
        raise ValueError(f"{name} has shape {array.shape}; evaluate takes [H, W] or [N, H, W] images.")
    check_values(array, name=name, float32_range=False)  # empty, NaN or inf; scored in float64
    array = array.astype(np.float64)
    return array[None] if array.ndim == 2 else array


def evaluate(image, reference=None, *, channel: int | None = None) -> dict:
    """Quality figures of ``image`` (``[H, W]`` or ``[N, H, W]``, any real dtype).

    Parameters
    ----------
    image, reference : array_like
        See :func:`as_frames`; ``reference`` (optional) must have the image's shape.
    channel : int, optional
        Channel of channel-last input to score (the same for both).

    Returns
    -------
    dict
        ``frames``; ``psnr`` (dB), ``ssim``, ``nrmse`` (per-frame lists and their means under ``mean_*``)
        when ``reference`` is given; ``css`` (mean over consecutive pairs) when there are at least two frames.

    Raises
    ------
    ValueError
        An image or reference :func:`as_frames` refuses, or a reference of another shape.
    """
    frames = as_frames(image, channel=channel, name="image")
    result = {"frames": int(frames.shape[0])}
    if reference is not None:
        refs = as_frames(reference, channel=channel, name="reference")
        if refs.shape != frames.shape:
            raise ValueError(f"reference shape {refs.shape} differs from the image shape {frames.shape}; pass the "
                             f"reference of the same frames.")
        def paper_nrmse(r, f):
            return metrics.nrmse(r, f, normalization="paper")

        for name, fn in (("psnr", metrics.psnr), ("ssim", metrics.ssim), ("nrmse", paper_nrmse)):
            values = [fn(r, f) for r, f in zip(refs, frames)]
            result[name] = values
            result[f"mean_{name}"] = float(np.mean(values))
    if frames.shape[0] >= 2:
        result["css"] = metrics.css(frames)
    return result


def add_cli_arguments(parser):
    parser.add_argument("image", help="restored image or series (any format tfstem reads)")
    parser.add_argument("--reference", help="noise-free reference of the same shape")
    parser.add_argument("--channel", type=int, default=None,
                        help="channel to score in channel-last images [H, W, C] or [N, H, W, C]")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("-o", "--output", default=None, help="also write the figures to this JSON report")
    parser.add_argument("--force", action="store_true", help="replace an existing --output report")


def run_cli(args) -> int:
    from tfstem.io import read_image
    from tfstem.outputs import check_new_file, write_json

    if args.output is not None:
        if not str(args.output).lower().endswith(".json"):
            raise ValueError(f"--output {args.output}: the report is JSON; pass a name ending in .json.")
        check_new_file(args.output, force=args.force, what="--output")
    image = as_frames(read_image(args.image).data, channel=args.channel, name=str(args.image))
    reference = None
    if args.reference:
        reference = as_frames(read_image(args.reference).data, channel=args.channel, name=str(args.reference))
    result = evaluate(image, reference)
    if args.output is not None:
        write_json(args.output, {"image": str(args.image), "reference": args.reference, "channel": args.channel,
                                 **result}, force=args.force)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"frames: {result['frames']}")
    for key in ("mean_psnr", "mean_ssim", "mean_nrmse", "css"):
        if key in result:
            print(f"{key}: {result[key]:.4f}")
    return 0
