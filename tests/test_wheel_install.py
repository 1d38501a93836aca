"""The first hour of a new user: ``pip install <wheel>`` (core only) in a fresh venv outside the repository.

Builds the wheel from the working tree, installs it with its core dependencies from PyPI into a new virtual
environment under the temporary folder, and from a folder outside the repository checks that

* the wheel holds ``tfstem/_shipped/models`` and ``tfstem/_shipped/weights``, and the installed package reads
  that copy even when site-packages holds someone else's ``models/`` and ``weights/``;
* the core install has tk-r-em (the default model ``r_em/hrstem``) but neither tf-keras nor a second
  TensorFlow;
* ``tfstem.restore(frame)`` and ``tfstem restore frame -o out.tif`` run with the default model, and the output
  keeps the pixel size and unit of an ``.mrc`` in Å and of an ImageJ TIFF in µm;
* every model ``tfstem models`` lists loads and restores a small frame.

Skipped, with the reason, only when the package index cannot be reached. Needs the network the first time;
pip's cache makes later runs faster (the install time is printed: ``pytest -s``).
"""

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BUILD_INPUTS = ("setup.py", "setup.cfg", "pyproject.toml", "README.md", "LICENSE", "MANIFEST.in",
                "tfstem", "models", "weights")


def _index_url() -> str:
    """The package index pip will use (``PIP_INDEX_URL`` or pip's configuration), default PyPI."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"]
    result = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.index-url"],
                            capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else "https://pypi.org/simple"


def _skip_unless_index_reachable() -> None:
    url = _index_url().rstrip("/") + "/tk-r-em/"
    try:
        with urllib.request.urlopen(url, timeout=15) as response:
            response.read(256)
    except (urllib.error.URLError, OSError) as error:
        pytest.skip(f"the package index is unreachable ({url}: {error}); a wheel install needs it")


def _build_wheel(tmp: Path) -> Path:
    """Build the wheel from a copy of the working tree (keeps build/ and *.egg-info out of the checkout)."""
    source = tmp / "source"
    source.mkdir()
    for name in BUILD_INPUTS:
        item = ROOT / name
        if item.is_dir():
            shutil.copytree(item, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(item, source / name)
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                             "-w", str(tmp / "dist"), str(source)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    (wheel,) = (tmp / "dist").glob("tfstem-*.whl")
    return wheel


class Install:
    """A fresh venv with the wheel installed; ``run`` runs its Python or scripts from a folder outside the repo."""

    def __init__(self, root: Path, wheel: Path, seconds: float):
        self.root, self.wheel, self.install_seconds = root, wheel, seconds
        self.python = root / "venv" / "bin" / "python"
        self.work = root / "work"
        self.work.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
        self.env = {**env, "TF_CPP_MIN_LOG_LEVEL": "2", "TFSTEM_CACHE_DIR": str(root / "cache")}

    def run(self, *args, check=True):
        program = str(self.python) if args[0] == "python" else str(self.python.parent / args[0])
        result = subprocess.run([program, *map(str, args[1:])], capture_output=True, text=True, cwd=self.work,
                                env=self.env, timeout=600)
        if check:
            assert result.returncode == 0, f"{args}: exit {result.returncode}\n{result.stderr[-3000:]}"
        return result

    def python_json(self, script: str, *args):
        """Run ``script`` in the venv's Python; it prints one JSON value on its last line."""
        return json.loads(self.run("python", "-c", script, *args).stdout.strip().splitlines()[-1])

    @property
    def site_packages(self) -> Path:
        return Path(self.python_json("import json, sysconfig; print(json.dumps(sysconfig.get_paths()['purelib']))"))


@pytest.fixture(scope="module")
def install(tmp_path_factory):
    _skip_unless_index_reachable()
    root = tmp_path_factory.mktemp("wheel_install")
    assert ROOT not in root.resolve().parents, "the venv must lie outside the repository"
    wheel = _build_wheel(root)
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
    start = time.monotonic()
    result = subprocess.run([str(root / "venv" / "bin" / "python"), "-m", "pip", "install", "-q",
                             "--disable-pip-version-check", str(wheel)], capture_output=True, text=True)
    seconds = time.monotonic() - start
    assert result.returncode == 0, result.stderr[-3000:]
    print(f"\npip install {wheel.name} (core) into a fresh venv: {seconds:.0f} s")
    return Install(root, wheel, seconds)


def test_wheel_holds_the_shipped_models_and_weights(install):
    names = set(zipfile.ZipFile(install.wheel).namelist())
    for config in sorted((ROOT / "models").glob("*.json")):
        assert f"tfstem/_shipped/models/{config.name}" in names
    for model_file in sorted(p for p in (ROOT / "weights").rglob("*") if p.is_file()):
        assert "tfstem/_shipped/weights/" + model_file.relative_to(ROOT / "weights").as_posix() in names


def test_core_install_has_tk_r_em_but_no_tf_keras_and_one_tensorflow(install):
    listed = json.loads(install.run("python", "-m", "pip", "list", "--format", "json").stdout)
    names = {item["name"].lower().replace("_", "-") for item in listed}
    assert {"tfstem", "tk-r-em", "tensorflow", "keras"} <= names
    assert "tf-keras" not in names
    assert not names & {"tensorflow-cpu", "tensorflow-gpu", "tf-nightly", "tensorflow-intel"}


