"""signstream extract: per-clip report, resumable after SIGKILL, sources untouched."""

import hashlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from cloud_server.training.extract import find_clips
from shared.dataset import load_dataset


def _noise_clip(path, frames=8, size=64):
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (size, size))
    rng = np.random.default_rng(len(str(path)))
    for _ in range(frames):
        w.write(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
    w.release()


def _digest(folder):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*.mp4"))}


def _cmd(*args):
    return [sys.executable, "-m", "shared.cli", "extract", *map(str, args)]


def test_find_clips_labels(tmp_path):
    for name in ("hello/a.mp4", "hello/b.mp4", "thanks/c.mp4"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert [lab for _, lab in find_clips([tmp_path])] == ["hello", "hello", "thanks"]
    (tmp_path / "doctor_001.mp4").write_bytes(b"x")
    assert find_clips([tmp_path / "doctor_001.mp4"], "stem")[0][1] == "doctor"


@pytest.mark.slow
def test_clips_without_hands_are_reported_and_nothing_is_written(tmp_path):
    for i in range(3):
        _noise_clip(tmp_path / "clips" / "wave" / f"{i}.mp4")
    (tmp_path / "clips" / "wave" / "broken.mp4").write_bytes(b"not a video")
    before = _digest(tmp_path / "clips")
    proc = subprocess.run(_cmd(tmp_path / "clips", "--out", tmp_path / "d.npz"), capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 2
    assert "no hand found in any frame" in proc.stdout
    assert "broken.mp4 [wave]: skipped:" in proc.stdout
    assert "no clip gave any hand landmarks" in proc.stderr
    assert not (tmp_path / "d.npz").exists()
    assert _digest(tmp_path / "clips") == before


@pytest.mark.slow
@pytest.mark.realdata
def test_resumes_after_sigkill_repeating_only_clips_in_flight(tmp_path, sign_data):
    src = sign_data / "videos"
    for i, sign in enumerate(["hoy", "yo", "dolor", "hoy", "yo", "dolor", "hoy", "yo"]):
        (tmp_path / "clips" / sign).mkdir(parents=True, exist_ok=True)
        os.symlink(src / f"{sign}_001.mp4", tmp_path / "clips" / sign / f"{i}.mp4")
    out = tmp_path / "d.npz"
    workers = 2
    cmd = _cmd(tmp_path / "clips", "--out", out, "--workers", workers, "--hand-model", "lite")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    started, finished = [], []
    deadline = time.monotonic() + 240
    while len(finished) < 3 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("start "):
            started.append(line.split()[1])
        elif "frames with a hand" in line:
            finished.append(line.split()[0])
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert len(finished) >= 3 and not out.exists()
    rerun = subprocess.run(_cmd(tmp_path / "clips", "--out", out, "--workers", workers, "--hand-model", "lite"),
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr[-1000:]
    restarted = [ln.split()[1] for ln in rerun.stdout.splitlines() if ln.startswith("start ")]
    repeated = set(restarted) & set(started)
    assert not repeated & set(finished)  # a finished clip is never extracted again
    assert len(repeated) <= workers  # at most the clips that were in flight
    ds = load_dataset(out)
    assert len(ds) == 8 and ds.fps == pytest.approx(30, abs=1)
    assert not (tmp_path / "d.npz.parts").exists()
