"""Build hook: ship the repository's top-level ``models/`` and ``weights/`` inside the wheel.

The repository keeps model configurations and the TF-Serving SavedModels at its top level (where
TF Serving and the examples expect them); a wheel only holds packages, so ``build_py`` copies both folders
to ``tfstem/_shipped/`` in the build tree. :func:`tfstem.paths.shipped_dir` reads that packaged copy when it
exists (wheel) and the checkout's folders otherwise (source tree, editable install: no copy is made).
Everything else is in ``setup.cfg``.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("models", "weights")


class BuildPyWithShippedData(build_py):
    def run(self):
        super().run()
        if self.editable_mode:  # the editable install reads ROOT/models and ROOT/weights in place
            return
        for name in SHIPPED:
            source = ROOT / name
            if source.is_dir():
                target = Path(self.build_lib) / "tfstem" / "_shipped" / name
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(source, target)


setup(cmdclass={"build_py": BuildPyWithShippedData})
