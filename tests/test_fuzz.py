"""Fuzz suite: bad arrays, bad files, bad options, unwritable targets, collisions and interrupts.

Every case asserts three things: the error text (one line that names what was wrong), the exit code (2 on the
command line, a ``ValueError``/``OSError`` from the API) and that no file changed or appeared (hashes of the
whole working folder before and after). The arrays are small and the model is the smallest CGRDN, so the
suite runs in well under two minutes.
"""

import hashlib
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from tfstem import io
from tfstem.cli import main
from tfstem.r_em.cgrdn import build_cgrdn


# ----------------------------------------------------------------------------------------------- helpers
def _tree(folder):
    """``{relative path: sha256}`` of every file and ``{relative path/: None}`` of every folder under ``folder``."""
    state = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        state[key] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    return state


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    build_cgrdn(features=8, growth=4, layers_per_rdb=2, rdbs_per_grdb=1, grdbs=1).save(path)
    return path


@pytest.fixture
def work(tmp_path, monkeypatch):
    """An empty working folder that is also the current directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _cli(work, capsys, argv, *, status=2, text=()):
    """Run ``tfstem argv`` in-process; check status, one-line stderr holding ``text``, and an unchanged folder."""
    before = _tree(work)
    got = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert got == status, err
    assert len(err.splitlines()) == 1, err
    for fragment in (text if isinstance(text, tuple) else (text,)):
        assert fragment.lower() in err.lower(), err
    assert _tree(work) == before, "a file changed or appeared"
    return err


# ------------------------------------------------------------------------------------------- bad arrays
BAD_ARRAYS = {
    "empty-2d": (np.zeros((0, 16)), "empty"),
    "empty-stack": (np.zeros((0, 16, 16)), "empty"),
    "1-d": (np.zeros(16), "[H, W]"),
    "5-d": (np.zeros((1, 1, 8, 8, 1)), "[H, W]"),
    "0-d": (np.float32(3.0), "[H, W]"),
    "object": (np.array([[object(), 1], [2, 3]], dtype=object), "dtype"),
    "strings": (np.array([["a", "b"], ["c", "d"]]), "dtype"),
    "datetime": (np.zeros((8, 8), dtype="datetime64[s]"), "dtype"),
    "complex64": (np.ones((16, 16), np.complex64), "complex"),
    "complex128": (np.ones((16, 16), np.complex128) * 1j, "complex"),
    "nan": (np.full((16, 16), np.nan), "nan"),
    "inf": (np.full((16, 16), np.inf), "inf"),
    "minus-inf": (np.where(np.eye(16) > 0, -np.inf, 1.0), "inf"),
    "one-nan-in-a-stack": (np.where(np.arange(3 * 16 * 16).reshape(3, 16, 16) == 7, np.nan, 1.0), "nan"),
    "three-channels": (np.ones((16, 16, 3)), "channel"),
    "two-channel-stack": (np.ones((2, 16, 16, 2)), "channel"),
    "ragged": (None, "real numbers"),
}


@pytest.mark.parametrize("case", list(BAD_ARRAYS), ids=list(BAD_ARRAYS))
def test_bad_array_is_refused_by_restore(tiny_model, case):
    import tfstem

    array, text = BAD_ARRAYS[case]
    if case == "ragged":
        array = np.empty(2, dtype=object)
        array[0], array[1] = [1.0, 2.0], [3.0]
    keep = None if array is None else np.array(array, copy=True)
    with pytest.raises(ValueError) as error:
        tfstem.restore(array, model=str(tiny_model), verbose=False)
    assert text.lower() in str(error.value).lower()
    assert len(str(error.value).splitlines()) == 1
    if keep is not None and keep.dtype != object:  # the caller's array is never modified
        np.testing.assert_array_equal(array, keep)


HUGE_FINITE = {
    "float32-max": np.full((16, 16), np.finfo(np.float32).max, np.float32) * np.linspace(0.5, 1, 16, dtype=np.float32),
    "float64-1e300": np.linspace(1e299, 1e300, 256).reshape(16, 16),
    "float64-1e30": np.random.default_rng(0).random((16, 16)) * 1e30,
    "uint64-near-2^64": (np.uint64(2**64 - 1) - np.arange(256, dtype=np.uint64) * np.uint64(10**15)).reshape(16, 16),
    "int64-extremes": np.where(np.eye(16) > 0, np.iinfo(np.int64).min, np.iinfo(np.int64).max),
    "tiny-1e-30": np.random.default_rng(1).random((16, 16)) * 1e-30,
    "constant": np.full((16, 16), 42.0),
}


@pytest.mark.parametrize("case", list(HUGE_FINITE), ids=list(HUGE_FINITE))
def test_finite_input_of_any_scale_gives_a_finite_output(tiny_model, case):
    import tfstem

    array = HUGE_FINITE[case]
    try:
        out = tfstem.restore(array, model=str(tiny_model), verbose=False)
    except ValueError as error:  # only acceptable when the result cannot be float32 at all
        assert "float32" in str(error), error
        return
    assert out.shape == array.shape and out.dtype == np.float32
    assert np.all(np.isfinite(out)), f"{case}: {np.count_nonzero(~np.isfinite(out))} non-finite outputs"


# -------------------------------------------------------------------------------------------- bad files
def _truncated(make, keep=0.5):
    def build(path):
        make(path)
        data = path.read_bytes()
        path.write_bytes(data[: max(1, int(len(data) * keep))])
        return path
    return build


def _write(path, data):
    path.write_bytes(data)
    return path


def _tif(path):
    return io.write_image(path, np.random.default_rng(0).random((4, 32, 32)).astype(np.float32))


def _npy(path):
    np.save(path, np.random.default_rng(0).random((4, 32, 32)).astype(np.float32))
    return path


def _h5(path, **datasets):
    import h5py

    with h5py.File(path, "w") as handle:
        for name, value in datasets.items():
            handle[name] = value
    return path


def _mrc(path):
    import mrcfile

    with mrcfile.new(path) as mrc:
        mrc.set_data(np.ones((32, 32), np.float32))
    return path


def _png(path):
    import imageio.v3 as iio

    iio.imwrite(path, np.zeros((16, 16), np.uint8), extension=".png")
    return path


def _npz(path, **arrays):
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path


BAD_FILES = {
    "missing": (lambda d: d / "missing.tif", "no such file"),
    "directory": (lambda d: (d / "folder.tif").mkdir() or d / "folder.tif", "folder"),
    "zero-byte-tif": (lambda d: _write(d / "z.tif", b""), "empty"),
    "zero-byte-npy": (lambda d: _write(d / "z.npy", b""), "empty"),
    "zero-byte-h5": (lambda d: _write(d / "z.h5", b""), "empty"),
    "zero-byte-mrc": (lambda d: _write(d / "z.mrc", b""), "empty"),
    "zero-byte-npz": (lambda d: _write(d / "z.npz", b""), "empty"),
    "truncated-tif": (lambda d: _truncated(_tif)(d / "t.tif"), "t.tif"),
    "truncated-npy": (lambda d: _truncated(_npy)(d / "t.npy"), "t.npy"),
    "truncated-h5": (lambda d: _truncated(lambda p: _h5(p, data=np.ones((32, 32))))(d / "t.h5"), "t.h5"),
    "truncated-mrc": (lambda d: _truncated(_mrc, 0.3)(d / "t.mrc"), "t.mrc"),
    "random-bytes-mrc": (lambda d: _write(d / "r.mrc", np.random.default_rng(0).bytes(4096)), "r.mrc"),
    "text-named-tif": (lambda d: _write(d / "notes.tif", b"these are my notes\n" * 20), "notes.tif"),
    "png-named-tif": (lambda d: os.replace(_png(d / "p.png"), d / "p.tif") or d / "p.tif", "p.tif"),
    "tif-named-npy": (lambda d: os.replace(_tif(d / "x.tif"), d / "x.npy") or d / "x.npy", "x.npy"),
    "pickled-npy": (lambda d: np.save(d / "o.npy", np.array([{"a": 1}], dtype=object)) or d / "o.npy", "o.npy"),
    "unsupported-suffix": (lambda d: _write(d / "image.txt", b"1 2 3"), "unsupported format"),
    "h5-without-dataset": (lambda d: _h5(d / "e.h5"), "no dataset"),
    "h5-ambiguous": (lambda d: _h5(d / "a.h5", left=np.ones((8, 8)), right=np.ones((8, 8))), "cannot tell"),
    "npz-ambiguous": (lambda d: _npz(d / "a.npz", left=np.ones((8, 8)), right=np.ones((8, 8))), "a.npz"),
    "npz-not-a-zip": (lambda d: _write(d / "n.npz", b"PK\x03\x04broken"), "n.npz"),
    "npy-1-d": (lambda d: np.save(d / "line.npy", np.zeros(16)) or d / "line.npy", "[H, W]"),
    "npy-complex": (lambda d: np.save(d / "c.npy", np.ones((16, 16), np.complex64)) or d / "c.npy", "complex"),
}


@pytest.mark.parametrize("case", list(BAD_FILES), ids=list(BAD_FILES))
def test_bad_file_gives_one_line_and_exit_2(work, capsys, tiny_model, case):
    make, text = BAD_FILES[case]
    source = make(work)
    _cli(work, capsys, ["restore", source, "-o", "out.tif", "--model", tiny_model, "--quiet"], text=text)


@pytest.mark.parametrize("case", ["truncated-tif", "random-bytes-mrc", "npy-1-d", "zero-byte-h5"])
def test_bad_file_is_refused_by_evaluate_too(work, capsys, case):
    make, text = BAD_FILES[case]
    source = make(work)
    _cli(work, capsys, ["evaluate", source], text=text)


def test_bad_file_read_through_the_api_is_a_value_error_naming_it(work):
    source = BAD_FILES["random-bytes-mrc"][0](work)
    with pytest.raises(ValueError, match="r.mrc"):
        io.read_image(source)


# ------------------------------------------------------------------------------------------ bad options
@pytest.fixture
def frame(work):
    return io.write_image(work / "frame.npy", np.random.default_rng(0).random((40, 40)).astype(np.float32))


BAD_RESTORE_OPTIONS = {
    "tile-zero": (["--tile", "0"], "tile_size"),
    "tile-negative": (["--tile", "-64"], "tile_size"),
    "tile-below-minimum": (["--tile", "16"], "tile_size"),
    "tile-not-a-number": (["--tile", "big"], "--tile"),
    "overlap-negative": (["--tile", "32", "--tile-overlap", "-1"], "tile_overlap"),
    "overlap-equal-to-tile": (["--tile", "32", "--tile-overlap", "32"], "tile_overlap"),
    "overlap-tile-minus-one": (["--tile", "32", "--tile-overlap", "31"], "tile_overlap"),
    "batch-zero": (["--batch-size", "0"], "batch_size"),
    "batch-negative": (["--batch-size", "-2"], "batch_size"),
    "channels-axis-out-of-range": (["--channels-axis", "5"], "channels"),
    "format-unknown": (["--format", "bmp"], "--format"),
    "model-unknown": (["--model", "no-such-model"], "unknown model"),
    "model-empty-string": (["--model", ""], "model"),
    "option-unknown": (["--denoise-harder"], "unrecognized"),
}


@pytest.mark.parametrize("case", list(BAD_RESTORE_OPTIONS), ids=list(BAD_RESTORE_OPTIONS))
def test_bad_restore_option(work, capsys, tiny_model, frame, case):
    extra, text = BAD_RESTORE_OPTIONS[case]
    model = [] if any(a == "--model" for a in extra) else ["--model", tiny_model]
    _cli(work, capsys, ["restore", frame, "-o", "out.tif", *model, "--quiet", *extra], text=text)


@pytest.mark.parametrize("name, make, text", [
    ("garbage-keras", lambda d: _write(d / "m.keras", b"not a zip at all" * 64), "m.keras"),
    ("empty-keras", lambda d: _write(d / "e.keras", b""), "e.keras"),
    ("zip-without-model", lambda d: zipfile.ZipFile(d / "z.keras", "w").close() or d / "z.keras", "z.keras"),
    ("folder-without-model", lambda d: (d / "folder").mkdir() or d / "folder", "saved_model.pb"),
    ("wrong-suffix", lambda d: _write(d / "weights.h5x", b"x"), "weights.h5x"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_bad_model_file(work, capsys, frame, name, make, text):
    model = make(work)
    _cli(work, capsys, ["restore", frame, "-o", "out.tif", "--model", model, "--quiet"], text=text)


@pytest.mark.parametrize("option, value", [
    ("tile_size", float("inf")), ("tile_size", float("nan")), ("tile_size", True), ("tile_size", "256"),
    ("tile_size", 100.5), ("batch_size", float("inf")), ("batch_size", float("nan")),
    ("tile_overlap", float("inf")), ("tile_overlap", float("nan")),
])
def test_bad_restore_keyword(tiny_model, option, value):
    import tfstem

    with pytest.raises(ValueError, match=option):
        tfstem.restore(np.ones((40, 40)), model=str(tiny_model), verbose=False,
                       **({"tile_size": 32} if option == "tile_overlap" else {}), **{option: value})


@pytest.mark.parametrize("pixel_size, unit, text", [
    (float("nan"), "nm", "pixel_size"), (float("inf"), "nm", "pixel_size"), (-0.1, "nm", "pixel_size"),
    (0.0, "nm", "pixel_size"),
])
def test_bad_pixel_size_is_refused_before_writing(work, pixel_size, unit, text):
    with pytest.raises(ValueError, match=text):
        io.write_image(work / "out.tif", np.ones((8, 8)), pixel_size=pixel_size, unit=unit)
    assert _tree(work) == {}


def _series(work, shape=(4, 32, 32), name="series.npy", value=None):
    data = np.random.default_rng(0).random(shape).astype(np.float32) if value is None else np.full(shape, value)
    np.save(work / name, data)
    return work / name


@pytest.mark.parametrize("case, make, extra, text", [
    ("channels-last", lambda d: _series(d, (128, 128, 2)), [], "channel"),
    ("nan-image", lambda d: _series(d, value=np.nan), [], "nan"),
    ("complex-image", lambda d: np.save(d / "c.npy", np.ones((4, 16, 16), np.complex64)) or d / "c.npy", [], "complex"),
    ("reference-shape", lambda d: _series(d), ["--reference", "ref.npy"], "shape"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_evaluate_refuses_what_it_cannot_measure(work, capsys, case, make, extra, text):
    source = make(work)
    if "--reference" in extra:
        _series(work, (4, 32, 30), name="ref.npy")
    _cli(work, capsys, ["evaluate", source, *extra], text=text)


@pytest.mark.parametrize("extra, text", [
    (["--count", "0"], "count"),
    (["--size", "8"], "size"),
    (["--modality", "xray"], "--modality"),
])
def test_bad_simulate_option(work, capsys, extra, text):
    args = ["simulate", "--modality", "hrstem", "-o", "pairs"]
    if "--modality" in extra:
        args = ["simulate", "-o", "pairs"]
    _cli(work, capsys, [*args, *extra], text=text)


@pytest.mark.parametrize("method, make, text", [
    ("n2v", lambda d: _series(d, (0, 32, 32, 2)), "empty"),
    ("n2v", lambda d: _series(d, (32,)), "1-D"),
    ("n2v", lambda d: _series(d, (4, 32, 32, 2), value=np.nan), "nan"),
    ("noise2atom", lambda d: _series(d, (0, 32, 32)), "empty"),
    ("noise2atom", lambda d: _series(d, (4, 32, 32), value=np.inf), "inf"),
], ids=["n2v-0-frames", "n2v-1-d", "n2v-nan", "n2a-0-frames", "n2a-inf"])
def test_bad_training_series(work, capsys, method, make, text):
    source = make(work)
    _cli(work, capsys, ["train", method, source, "-o", "run"], text=text)


# ------------------------------------------------------------------------------------ unwritable targets
@pytest.fixture
def a_file(work):
    (work / "a_file").write_text("I am a file")
    return work / "a_file"


def test_restore_into_a_path_below_a_file(work, capsys, frame, a_file):
    _cli(work, capsys, ["restore", frame, "-o", a_file / "out.tif", "--model", "no-such", "--quiet"],
         text="is a file")


def test_restore_into_an_unsupported_suffix(work, capsys, frame):
    _cli(work, capsys, ["restore", frame, "-o", "out.png", "--model", "no-such", "--quiet"], text="cannot write")


def test_restore_over_an_existing_output_without_force(work, capsys, frame, tiny_model):
    io.write_image(work / "out.tif", np.zeros((4, 4)))
    _cli(work, capsys, ["restore", frame, "-o", "out.tif", "--model", tiny_model, "--quiet"], text="--force")


def test_restore_into_a_folder_name_that_is_a_file(work, capsys, frame, a_file):
    _cli(work, capsys, ["restore", frame, frame, "-o", a_file, "--model", "no-such", "--quiet"], text="is a file")


def test_export_to_a_target_below_a_file(work, capsys, tiny_model, a_file):
    _cli(work, capsys, ["export", tiny_model, a_file / "served"], text="a_file")


def test_export_over_an_existing_version_without_force(work, capsys, tiny_model):
    assert main(["export", str(tiny_model), "served", "--name", "tiny"]) == 0
    capsys.readouterr()
    _cli(work, capsys, ["export", tiny_model, "served", "--name", "tiny"], text="--force")


def test_simulate_into_a_path_below_a_file(work, capsys, a_file):
    _cli(work, capsys, ["simulate", "--modality", "hrstem", "-n", "1", "--size", "32", "-o", a_file / "pairs"],
         text="a_file")


def test_simulate_never_overwrites_an_earlier_config(work, capsys):
    (work / "pairs").mkdir()
    (work / "pairs" / "hrstem_config.json").write_text("{}")
    _cli(work, capsys, ["simulate", "--modality", "hrstem", "-n", "1", "--size", "32", "-o", "pairs"],
         text="hrstem_config.json")


def test_evaluate_report_below_a_file(work, capsys, a_file):
    source = _series(work)
    _cli(work, capsys, ["evaluate", source, "--output", a_file / "report.json"], text="a_file")


@pytest.mark.parametrize("method", ["n2v", "noise2atom"])
def test_training_into_a_path_below_a_file(work, capsys, a_file, method):
    source = _series(work, (4, 32, 32, 2) if method == "n2v" else (4, 32, 32))
    _cli(work, capsys, ["train", method, source, "-o", a_file / "run"], text="a_file")


# ------------------------------------------------------------------------------------------- collisions
@pytest.mark.parametrize("layout", ["same-name-two-folders", "same-file-twice", "same-stem-two-suffixes"])
def test_two_inputs_to_one_output_are_refused_before_work(work, capsys, tiny_model, layout):
    (work / "d1").mkdir(), (work / "d2").mkdir()
    if layout == "same-name-two-folders":
        sources = [_series(work / "d1", name="x.npy"), _series(work / "d2", name="x.npy")]
    elif layout == "same-file-twice":
        sources = [_series(work, name="x.npy")] * 2
    else:
        sources = [_series(work, name="x.npy"), io.write_image(work / "x.tif", np.ones((16, 16)))]
    for force in ([], ["--force"]):
        _cli(work, capsys, ["restore", *sources, "-o", "out", "--model", tiny_model, "--quiet", *force],
             text="would both be written")


def test_output_equal_to_input_is_refused(work, capsys, tiny_model):
    source = io.write_image(work / "in.tif", np.ones((16, 16)))
    _cli(work, capsys, ["restore", source, "-o", source, "--force", "--model", tiny_model, "--quiet"],
         text="also an input")


# ------------------------------------------------------------------------------------------- interrupts
def _spawn(args, cwd):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "tfstem.cli", *map(str, args)], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _interrupt_once_working(process, marker, timeout=240.0):
    """Send SIGINT once ``marker`` (a progress bar's label) shows on stderr; return the whole stderr."""
    import threading

    chunks = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: process.stderr.read(1), "")), daemon=True)
    reader.start()
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None and marker not in "".join(chunks):
        time.sleep(0.05)
    assert process.poll() is None, "finished before it could be interrupted: " + "".join(chunks)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    process.wait(timeout=120)
    reader.join(timeout=10)
    return "".join(chunks)


@pytest.mark.parametrize("command", ["restore", "simulate"])
def test_interrupt_leaves_no_partial_file_and_no_traceback(work, tiny_model, command):
    if command == "restore":
        source = _series(work, (400, 256, 256))
        args, marker = ["restore", source, "-o", "out.npy", "--model", tiny_model], "restore"
    else:
        args, marker = ["simulate", "--modality", "hrstem", "-n", "4000", "--size", "256", "-o", "pairs"], "simulate"
    before = _tree(work)
    process = _spawn(args, work)
    err = _interrupt_once_working(process, marker)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    after = _tree(work)
    assert not [name for name in after if "partial" in name], after
    assert after == before
