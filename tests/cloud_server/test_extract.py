"""signstream extract: per-clip report, resumable after SIGKILL, sources untouched."""

import hashlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from cloud_server.training.extract import find_clips, find_recordings
from shared.datasets.dataset import load_dataset


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
    return [sys.executable, "-m", "signstream.cli", "extract", *map(str, args)]


def test_find_clips_labels(tmp_path):
    for name in ("hello/a.mp4", "hello/b.mp4", "thanks/c.mp4"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert [lab for _, lab in find_clips([tmp_path])] == ["hello", "hello", "thanks"]
    (tmp_path / "doctor_001.mp4").write_bytes(b"x")
    assert find_clips([tmp_path / "doctor_001.mp4"], "stem")[0][1] == "doctor"


def test_sessions_come_from_the_recording_never_the_label(tmp_path):
    """capture's layouts: ROOT/LABEL/<stamp>.mp4 (session: the day) and ROOT/SESSION/LABEL/<stamp>.mp4."""
    for name in ("clips/hola/20261201-101500.mp4", "clips/dolor/20261202-090000.mp4", "clips/dolor/other.mp4"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    os.utime(tmp_path / "clips/dolor/other.mp4", (0, 1_700_000_000))  # 2023-11-14
    got = {p.name: (lab, ses) for p, lab, ses in find_recordings([tmp_path / "clips"])}
    assert got["20261201-101500.mp4"] == ("hola", "day-2026-12-01")
    assert got["20261202-090000.mp4"] == ("dolor", "day-2026-12-02")
    assert got["other.mp4"][1] == "day-" + time.strftime("%Y-%m-%d", time.localtime(1_700_000_000))
    for name in ("by/ana/hola/1.mp4", "by/ana/dolor/2.mp4", "by/ben/hola/3.mp4"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    got = sorted((lab, ses) for _, lab, ses in find_recordings([tmp_path / "by"]))
    assert got == [("dolor", "ana"), ("hola", "ana"), ("hola", "ben")]
    assert {ses for _, _, ses in find_recordings([tmp_path / "by"], session="s1")} == {"s1"}


@pytest.mark.slow
@pytest.mark.realdata
def test_a_real_extraction_in_the_documented_layout_has_sessions_that_are_not_labels(tmp_path, sign_data):
    import shutil

    for sign, stamp in (("hoy", "20261201-101500"), ("yo", "20261203-111500")):
        dest = tmp_path / "clips" / sign / f"{stamp}.mp4"
        dest.parent.mkdir(parents=True)
        shutil.copy(sign_data / "videos" / f"{sign}_001.mp4", dest)
    proc = subprocess.run(_cmd(tmp_path / "clips", "--out", tmp_path / "d.npz", "--workers", 1),
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    ds = load_dataset(tmp_path / "d.npz")
    assert sorted(ds.session.tolist()) == ["day-2026-12-01", "day-2026-12-03"]
    assert not set(ds.session.tolist()) & set(ds.classes)


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


def _corrupt_midway(src, dst):
    data = bytearray(src.read_bytes())
    start = len(data) // 2
    data[start : start + 20000] = bytes(range(256)) * (20000 // 256) + bytes(20000 % 256)
    dst.write_bytes(bytes(data))


def _extract_by_stem(clips, out):
    return subprocess.run(_cmd(*clips, "--label-from", "stem", "--out", out), capture_output=True, text=True,
                          timeout=600)  # fmt: skip


@pytest.mark.realdata
def test_a_clip_corrupted_midway_is_skipped_and_said(sign_data, tmp_path):
    """Before: a video corrupted mid-stream was cut silently (62 -> 20 frames, "0 skipped")."""
    videos = sign_data / "videos"
    _corrupt_midway(videos / "doctor_001.mp4", tmp_path / "doctor_002.mp4")
    out = tmp_path / "ds.npz"
    clips = [videos / "ambulancia_001.mp4", videos / "doctor_001.mp4", tmp_path / "doctor_002.mp4"]
    proc = _extract_by_stem(clips, out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "; 1 skipped" in proc.stdout, proc.stdout
    (skipped,) = [line for line in proc.stdout.splitlines() if line.startswith("  skipped ")]
    assert (
        "doctor_002.mp4: unreadable:" in skipped
        and "of its 62 frames could be decoded (corrupt or cut short)" in skipped
    )
    assert len(load_dataset(out)) == 2


@pytest.mark.realdata
def test_a_class_whose_clips_are_all_unreadable_stops_the_command(sign_data, tmp_path):
    """Before: a class whose clips were all unreadable disappeared with exit 0."""
    videos = sign_data / "videos"
    (tmp_path / "doctor_001.mp4").write_text("not a video")
    _corrupt_midway(videos / "doctor_001.mp4", tmp_path / "doctor_002.mp4")
    out = tmp_path / "ds.npz"
    clips = [videos / "ambulancia_001.mp4", tmp_path / "doctor_001.mp4", tmp_path / "doctor_002.mp4"]
    proc = _extract_by_stem(clips, out)
    assert proc.returncode == 2, proc.stdout[-2000:]
    (error,) = [line for line in proc.stderr.splitlines() if line.startswith("signstream")]  # + decoder noise
    assert error.startswith("signstream extract: error: every clip of doctor was skipped (see above)"), error
    assert not out.exists() and out.with_name("ds.npz.parts").is_dir()  # finished clips kept for the re-run


def _few_hands_clip(src, dst, keep=3, blank=37):
    """A real clip cut to ``keep`` frames from its middle, then ``blank`` black frames: a hand in too few frames."""
    import cv2

    cap = cv2.VideoCapture(str(src))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), 30, (w, h))
    mid = len(frames) // 2
    for f in frames[mid : mid + keep] + [np.zeros_like(frames[0])] * blank:
        out.write(f)
    out.release()


@pytest.mark.realdata
def test_a_clip_with_too_few_hands_is_warned_at_once_in_one_line(sign_data, tmp_path):
    """Before: a clip with a hand in 3 of 40 frames was kept and said only as '3/40 frames with a hand'."""
    videos = sign_data / "videos"
    _few_hands_clip(videos / "doctor_001.mp4", tmp_path / "doctor_002.mp4")
    _noise_clip(tmp_path / "doctor_003.mp4", frames=20)
    out = tmp_path / "ds.npz"
    proc = _extract_by_stem([videos / "doctor_001.mp4", tmp_path / "doctor_002.mp4", tmp_path / "doctor_003.mp4"], out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: record ")]
    assert len(warnings) == 2, proc.stderr
    few = next(w for w in warnings if "doctor_002.mp4" in w)
    assert few.startswith(f"warning: record {tmp_path / 'doctor_002.mp4'} [doctor] again: a hand in only ")
    assert few.endswith("of its 40 frames")
    assert any("doctor_003.mp4 [doctor] again: no hand found in any frame" in w for w in warnings)
    assert not any("doctor_001.mp4" in w for w in warnings)  # a good clip says nothing
    assert f"  kept, worth recording again: {tmp_path / 'doctor_002.mp4'}: a hand in only " in proc.stdout
    assert len(load_dataset(out)) == 2  # kept: a person decides (audit, review), extract only warns


def _sure_of_bundle(folder, labels, sure):
    """A real bundle whose TFLite model names ``sure`` for every window (a Dense layer with weights 0)."""
    import tensorflow as tf

    from shared.contract.normalize import features_batch
    from shared.contract.spec import FeatureSpec
    from shared.model.bundle import TFLITE_FLOAT, Manifest, now_iso, write_manifest

    spec = FeatureSpec()
    dim = features_batch([np.zeros((spec.frames, 126), np.float32)], spec).shape[-1]
    bias = np.where(np.array(labels) == sure, 6.0, 0.0).astype(np.float32)
    inp = tf.keras.Input((spec.frames, dim), batch_size=1)
    init = tf.constant_initializer(bias)
    dense = tf.keras.layers.Dense(len(labels), kernel_initializer="zeros", bias_initializer=init)
    model = tf.keras.Model(inp, dense(tf.keras.layers.Flatten()(inp)))
    (folder / "saved_model" / "variables").mkdir(parents=True)
    (folder / "saved_model" / "saved_model.pb").write_bytes(b"unused by the check")
    (folder / TFLITE_FLOAT).write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    write_manifest(folder, Manifest(name="sure", version="1", created=now_iso(), spec=spec, labels=labels))
    return folder


@pytest.mark.slow
@pytest.mark.realdata
def test_extract_with_a_model_warns_about_a_clip_it_sees_as_another_sign(sign_data, tmp_path):
    bundle = _sure_of_bundle(tmp_path / "bundle", ["doctor", "yo", "hoy"], sure="yo")
    videos = sign_data / "videos"
    out = tmp_path / "ds.npz"
    proc = subprocess.run(_cmd(videos / "doctor_001.mp4", videos / "yo_001.mp4", videos / "dolor_001.mp4",
                               "--label-from", "stem", "--out", out, "--model", bundle),
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: record ")]
    seen = "model sure 1 sees 'yo' (1.00), not 'doctor' (0.00)"
    assert warnings == [f"warning: record {videos / 'doctor_001.mp4'} [doctor] again: {seen}"], proc.stderr
    # yo_001 agrees with the model; dolor is a sign it does not know: neither is said
    assert len(load_dataset(out)) == 3
    bad = subprocess.run(_cmd(videos / "yo_001.mp4", "--label-from", "stem", "--out", tmp_path / "b.npz", "--model",
                              tmp_path), capture_output=True, text=True, timeout=120)  # fmt: skip
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and bad.stderr.strip().count("\n") == 0, bad.stderr
