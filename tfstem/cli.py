"""The ``tfstem`` command line: ``tfstem restore | export | simulate | train | evaluate | models``.

Errors a user can fix (bad file, bad shape, unknown model, existing output) print one line on stderr
and exit with status 2.

``tfstem train METHOD`` is :mod:`tfstem.training.cli` (the same flags for every method); ``tfstem simulate`` calls
``tfstem.synth.cli``; ``tfstem evaluate`` calls ``tfstem.evaluate``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

PLUGIN_COMMANDS = {
    "simulate": ("tfstem.synth.cli", "write synthetic (distorted, clean) pairs to disk"),
    "evaluate": ("tfstem.evaluate", "compare restorations with references (PSNR, SSIM, CSS)"),
}


class UserError(Exception):
    """A mistake the user can fix; reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (the usage itself is in ``--help``)."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


#: An input larger than this (bytes on disk) is restored by streaming (see ``_streaming``).
LAZY_INPUT_BYTES = 2**30


def _add_restore(subparsers):
    p = subparsers.add_parser(
        "restore", help="restore/denoise image files with a model",
        epilog="Streaming (chunk by chunk, bounded memory, dask) is used when --lazy or --scheduler is given, "
               "when an input or the output is a .zarr folder, or when an input is larger than 1 GiB; the "
               "output is written under a temporary name and renamed when complete.")
    p.add_argument("inputs", nargs="+",
                   help="input files (.tif, .png, .npy, .npz, .h5, .mrc, .dm3/.dm4/.emd/.ser) or .zarr folders")
    p.add_argument("-o", "--output", required=True,
                   help="output file (one input) or folder (several inputs): .tif, .npy, .npz, .h5, .mrc, .emd, "
                        ".hspy, .zarr")
    p.add_argument("--model", default=None, help="model name (see `tfstem models`) or path; default r_em/hrstem")
    p.add_argument("--tile", "--tile-size", dest="tile_size", type=int, default=None,
                   help="tile side in pixels for large images (default: automatic)")
    p.add_argument("--tile-overlap", type=int, default=None, help="overlap between tiles in pixels")
    p.add_argument("--batch-size", type=int, default=None, help="tiles or frames per network call")
    p.add_argument("--precision", choices=("auto", "float32", "bfloat16"), default="auto",
                   help="arithmetic of the network: bfloat16 is several times faster where the hardware has it "
                        "(AMX/AVX-512-BF16 CPUs, GPUs of compute capability >= 8.0) but agrees with float32 less "
                        "closely; auto (default) picks what benchmarks/precision_agreement.py found exact enough "
                        "for the model (see tfstem.restore)")
    p.add_argument("--runtime", choices=("auto", "tensorflow", "litert"), default=None,
                   help="what runs the network (default: $TFSTEM_RUNTIME, else auto): auto uses a ready-to-run LiteRT copy of the model where it "
                        "applies (float32, no GPU, ai-edge-litert installed, at most ~1 megapixel of work in all; "
                        "made once per model, then starts in well under a second without importing TensorFlow), "
                        "else TensorFlow, which computes each frame ~1.4x faster; litert insists on the copy; "
                        "tensorflow never uses it (see tfstem.ready)")
    p.add_argument("--channels-axis", type=int, default=None,
                   help="axis of the input that holds channels (e.g. 1 for a TCYX hyperstack); moved last")
    p.add_argument("--format", choices=("tif", "npy", "npz", "h5", "mrc", "emd", "hspy", "zarr"), default=None,
                   help="output format when --output is a folder (default: tif)")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--lazy", action="store_true",
                   help="stream chunk by chunk with dask (bounded memory; needs tfstem[dask])")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="send the work to a running dask.distributed scheduler (e.g. tcp://host:8786); implies "
                        "--lazy; inputs and the model path must be readable by its workers")
    p.set_defaults(handler=_run_restore)


