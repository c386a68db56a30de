import numpy as np
import pytest

from edge_client.capture import CaptureError, capture, check_label


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
