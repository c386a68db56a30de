"""Smoothing: confident, stable (k of n within a sign), held, blank without a sign; defaults name a 2 s sign."""

import pytest

from edge_client.answering import Answer
from edge_client.settings import EdgeSettings
from edge_client.smoothing import Smoother
from edge_client.window import FrameSampler, SignEnd, Window, Windower

from .conftest import frames_from


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def ans(label: str, conf: float = 0.9, threshold: float = 0.6) -> Answer:
    return Answer(label, conf, conf < threshold, threshold, "m", "3", "cloud")


def test_k_of_n_within_a_sign():
    s = Smoother(k=2, n=3, hold=1.0, clock=Clock())
    assert s.update(ans("hello"), sign=1) is None
    assert s.update(ans("thanks"), sign=1) is None
    shown = s.update(ans("hello"), sign=1)
    assert shown.label == "hello" and shown.answered_by == "cloud" and shown.model_version == "3"
    assert s.update(ans("hello"), sign=1) is None  # unchanged: no new event


def test_below_threshold_answers_do_not_count():
    s = Smoother(k=2, n=3, clock=Clock())
    for _ in range(3):
        assert s.update(ans("hello", conf=0.5), sign=1) is None
    assert s.shown.label is None


def test_a_threshold_setting_overrides_the_models():
    s = Smoother(k=1, n=1, threshold=0.4, clock=Clock())
    assert s.update(ans("hello", conf=0.5), sign=1).label == "hello"


def test_a_new_sign_starts_afresh():
    s = Smoother(k=2, n=3, clock=Clock())
    s.update(ans("hello"), sign=1)
    assert s.update(ans("hello"), sign=2) is None  # one vote in sign 2, the vote of sign 1 is gone


def test_a_short_sign_is_named_when_it_ends_if_its_windows_agree():
    s = Smoother(k=2, n=3, clock=Clock())
    assert s.update(ans("yes"), sign=4) is None
    assert s.end_sign(4).label == "yes"
    s2 = Smoother(k=3, n=3, clock=Clock())
    s2.update(ans("yes"), sign=1)
    s2.update(ans("no"), sign=1)
    assert s2.end_sign(1) is None  # disagreeing windows name nothing
    s3 = Smoother(k=2, n=3, clock=Clock())
    s3.update(ans("yes", conf=0.1), sign=1)
    assert s3.end_sign(1) is None  # not confident


def test_hold_then_blank():
    clock = Clock()
    s = Smoother(k=1, n=1, hold=1.5, clock=clock)
    s.update(ans("hello"), sign=1)
    clock.now = 1.0
    assert s.tick() is None and s.shown.label == "hello"
    clock.now = 1.6
    assert s.tick().label is None
    assert s.tick() is None  # blank stays blank, no repeated event


def test_support_refreshes_the_hold_and_another_label_takes_over_at_once():
    clock = Clock()
    s = Smoother(k=1, n=2, hold=1.0, clock=clock)
    s.update(ans("a"), sign=1)
    clock.now = 0.9
    s.update(ans("a"), sign=1)
    clock.now = 1.5
    assert s.tick() is None  # supported at 0.9
    assert s.update(ans("b"), sign=1).label == "b"


def test_bad_settings():
    with pytest.raises(ValueError):
        Smoother(k=3, n=2)


def _run_defaults(frames, fps):
    """The default settings' sampler, windower and smoother over a frame stream; answers all 'hello'."""
    defaults = {name: f.default for name, f in EdgeSettings.model_fields.items()}  # declared, not from env
    sampler, windower = FrameSampler(15.0), Windower(30, defaults["stride"], defaults["min_hand_frames"],
                                                      defaults["end_after"])  # fmt: skip
    smoother = Smoother(defaults["smooth_k"], defaults["smooth_n"], defaults["hold"], clock=Clock())
    shown, windows = [], 0
    for f in frames:
        for sf in sampler.push(f):
            for out in windower.push(sf):
                if isinstance(out, Window):
                    windows += 1
                    r = smoother.update(ans("hello"), out.sign)
                else:
                    assert isinstance(out, SignEnd)
                    r = smoother.end_sign(out.sign)
                if r is not None:
                    shown.append(r.label)
    return shown, windows


@pytest.mark.parametrize("fps", [15.0, 30.0, 7.5])
def test_the_defaults_name_a_sign_held_for_two_seconds(fps):
    n = int(2 * fps)
    shown, windows = _run_defaults(frames_from("." * 5 + "h" * n + "." * 10, fps=fps), fps)
    assert windows >= 1 and shown == ["hello"]


def test_the_defaults_show_nothing_for_a_flicker_of_a_hand():
    shown, windows = _run_defaults(frames_from("." * 5 + "hhh" + "." * 10), 15.0)
    assert windows == 0 and shown == []
