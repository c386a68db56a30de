"""`signstream demo` end to end: registry, train, evaluate, promote, gunicorn, edge replay, live labels, clean stop."""

import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def _server_processes() -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "signstream.cli serve" in line or "signstream-server" in line]


def test_demo_shows_live_labels_matching_the_truth_and_stops_cleanly(tmp_path):
    before = _server_processes()
    # 8 epochs, not the demo's 25: every step still runs; the live labels must still match the truth
    proc = subprocess.run(
        [sys.executable, "-m", "signstream.cli", "demo", "--workdir", str(tmp_path), "--epochs", "8"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "server ready" in out and "server stopped" in out
    assert "dataset pushed" in out and "pushed (signed) and promoted" in out
    png = re.search(r"confusion matrix: (\S+\.png)", out)
    assert png and os.path.isfile(png.group(1)), out
    assert re.search(r"kiosk page: http://127\.0\.0\.1:\d+/", out), out
    rows = [line for line in out.splitlines() if line.rstrip().endswith("%)")]
    assert len(rows) >= 12, out
    m = re.search(r"(\d+) of (\d+) live labels matched the replayed truth", out)
    assert m, out
    ok, n = int(m.group(1)), int(m.group(2))
    assert n >= 12 and ok / n >= 0.6, out
    assert not set(_server_processes()) - set(before), "the demo must leave no server process behind"
    # one signer held out of synthetic data: said as what was measured, with no advice to record anyone
    assert "measured on that person alone" in proc.stderr and "record more people" not in proc.stderr + out
