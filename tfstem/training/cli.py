"""``tfstem train METHOD DATA -o DIR [...]``: one command line for every method, the same flags with the
same meaning (method-specific flags, if any, come after them in ``--help``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tfstem.config import describe_presets, load_config, method_class, method_name, parse_overrides
from tfstem.training.strategy import STRATEGIES

__all__ = ["add_arguments", "run"]

EXIT_INTERRUPTED = 130

#: What DATA is, per method (``--help``).
DATA_HELP = {
    "r_em": "(distorted, clean) pairs: a .npz/.h5 file with arrays x and y [N, H, W(, C)], a `tfstem simulate "
            "--format npy` folder, or 'synthetic' (pairs of the config's modality made on the fly by tfstem.synth)",
    "noise2atom": "the noisy HAADF series [T, H, W] (.tif stack, .npy, .npz, .h5, .mrc, .dm4, .emd, ...)",
    "n2v": "the video [N, H, W] or [N, H, W, C] (C = 2: ADF + BF) (.tif stack, .npy, .npz, .h5, ...)",
}


def add_arguments(parser: argparse.ArgumentParser, method: str) -> None:
    """The common flags of ``tfstem train METHOD``, then the method's own (``Method.add_arguments``)."""
    name = method_name(method)
    presets = describe_presets(name)
    parser.description = f"Train {name} (models/{name}.json: the paper's defaults with their sources)."
    parser.add_argument("data", metavar="DATA", help=DATA_HELP.get(name, "the training data"))
    parser.add_argument("-o", "--output", required=True,
                        help="run folder: config.json, history.json, checkpoints/, logs/, model.keras, serving/")
    parser.add_argument("--preset", choices=list(presets), default=None,
                        help="default: paper with a GPU, cpu without (announced with the paper preset's estimated time); "
                             + "; ".join(f"{k}: {v.split('.')[0][:90]}" for k, v in presets.items()))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one option of the preset (VALUE read as JSON when it parses); repeatable")
    parser.add_argument("--config", default=None, metavar="CONFIG_JSON",
                        help="start from a saved run's config.json instead of a preset")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in the output folder (same method, options and data)")
    parser.add_argument("--force", action="store_true", help="start afresh in a folder that holds an earlier run")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default: the config's)")
    parser.add_argument("--steps", type=int, default=None, help="stop after this many steps in total")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="wall-clock budget: stop cleanly (checkpoint + model) after it; --resume goes on")
    parser.add_argument("--seed", type=int, default=None, help="random seed (weights, data order, noise)")
    parser.add_argument("--strategy", choices=STRATEGIES, default="default",
                        help="tf.distribute strategy (r_em; multiworker reads TF_CONFIG)")
    parser.add_argument("--channels-axis", type=int, default=None,
                        help="axis of the channels in DATA if it is not the last (e.g. 1 for [N, C, H, W])")
    parser.add_argument("--export", action="store_true", help="also write a TF Serving SavedModel to OUT/serving/<v>/")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    cls = method_class(name)
    cls.add_arguments(parser)
    parser.set_defaults(handler=run, method=name)


def _summary(result) -> str:
    history = result.history
    last = {k: v[-1] for k, v in history["losses"].items() if v and v[-1] is not None}
    losses = ", ".join(f"{k} {v:.4g}" for k, v in sorted(last.items()))
    where = f"; model: {result.run_folder / 'model.keras'}" if result.run_folder is not None else ""
    failed = " - FAILED: collapsed output, see below" if result.collapsed else ""
    return (f"{result.method}: {result.stopped} after {result.steps} steps in {result.seconds:.0f} s"
            f"{' (' + losses + ')' if losses else ''}{where}{failed}")


def run(args) -> int:
    """Run ``tfstem train METHOD``; 0 when the run ends (completed, early stop, budget), 130 after Ctrl-C."""
    import warnings

    from tfstem.outputs import check_directory_writable
    from tfstem.training.collapse import CollapseWarning
    from tfstem.training.fit import fit
    from tfstem.training.strategy import make_strategy

    name = method_name(args.method)
    strategy = make_strategy(args.strategy)  # first: MultiWorkerMirroredStrategy must precede other TF ops
    output = Path(args.output)
    check_directory_writable(output, what="-o/--output")
    cls = method_class(name)
    extra = dict(cls.cli_options(args))
    overrides = {**parse_overrides(args.set), **extra.pop("overrides", {})}
    config = load_config(name, args.preset, path=args.config, **overrides)  # a bad option fails before the data
    if args.seed is not None:
        config = config.replace(seed=args.seed)
    data = cls.read_data(args.data, channels_axis=args.channels_axis)
    # Without --preset and --config fit chooses the preset for this machine and announces it (one line).
    sized = args.preset is None and args.config is None
    chosen = {"preset": None, **overrides, **({} if args.seed is None else {"seed": args.seed})} if sized \
        else {"config": config}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CollapseWarning)  # said once, in plain words, after the summary
        result = fit(name, data, **chosen, output_dir=output, resume=args.resume, force=args.force,
                     epochs=args.epochs, steps=args.steps, max_minutes=args.max_minutes, strategy=strategy,
                     export=args.export, verbose=not args.quiet, **extra)
    if result.run_folder is not None or not getattr(result, "is_chief", True):
        print(_summary(result))
    if "serving" in result.extra:
        print(f"exported {result.extra['serving']}")
    if result.collapsed:
        print(result.extra["collapse"]["message"])
    if result.stopped == "interrupted":
        return EXIT_INTERRUPTED
    return 0


def main(argv=None) -> int:  # pragma: no cover - `python -m tfstem.training.cli METHOD ...`
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog=f"tfstem train {argv[0] if argv else 'METHOD'}")
    add_arguments(parser, argv[0])
    return run(parser.parse_args(argv[1:]))
