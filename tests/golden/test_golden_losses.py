"""The redesigned trainers give the losses of the trainers they replaced (issue 16; tests/golden/README.md).

Every run of ``losses.json`` (13 seeded 3-step CPU runs: every preset of every method, recorded at 5a5dc35
before the redesign) is replayed through ``tfstem.fit`` in a fresh process with one TensorFlow thread, as
recorded, and every loss of every step must agree to rtol 1e-5. No change of numbers is intended; none is
relaxed. A method's runs are split over two processes that run side by side: with one TensorFlow thread each,
a replay (mostly graph tracing, single-threaded Python) uses one core.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
RUNS = json.loads((HERE / "losses.json").read_text())["runs"]


def _replay_side_by_side(names, tmp_path):
    """Replay ``names`` in two processes at once; returns {run: largest relative difference}."""
    halves = [names[0::2], names[1::2]]
    jobs = []
    for i, half in enumerate(h for h in halves if h):
        report = tmp_path / f"worst_{i}.json"
        only = [arg for name in half for arg in ("--only", name)]
        jobs.append((report, subprocess.Popen([sys.executable, str(HERE / "replay_all.py"), *only, "--json", str(report)],
                                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    worst = {}
    for report, job in jobs:
        out, err = job.communicate(timeout=1500)
        assert job.returncode == 0, out[-3000:] + err[-3000:]
        worst.update(json.loads(report.read_text()))
    return worst


@pytest.mark.slow
@pytest.mark.parametrize("method", ["cgrdn", "n2v", "noise2atom"])
def test_every_recorded_run_replays_to_the_same_losses(method, tmp_path):
    recorded = [name for name, run in RUNS.items() if run["method"] == method]
    worst = _replay_side_by_side(recorded, tmp_path)
    assert sorted(worst) == sorted(recorded)
    assert max(worst.values()) <= 1e-5
