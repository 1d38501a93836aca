"""A wheel must carry the model configurations and shipped weights that live at the repository's top level."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tfstem import paths

ROOT = Path(__file__).resolve().parents[1]
BUILD_INPUTS = ("setup.py", "setup.cfg", "pyproject.toml", "README.md", "LICENSE", "MANIFEST.in",
                "tfstem", "models", "weights")


def test_shipped_dir_prefers_the_checkout_and_falls_back_to_the_package(tmp_path):
    checkout, installed = tmp_path / "repo", tmp_path / "site" / "tfstem" / "_shipped"
    (checkout / "models").mkdir(parents=True)
    assert paths.shipped_dir("models", checkout_root=checkout, installed_root=installed) == checkout / "models"
    assert paths.shipped_dir("weights", checkout_root=checkout, installed_root=installed) == installed / "weights"


def test_the_checkout_reads_its_own_models_and_weights():
    assert paths.MODELS_DIR == ROOT / "models"
    assert paths.WEIGHTS_DIR == ROOT / "weights"


@pytest.mark.slow
def test_wheel_contains_models_and_weights(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in BUILD_INPUTS:
        item = ROOT / name
        if item.is_dir():
            shutil.copytree(item, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(item, source / name)
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                             "-w", str(tmp_path / "dist"), str(source)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    (wheel,) = (tmp_path / "dist").glob("tfstem-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for config in sorted((ROOT / "models").glob("*.json")):
        assert f"tfstem/_shipped/models/{config.name}" in names
    for model_file in sorted(p for p in (ROOT / "weights").rglob("*") if p.is_file()):
        assert "tfstem/_shipped/weights/" + model_file.relative_to(ROOT / "weights").as_posix() in names