def test_the_installed_package_reads_its_own_copy_despite_foreign_folders(install):
    site = install.site_packages
    foreign = [site / "models", site / "weights"]
    assert not any(p.exists() for p in foreign), "site-packages already holds models/ or weights/"
    try:
        for folder in foreign:
            (folder / "foreign_model" / "1").mkdir(parents=True)
        found = install.python_json(
            "import json, tfstem, tfstem.paths as p; print(json.dumps([tfstem.__file__, str(p.MODELS_DIR), "
            "str(p.WEIGHTS_DIR), tfstem.list_models()]))")
    finally:
        for folder in foreign:
            shutil.rmtree(folder, ignore_errors=True)
    package_file, models_dir, weights_dir, models = found
    assert Path(package_file).parent == site / "tfstem"
    assert Path(models_dir) == site / "tfstem" / "_shipped" / "models"
    assert Path(weights_dir) == site / "tfstem" / "_shipped" / "weights"
    assert "cgrdn_hrstem" in models and "foreign_model" not in models


def test_python_api_restores_a_frame_with_the_default_model(install):
    shape, dtype, finite, model = install.python_json(
        "import json, numpy as np, tfstem\n"
        "frame = np.random.default_rng(0).poisson(30.0, (40, 48)).astype(np.uint16)\n"
        "out = tfstem.restore(frame)\n"
        "from tfstem.registry import DEFAULT_MODEL\n"
        "print(json.dumps([out.shape, str(out.dtype), bool(np.isfinite(out).all()), DEFAULT_MODEL]))")
    assert (shape, dtype, finite, model) == ([40, 48], "float32", True, "r_em/hrstem")


_WRITE_INPUTS = """
import sys, numpy as np, mrcfile, tifffile
frame = np.random.default_rng(0).poisson(30.0, (40, 48)).astype(np.float32)
with mrcfile.new("frame_angstrom.mrc", overwrite=True) as mrc:  # MRC voxel sizes are in Å
    mrc.set_data(frame)
    mrc.voxel_size = 1.5
# ImageJ's own way: resolution in pixels per unit, the unit in the ImageDescription
tifffile.imwrite("frame_micron.tif", frame, imagej=True, resolution=(4.0, 4.0), metadata={"unit": "um"})
print("[]")
"""

_READ = """
import json, sys
from tfstem import io
print(json.dumps([[io.read_image(p).pixel_size, io.read_image(p).unit, list(io.read_image(p).data.shape)]
                  for p in sys.argv[1:]]))
"""

MICRON = ("µm", "um", "micron")


@pytest.mark.parametrize("source, pixel_size, units", [("frame_angstrom.mrc", 1.5, ("Å",)),
                                                        ("frame_micron.tif", 0.25, MICRON)])
def test_cli_restore_keeps_pixel_size_and_unit(install, source, pixel_size, units):
    install.python_json(_WRITE_INPUTS)
    target = f"{Path(source).stem}_restored.tif"
    (install.work / target).unlink(missing_ok=True)
    result = install.run("tfstem", "restore", source, "-o", target, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    (size_in, unit_in, shape_in), (size_out, unit_out, shape_out) = install.python_json(_READ, source, target)
    assert size_in == pytest.approx(pixel_size) and unit_in in units  # the input says what we wrote
    assert shape_out == shape_in
    assert size_out == pytest.approx(size_in, rel=1e-6) and unit_out == unit_in


def test_python_api_round_trip_keeps_angstrom(install):
    install.python_json(_WRITE_INPUTS)
    (install.work / "api_restored.tif").unlink(missing_ok=True)
    install.run("python", "-c", "import tfstem; from tfstem import io\n"
                "image = io.read_image('frame_angstrom.mrc')\n"
                "io.write_image('api_restored.tif', tfstem.restore(image.data), pixel_size=image.pixel_size, "
                "unit=image.unit)")
    ((size, unit, shape),) = install.python_json(_READ, "api_restored.tif")
    assert (size, unit, shape) == (pytest.approx(1.5), "Å", [40, 48])


def test_listed_models_load_and_restore(install):
    listing = install.run("tfstem", "models").stdout
    listed = [line.split()[0] for line in listing.splitlines() if line.strip()]
    assert {f"r_em/{m}" for m in ("hrstem", "lrstem", "hrtem", "lrtem", "hrsem", "lrsem")} <= set(listed)
    # the six r_em models share one loader (tests/r_em/test_authors.py checks all six against the authors' outputs):
    # from the wheel, load one of them besides the default and every model shipped in weights/
    chosen = [name for name in listed if not name.startswith("r_em/")] + ["r_em/hrstem", "r_em/lrtem"]
    shapes = install.python_json(
        "import json, sys, numpy as np, tfstem\n"
        "frame = np.random.default_rng(0).random((32, 32)).astype(np.float32)\n"
        "print(json.dumps({name: list(tfstem.restore(frame, model=name).shape) for name in sys.argv[1:]}))",
        *chosen)
    assert shapes == {name: [32, 32] for name in chosen}
