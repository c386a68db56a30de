import numpy as np
import pytest

from edge_client.sources import Frame, ReplaySource
from edge_client.window import Windower
from shared.synth import generate


def _frames(pattern: str):
    """'h' = a frame with a hand, '.' = none."""
    for i, c in enumerate(pattern):
        lm = np.full(126, 0.5, np.float32) if c == "h" else np.zeros(126, np.float32)
        yield Frame(i, i / 15, lm, "sign" if c == "h" else None)


def _run(w: Windower, pattern: str):
    out = [x for f in _frames(pattern) for x in w.push(f)]
    return out + w.flush()


def test_sliding_windows_with_stride():
    out = _run(Windower(frames=10, stride=5, min_hand_frames=3, end_after=3), "h" * 25)
    assert [w.last_index for w in out] == [9, 14, 19, 24]
    assert all(w.frames.shape == (10, 126) for w in out)


def test_hands_leaving_end_the_sign_with_the_uncovered_frames():
    out = _run(Windower(frames=10, stride=5, min_hand_frames=3, end_after=3), "h" * 12 + "...." + "h" * 4)
    assert [(w.last_index, w.final, len(w.frames)) for w in out] == [
        (9, False, 10),
        (11, True, 7),
        (19, True, 4),
    ]


def test_windows_with_too_few_hand_frames_are_not_sent():
    assert _run(Windower(frames=10, stride=5, min_hand_frames=4, end_after=3), "hh....hh.....") == []


def test_no_hand_no_window():
    assert _run(Windower(), "." * 100) == []


def test_bad_settings():
    with pytest.raises(ValueError):
        Windower(stride=0)


def test_replay_gives_one_window_per_sequence_with_its_truth():
    ds = generate(classes=3, per_class=2, signers=1, seed=0)
    ds.X[:, 3] = 0  # a dropped detection inside a sign does not end it
    w = Windower()
    out = [x for f in ReplaySource(ds, gap=8) for x in w.push(f)] + w.flush()
    assert [x.truth for x in out] == list(np.asarray(ds.classes)[ds.y])
