import numpy as np
import pytest

from edge_client.frames import Frame
from edge_client.sources import ReplaySource
from edge_client.window import FrameSampler, SignEnd, Window, Windower
from shared.datasets.synth import generate


def _frames(pattern: str):
    """'h' = a frame with a hand, '.' = none."""
    for i, c in enumerate(pattern):
        lm = np.full(126, 0.5, np.float32) if c == "h" else np.zeros(126, np.float32)
        yield Frame(i, i / 15, lm, "sign" if c == "h" else None)


def _run(w: Windower, pattern: str):
    out = [x for f in _frames(pattern) for x in w.push(f)]
    return out + w.flush()


def _windows(out):
    return [x for x in out if isinstance(x, Window)]


def test_sliding_windows_with_stride():
    out = _run(Windower(frames=10, stride=5, min_hand_frames=3, end_after=3), "h" * 25)
    assert [w.last_index for w in _windows(out)] == [9, 14, 19, 24]
    assert all(w.frames.shape == (10, 126) for w in _windows(out))
    assert out[-1] == SignEnd(1, 24)  # the end of the stream ends the sign


def test_hands_leaving_end_the_sign_with_the_uncovered_frames():
    out = _run(Windower(frames=10, stride=5, min_hand_frames=3, end_after=3), "h" * 12 + "...." + "h" * 4)
    assert [(w.last_index, w.final, len(w.frames), w.sign) for w in _windows(out)] == [
        (9, False, 10, 1),
        (11, True, 7, 1),
        (19, True, 4, 2),
    ]
    assert [x for x in out if isinstance(x, SignEnd)] == [SignEnd(1, 14), SignEnd(2, 19)]


def test_windows_with_too_few_hand_frames_are_not_sent():
    out = _run(Windower(frames=10, stride=5, min_hand_frames=4, end_after=3), "hh....hh.....")
    assert _windows(out) == [] and len(out) == 2  # two sign ends, no window


def test_no_hand_no_window():
    assert _run(Windower(), "." * 100) == []


def test_bad_settings():
    with pytest.raises(ValueError):
        Windower(stride=0)
    with pytest.raises(ValueError):
        FrameSampler(0)


def test_replay_gives_one_window_per_sequence_with_its_truth():
    ds = generate(classes=3, per_class=2, signers=1, seed=0)
    ds.X[:, 3] = 0  # a dropped detection inside a sign does not end it
    w = Windower()
    out = [x for f in ReplaySource(ds, gap=8) for x in w.push(f)] + w.flush()
    assert [x.truth for x in _windows(out)] == list(np.asarray(ds.classes)[ds.y])
    assert [x.sign for x in out if isinstance(x, SignEnd)] == list(range(1, len(ds) + 1))


@pytest.mark.parametrize(("fps", "per_second"), [(30.0, 15), (15.0, 15), (7.5, 15), (60.0, 15)])
def test_sampler_puts_frames_on_the_models_grid(fps, per_second):
    sampler = FrameSampler(15.0)
    n = int(fps * 4)
    out = [f for i in range(n) for f in sampler.push(Frame(i, i / fps, np.zeros(126, np.float32)))]
    assert abs(len(out) - per_second * 4) <= 2
    assert [f.index for f in out] == sorted(f.index for f in out)


def test_sampler_restarts_after_a_gap():
    sampler = FrameSampler(15.0)
    assert len(sampler.push(Frame(0, 0.0, np.zeros(126, np.float32)))) == 1
    assert len(sampler.push(Frame(1, 10.0, np.zeros(126, np.float32)))) == 1  # not 150 repeats