def _output_paths(inputs, output, fmt):
    """The output file of each input: ``output`` itself for one input with a suffix, else files in it."""
    from pathlib import Path

    from tfstem import io as tio

    output = Path(output)
    if len(inputs) == 1 and output.suffix and not output.is_dir():
        return [output]
    if output.exists() and not output.is_dir():
        raise UserError(f"--output {output} is a file but {len(inputs)} inputs were given; pass a folder.")
    if len(inputs) > 1 and output.suffix.lower() in tio.WRITE_FORMATS and not output.exists():
        raise UserError(f"--output {output} names a file but {len(inputs)} inputs were given; "
                        f"pass a folder (e.g. {output.with_suffix('')}/) or one input.")
    suffix = "." + (fmt or "tif")
    return [output / (Path(p).stem + "_restored" + suffix) for p in inputs]


def _check_sources_and_targets(args, targets, check_readable, check_target):
    """Before any work: outputs distinct, no output that is also an input, inputs readable, targets writable."""
    from pathlib import Path

    from tfstem import outputs

    outputs.check_distinct_outputs(args.inputs, targets)
    resolved_targets = {t.resolve() for t in targets}
    for source in args.inputs:
        check_readable(Path(source))
        if Path(source).resolve() in resolved_targets:
            raise UserError(f"--output {source} is also an input; write the restored image elsewhere.")
    for target in targets:
        check_target(target)
    return targets


def _check_restore_plan(args):
    """Every check that needs no model, before any work: inputs readable, outputs distinct, new, writable."""
    from tfstem import io as tio
    from tfstem import outputs

    def check_target(target):
        tio.check_writable_format(target)
        outputs.check_new_file(target, force=args.force, what="--output")

    targets = _output_paths(args.inputs, args.output, args.format)
    return _check_sources_and_targets(args, targets, tio.check_readable, check_target)


def _run_restore(args):
    if _streaming(args):
        return _run_restore_lazy(args)
    from tfstem import io as tio

    targets = _check_restore_plan(args)
    from tfstem.restore import restore

    first = tio.read_image(args.inputs[0], channels_axis=args.channels_axis)
    # the work the command will do, estimated from the first input: the ready copy pays off only for small jobs
    model = _restore_model(args, values=first.data.size * len(args.inputs))
    for index, (source, target) in enumerate(zip(args.inputs, targets)):
        image = first if index == 0 else tio.read_image(source, channels_axis=args.channels_axis)
        # the metadata is known only now: refuse e.g. an .mrc output for an image without a length unit
        tio.check_writable_format(target, pixel_size=image.pixel_size, unit=image.unit, shape=image.data.shape)
        restored = restore(
            image.data, model=model, tile_size=args.tile_size, tile_overlap=args.tile_overlap,
            batch_size=args.batch_size, precision=args.precision, verbose=not args.quiet,
        )
        tio.write_image(target, restored, pixel_size=image.pixel_size, unit=image.unit, force=args.force)
        print(f"{source} -> {target}")
    return 0


def _restore_model(args, values=None):
    """The network ``tfstem restore`` runs: a ready (LiteRT) copy where ``--runtime`` allows it, else the Keras model.

    ``values``: pixels x channels the command will restore (estimated), for ``--runtime auto``'s size rule."""
    from tfstem.ready import ReadyModelError, choose_runtime, default_runtime

    try:
        ready = choose_runtime(args.model, precision=args.precision, runtime=args.runtime or default_runtime(),
                               values=values,
                               announce=lambda line: print(line, file=sys.stderr))
    except ReadyModelError as error:
        raise UserError(f"--runtime litert: {error}") from None
    if ready is not None:
        return ready
    from tfstem.registry import load_model

    return load_model(args.model)


def _is_zarr(path) -> bool:
    from pathlib import Path

    return Path(path).suffix.lower() == ".zarr"


