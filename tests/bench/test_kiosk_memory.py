"""The kiosk's memory, part by part, in a fresh process without TensorFlow (``bench.kiosk_memory``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.realdata, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def test_each_part_adds_memory_and_the_running_kiosk_holds_them_all(tiny_bundle, sign_data):
    clip = sign_data / "videos" / "yo_001.mp4"
    cmd = [sys.executable, "-m", "bench.kiosk_memory", "--backend", "litert", "--variant", "lite",
           "--bundle", str(tiny_bundle), str(clip)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["backend"] == "litert" and res["frames"] >= 50
    assert not res["tensorflow_loaded"] and not res["mediapipe_loaded"]  # what a Pi 4's kiosk loads
    added = res["added_kb"]
    assert list(added)[:3] == ["python + numpy", "opencv + a decoded frame", "hand backend (litert, lite)"]
    assert added["hand backend (litert, lite)"] > 10 * 1024  # two models and LiteRT's library
    steps = list(res["steps_kb"].values())
    assert steps == sorted(steps)  # nothing is unloaded before the kiosk runs
    assert res["steady_kb"] >= 0.9 * steps[-1] and res["peak_kb"] >= max(res["steady_kb"], steps[-1])
    parts = res["steady_parts_kb"]
    assert abs(parts["anon"] + parts["file"] + parts["shmem"] - res["steady_kb"]) < 0.1 * res["steady_kb"]
