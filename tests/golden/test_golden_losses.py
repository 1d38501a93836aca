"""The redesigned trainers give the losses of the trainers they replaced (issue 16; tests/golden/README.md).

Every run of ``losses.json`` (13 seeded 3-step CPU runs: every preset of every method, recorded at 5a5dc35
before the redesign) is replayed through ``tfstem.fit`` in a fresh process with one TensorFlow thread, as
recorded, and every loss of every step must agree to rtol 1e-5. No change of numbers is intended; none is
relaxed.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.mark.slow
@pytest.mark.parametrize("method", ["cgrdn", "n2v", "noise2atom"])
def test_every_recorded_run_replays_to_the_same_losses(method, tmp_path):
    report = tmp_path / "worst.json"
    done = subprocess.run([sys.executable, str(HERE / "replay_all.py"), "--only", method, "--json", str(report)],
                          capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    worst = json.loads(report.read_text())
    recorded = [name for name, run in json.loads((HERE / "losses.json").read_text())["runs"].items()
                if run["method"] == method]
    assert sorted(worst) == sorted(recorded)
    assert max(worst.values()) <= 1e-5