def _streaming(args) -> bool:
    """Stream with dask when asked (--lazy, --scheduler), for .zarr in or out, or for an input over 1 GiB."""
    import os

    if args.lazy or args.scheduler or args.format == "zarr" or _is_zarr(args.output):
        return True
    return any(_is_zarr(p) or (os.path.isfile(p) and os.path.getsize(p) > LAZY_INPUT_BYTES) for p in args.inputs)


def _lazy_output_paths(args):
    """As ``_output_paths``, with a ``.zarr`` folder as the output of one input (never a folder of outputs)."""
    from pathlib import Path

    output = Path(args.output)
    if _is_zarr(output):
        if len(args.inputs) > 1:
            raise UserError(f"--output {output} names a .zarr store but {len(args.inputs)} inputs were given; "
                            f"pass a folder (e.g. {output.with_suffix('')}/ with --format zarr) or one input.")
        return [output]
    return _output_paths(args.inputs, args.output, args.format)


def _check_lazy_plan(args):
    """Every check that needs no model, before any work, for the streaming path (``.zarr`` folders allowed)."""
    from tfstem import lazy_io

    return _check_sources_and_targets(args, _lazy_output_paths(args), lazy_io.check_readable,
                                      lambda target: lazy_io.check_writable(target, force=args.force, what="--output"))


