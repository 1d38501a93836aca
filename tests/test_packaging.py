"""A wheel must carry the model configurations and shipped weights that live at the repository's top level."""

import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tfstem import paths

ROOT = Path(__file__).resolve().parents[1]
BUILD_INPUTS = ("setup.py", "setup.cfg", "pyproject.toml", "README.md", "LICENSE", "MANIFEST.in",
                "tfstem", "models", "weights")


def _source_checkout(root: Path, name: str = "tfstem") -> Path:
    (root / "models").mkdir(parents=True)
    (root / "weights").mkdir()
    (root / "setup.cfg").write_text(f"[metadata]\nname = {name}\n")
    return root


def test_shipped_dir_prefers_the_packaged_copy(tmp_path):
    checkout = _source_checkout(tmp_path / "repo")
    installed = tmp_path / "repo" / "tfstem" / "_shipped"
    (installed / "weights").mkdir(parents=True)
    assert paths.shipped_dir("weights", checkout_root=checkout, installed_root=installed) == installed / "weights"


def test_shipped_dir_reads_a_source_checkout_in_place(tmp_path):
    checkout = _source_checkout(tmp_path / "repo")
    installed = checkout / "tfstem" / "_shipped"  # an editable install has no packaged copy
    assert paths.shipped_dir("models", checkout_root=checkout, installed_root=installed) == checkout / "models"
    assert paths.shipped_dir("weights", checkout_root=checkout, installed_root=installed) == checkout / "weights"


@pytest.mark.parametrize("beside", ["nothing", "other_setup_cfg", "git", "broken_setup_cfg"])
def test_an_unrelated_models_folder_beside_the_package_is_never_read(tmp_path, beside):
    site = tmp_path / "site-packages"
    (site / "models").mkdir(parents=True)
    (site / "weights").mkdir()
    if beside == "other_setup_cfg":
        (site / "setup.cfg").write_text("[metadata]\nname = someone-else\n")
    elif beside == "git":
        (site / ".git").mkdir()
    elif beside == "broken_setup_cfg":
        (site / "setup.cfg").write_bytes(b"\xff\xfe not an ini file [[[")
    installed = site / "tfstem" / "_shipped"
    for name in ("models", "weights"):
        assert paths.shipped_dir(name, checkout_root=site, installed_root=installed) == installed / name


def test_is_source_checkout_reads_the_project_name(tmp_path):
    assert paths.is_source_checkout(_source_checkout(tmp_path / "a"))
    assert not paths.is_source_checkout(_source_checkout(tmp_path / "b", name="other"))
    assert not paths.is_source_checkout(tmp_path / "missing")


@pytest.mark.parametrize("packaged", [True, False])
def test_installed_package_ignores_foreign_folders_in_site_packages(tmp_path, packaged):
    """The real module, imported from a site-packages that also holds someone else's models/ and weights/."""
    site = tmp_path / "site-packages"
    shutil.copytree(ROOT / "tfstem", site / "tfstem", ignore=shutil.ignore_patterns("__pycache__", "_shipped"))
    for name in ("models", "weights"):
        (site / name / "foreign_model" / "1").mkdir(parents=True)
        if packaged:
            (site / "tfstem" / "_shipped" / name).mkdir(parents=True)
    script = "import tfstem.paths as p; print(p.MODELS_DIR); print(p.WEIGHTS_DIR)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(site)})
    assert result.returncode == 0, result.stderr
    shipped = (site / "tfstem" / "_shipped").resolve()
    assert result.stdout.split() == [str(shipped / "models"), str(shipped / "weights")]


def _requirement_names(lines: str) -> set:
    names = set()
    for line in lines.splitlines():
        line = line.split("#")[0].strip()
        if line:
            names.add(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def test_core_install_runs_the_default_model_without_tf_keras():
    """The default model r_em/hrstem needs tk-r-em: a core dependency; tf-keras only in the extras."""
    from tfstem.registry import DEFAULT_MODEL

    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    core = _requirement_names(config["options"]["install_requires"])
    extras = config["options.extras_require"]
    assert DEFAULT_MODEL.startswith("r_em/") and "tk-r-em" in core
    assert "tf-keras" not in core
    for extra in ("r_em_reference", "r_em", "test"):
        assert "tf-keras" in _requirement_names(extras[extra])


