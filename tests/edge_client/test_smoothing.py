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


def idle(conf: float = 0.9, threshold: float = 0.6) -> Answer:
    return Answer("", conf, conf < threshold, threshold, "m", "3", "cloud", no_sign=True)


def _windows(s: Smoother, clock: Clock, answers, sign: int, every: float = 0.33) -> list[str | None]:
    """Feed one window answer every ``every`` seconds (the default stride at 15 fps); what is shown after each."""
    shown = []
    for a in answers:
        clock.now += every
        s.update(a, sign)
        shown.append(s.shown.label)
    return shown


def test_a_label_stays_through_a_signs_unsure_middle_while_the_hands_are_in_view():
    clock = Clock()
    s = Smoother(k=2, n=3, hold=1.5, clock=clock)
    # named, then 3 s of unsure windows (the hands move between shapes), then the hands leave
    shown = _windows(s, clock, [ans("hello"), ans("hello")] + [ans("hello", conf=0.3), ans("thanks", 0.4)] * 5, 1)
    assert shown[0] is None and shown[1:] == ["hello"] * 11
    clock.now += 0.3
    assert s.end_sign(1) is None and s.shown.label == "hello"  # the hold runs from the sign's last window
    clock.now += 1.0
    assert s.tick() is None
    clock.now += 0.6
    assert s.tick().label is None  # hold seconds after the hands left: no sign


def test_confident_idle_with_the_hands_in_view_lets_the_label_go_after_the_hold():
    clock = Clock()
    s = Smoother(k=2, n=3, hold=1.0, clock=clock)
    shown = _windows(s, clock, [ans("hello"), ans("hello"), idle(), idle(), idle(), idle(), idle()], 1)
    # idle wins 2 of 3 from the 4th window (t = 1.32, last support 0.99): blank once the hold is over
    assert shown == [None, "hello", "hello", "hello", "hello", "hello", None]


def test_unsure_idle_does_not_let_the_label_go():
    clock = Clock()
    s = Smoother(k=2, n=3, hold=1.0, clock=clock)
    shown = _windows(s, clock, [ans("hello"), ans("hello")] + [idle(conf=0.3)] * 8, 1)
    assert shown[1:] == ["hello"] * 9


def test_windows_that_stop_coming_let_the_label_go_after_the_hold():
    # a lost sign end (a full window queue) or paused answering must not keep a label forever
    clock = Clock()
    s = Smoother(k=2, n=3, hold=1.5, clock=clock)
    _windows(s, clock, [ans("hello"), ans("hello"), ans("x", conf=0.2)], 1)
    clock.now += 1.4
    assert s.tick() is None
    clock.now += 0.2
    assert s.tick().label is None


def test_a_new_sign_does_not_hold_the_last_signs_label():
    clock = Clock()
    s = Smoother(k=2, n=3, hold=1.5, clock=clock)
    _windows(s, clock, [ans("hello"), ans("hello")], 1)
    s.end_sign(1)
    shown = _windows(s, clock, [ans("x", conf=0.2)] * 6, 2)  # the hands come back, nothing sure
    assert shown[:4] == ["hello"] * 4 and shown[-1] is None  # the hold of sign 1, then no sign
