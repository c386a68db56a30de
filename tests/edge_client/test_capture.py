import numpy as np
import pytest

from edge_client.capture import CaptureError, capture, check_label
from tests.shared.app.test_native_notices import NATIVE_NOISE


def _video(path, frames=40, fps=20):
    import cv2

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (32, 32))
    for i in range(frames):
        w.write(np.full((32, 32, 3), i * 5 % 255, np.uint8))
    w.release()
    return path


def test_capture_from_a_file_never_overwrites(tmp_path):
    src = _video(tmp_path / "src.mp4")
    said = []
    first = capture("hello", str(src), tmp_path / "root", count=2, seconds=0.5, countdown=0, say=said.append)
    second = capture("hello", str(src), tmp_path / "root", count=1, seconds=0.5, countdown=0, say=said.append)
    clips = sorted((tmp_path / "root" / "hello").glob("*.mp4"))
    assert len(clips) == 3 and set(first + second) == set(clips)
    assert "'hello' now has 3 clips" in said[-1]
    import cv2

    cap = cv2.VideoCapture(str(first[0]))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 10
    assert not list((tmp_path / "root").rglob(".*"))  # no temporary file left


def test_a_file_that_ends_first_says_how_many_clips_it_made_and_keeps_them(tmp_path):
    src = _video(tmp_path / "src.mp4", frames=15)
    with pytest.raises(CaptureError, match=r"src.mp4 ended after 2 of 5 clips of 'yes' \(those are kept\)"):
        capture("yes", str(src), tmp_path / "r", count=5, seconds=0.5, countdown=0, say=lambda s: None)
    assert len(list((tmp_path / "r" / "yes").glob("*.mp4"))) == 2


def test_capture_on_the_command_line_exits_non_zero_when_short_of_clips(tmp_path, capsys):
    from signstream.cli import main

    src = _video(tmp_path / "src.mp4", frames=10)
    argv = ["capture", "--label", "yes", "--source", str(src), "--root", str(tmp_path / "r"), "--seconds", "0.5"]
    assert main([*argv, "--count", "2"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"signstream capture: error: {src} ended after 1 of 2 clips of 'yes' (those are kept)"]
    assert main([*argv, "--count", "1"]) == 0  # a file long enough for what was asked
    assert len(list((tmp_path / "r" / "yes").glob("*.mp4"))) == 2


@pytest.mark.parametrize("label", ["", "../up", "a/b", "."])
def test_bad_labels(label):
    with pytest.raises(CaptureError):
        check_label(label)


def test_missing_source(tmp_path):
    with pytest.raises(CaptureError, match="no such file"):
        capture("hi", str(tmp_path / "none.mp4"), tmp_path)


def test_capture_with_a_session_writes_the_layout_extract_reads_as_people(tmp_path):
    from cloud_server.training.extract import find_recordings

    src = _video(tmp_path / "src.mp4")
    paths = capture("hello", str(src), tmp_path / "root", count=1, seconds=0.5, countdown=0, say=lambda s: None,
                    session="signer-07")  # fmt: skip
    assert paths[0].parent == tmp_path / "root" / "signer-07" / "hello"
    assert [(lab, ses) for _, lab, ses in find_recordings([tmp_path / "root"])] == [("hello", "signer-07")]
    with pytest.raises(CaptureError, match=r"^session '\.\./x' must use letters"):
        capture("hello", str(src), tmp_path / "root", count=1, countdown=0, say=lambda s: None, session="../x")
    with pytest.raises(CaptureError, match=r"^label 'a/b' must use letters"):
        capture("a/b", str(src), tmp_path / "root", count=1, countdown=0, say=lambda s: None, session="signer-07")


def _capture_cli(*args):
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "signstream.cli", "capture", "--countdown", "0", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.mark.realdata
def test_capture_says_at_once_which_clip_to_record_again(tmp_path, sign_data):
    """Before: a clip with no hand was saved and counted like any other; the volunteer learnt nothing."""
    flat = _video(tmp_path / "flat.mp4")  # no hand in any frame
    proc = _capture_cli("--label", "hello", "--source", flat, "--root", tmp_path / "root", "--seconds", "0.5")
    assert proc.returncode == 0, proc.stderr[-2000:]
    (clip,) = (tmp_path / "root" / "hello").glob("*.mp4")
    (warning,) = [line for line in proc.stdout.splitlines() if line.startswith("warning:")]
    assert warning == f"warning: record {clip} again: no hand in any of its 10 frames"

    proc = _capture_cli("--label", "hoy", "--source", sign_data / "videos" / "hoy_001.mp4", "--root", tmp_path / "root",
                        "--seconds", "10")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "saved " in proc.stdout and "warning" not in proc.stdout  # a clip with a hand says nothing more

    proc = _capture_cli("--label", "idle", "--source", flat, "--root", tmp_path / "root", "--seconds", "0.5")
    assert "warning" not in proc.stdout  # nobody signing needs no hand
    proc = _capture_cli("--label", "hello", "--source", flat, "--root", tmp_path / "root", "--seconds", "0.5",
                        "--no-check")  # fmt: skip
    assert proc.returncode == 0 and "warning" not in proc.stdout
    assert len(list((tmp_path / "root" / "hello").glob("*.mp4"))) == 2  # clips are kept: the check only warns


@pytest.mark.realdata
def test_capture_with_its_check_on_a_real_clip_writes_nothing_to_stderr(tmp_path, sign_data):
    """Before: MediaPipe's C++ start-up notices, and its landmarker's TypeError at interpreter exit."""
    proc = _capture_cli("--label", "yo", "--source", sign_data / "videos" / "yo_001.mp4", "--root", tmp_path / "root",
                        "--seconds", "10")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "saved " in proc.stdout and "warning" not in proc.stdout  # the check ran and found the hand
    assert "np." not in proc.stdout
    assert [n for n in NATIVE_NOISE if n in proc.stderr] == [], proc.stderr[-2000:]
    assert proc.stderr == ""


@pytest.mark.slow
@pytest.mark.realdata
def test_capture_with_a_model_says_when_it_sees_another_sign(tmp_path, sign_data):
    pytest.importorskip("tensorflow")  # to build the bundle; the check itself runs its TFLite file
    from tests.cloud_server.test_extract import _sure_of_bundle

    bundle = _sure_of_bundle(tmp_path / "bundle", ["hoy", "yo"], sure="yo")
    hoy = sign_data / "videos" / "hoy_001.mp4"
    proc = _capture_cli("--label", "hoy", "--source", hoy, "--root", tmp_path / "root", "--seconds", "10",
                        "--model", bundle)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    (clip,) = (tmp_path / "root" / "hoy").glob("*.mp4")
    (warning,) = [line for line in proc.stdout.splitlines() if line.startswith("warning:")]
    assert warning == f"warning: record {clip} again: model sure 1 sees 'yo' (1.00), not 'hoy' (0.00)"
    proc = _capture_cli("--label", "yo", "--source", sign_data / "videos" / "yo_001.mp4", "--root",
                        tmp_path / "root", "--seconds", "10", "--model", bundle)  # fmt: skip
    assert proc.returncode == 0 and "warning" not in proc.stdout  # the model agrees