def _dask_client(address):
    """A ``distributed.Client`` connected to ``address``; one-line errors for a missing extra or no scheduler."""
    try:
        from distributed import Client
    except ImportError as error:
        raise ImportError("--scheduler needs dask.distributed: pip install 'tfstem[dask]'") from error
    try:
        return Client(address, timeout="10s", set_as_default=False)
    except (OSError, ValueError, TypeError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise OSError(f"--scheduler {address}: cannot connect ({reason}).") from None


def _run_restore_lazy(args):
    """Stream each input chunk by chunk: lazy read, :func:`tfstem.lazy.restore_dask`, chunked atomic write."""
    from tfstem import lazy_io
    from tfstem.lazy import restore_dask

    if args.runtime == "litert":  # an explicit choice: $TFSTEM_RUNTIME=litert still streams with TensorFlow
        raise UserError("--runtime litert restores whole files in memory; streaming (--lazy, --scheduler, .zarr, inputs "
                        "over 1 GiB) runs TensorFlow: drop --runtime litert")
    targets = _check_lazy_plan(args)
    client = _dask_client(args.scheduler) if args.scheduler else None
    try:
        for source, target in zip(args.inputs, targets):
            image = lazy_io.read_lazy(source, channels_axis=args.channels_axis)
            lazy_io.check_writable(target, force=args.force, pixel_size=image.pixel_size, unit=image.unit,
                                   shape=image.data.shape, what="--output")
            restored = restore_dask(image.data, model=args.model, tile_size=args.tile_size,
                                    tile_overlap=args.tile_overlap, batch_size=args.batch_size,
                                    precision=args.precision)
            lazy_io.write_lazy(target, restored, pixel_size=image.pixel_size, unit=image.unit, force=args.force,
                               progress=not args.quiet, client=client)
            print(f"{source} -> {target}")
    finally:
        if client is not None:
            client.close()
    return 0


def _add_export(subparsers):
    p = subparsers.add_parser("export", help="export a model as a TF Serving SavedModel")
    p.add_argument("model", help="model name (see `tfstem models`) or path to a .keras file")
    p.add_argument("directory", help="base directory; writes DIRECTORY/<name>/<version>/")
    p.add_argument("--name", default=None, help="served model name (default: derived from MODEL)")
    p.add_argument("--version", type=int, default=1, help="model version directory (default 1)")
    p.add_argument("--force", action="store_true", help="overwrite an existing version directory")
    p.set_defaults(handler=_run_export)


def _run_export(args):
    from tfstem.export import export_model

    path = export_model(args.model, args.directory, name=args.name, version=args.version, overwrite=args.force)
    print(f"exported {args.model} -> {path}")
    return 0


def _add_models(subparsers):
    p = subparsers.add_parser("models", help="list the models tfstem can load")
    p.set_defaults(handler=_run_models)


def _run_models(args):
    from tfstem.registry import list_models

    for name, info in list_models(details=True).items():
        print(f"{name:24s} {info['description']}")
    return 0


def _add_module_command(subparsers, command, module_name, help_text, load):
    """Add ``command`` whose arguments come from ``module_name`` (imported only when ``load``)."""
    if not load:  # keep `tfstem --help` and `tfstem restore` free of heavy imports
        sub = subparsers.add_parser(command, help=help_text, add_help=False)
        sub.add_argument("rest", nargs=argparse.REMAINDER)
        return
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        sub = subparsers.add_parser(command, help=help_text)
        sub.set_defaults(handler=lambda args, error=error: _unavailable(command, error))
        return
    sub = subparsers.add_parser(command, help=help_text)
    module.add_cli_arguments(sub)
    sub.set_defaults(handler=module.run_cli)


def _unavailable(command, error):
    raise UserError(f"'{command}' is not available in this installation ({error}).")


def _add_train(subparsers, load):
    from tfstem.config import ALIASES, METHODS

    p = subparsers.add_parser("train", help="train a model: " + ", ".join(METHODS))
    methods = p.add_subparsers(dest="method", metavar="METHOD")
    methods.required = True
    for method in (*METHODS, *ALIASES):
        help_text = f"train {method}" if method in METHODS else f"same as `train {ALIASES[method]}`"
        if load != method:  # keep `tfstem --help` and the other commands free of TensorFlow
            sub = methods.add_parser(method, help=help_text, add_help=False)
            sub.add_argument("rest", nargs=argparse.REMAINDER)
            continue
        try:
            from tfstem.training.cli import add_arguments

            add_arguments(methods.add_parser(method, help=help_text), method)
        except ImportError as error:
            methods.add_parser(method, help=help_text).set_defaults(
                handler=lambda args, error=error: _unavailable(f"train {method}", error))


def _add_plugins(subparsers, load):
    for command, (module_name, help_text) in PLUGIN_COMMANDS.items():
        _add_module_command(subparsers, command, module_name, help_text, load == command)


def build_parser(load=None) -> argparse.ArgumentParser:
    """The argument parser of the ``tfstem`` command.

    ``load`` names the one plugin command (a ``train`` method, ``simulate`` or ``evaluate``) whose module
    is imported to define its arguments; the others stay unimported.
    """
    from tfstem import __version__

    parser = _Parser(prog="tfstem", description="Restore and denoise electron-microscopy images.")
    parser.add_argument("--version", action="version", version=f"tfstem {__version__}")
    parser.add_argument("--verbose", action="store_true",
                        help="let TensorFlow's own start-up and log lines through (also: TFSTEM_VERBOSE=1)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    _add_restore(subparsers)
    _add_export(subparsers)
    _add_models(subparsers)
    _add_train(subparsers, load)
    _add_plugins(subparsers, load)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``tfstem`` console script; returns the exit status.

    0 on success; 2 for a mistake the user can fix (one line on stderr); 130 on Ctrl-C (one line, no
    traceback: every writer works under a temporary name, so nothing partial is left behind).
    """
    from tfstem import _quiet

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--verbose"]:
        _quiet.make_verbose()
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("tfstem: interrupted; outputs finished before the interrupt are complete, no partial file was kept.",
              file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(argv) -> int:
    load = None
    command = [a for a in argv if a != "--verbose"]
    if command[:1] == ["train"] and len(command) > 1:
        load = command[1]
    elif command[:1] and command[0] in PLUGIN_COMMANDS:
        load = command[0]
    parser = build_parser(load)
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help, --version, or a usage error already printed in one line
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    try:
        return int(args.handler(args) or 0)
    except (UserError, ValueError, OSError, ImportError, KeyError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"tfstem {args.command}: error: {message}".splitlines()[0], file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
