"""No sign is an answer: windows without hands skip the model; the model's no-sign class is never a label."""

import time

import numpy as np

from shared.contract.spec import FeatureSpec
from shared.model.bundle import Manifest, now_iso
from shared.model.predictor import NO_HAND_MAX_FRACTION, hand_fraction, predict_windows


class CountingRunner:
    """Logits favouring a fixed class; counts the windows it was asked about."""

    def __init__(self, best: int, n: int = 3):
        self.best, self.n, self.windows = best, n, 0

    def logits(self, features):
        self.windows += len(features)
        out = np.zeros((len(features), self.n), np.float32)
        out[:, self.best] = 6.0
        return out


def _manifest(labels=("hello", "idle", "thanks"), threshold=0.5):
    return Manifest(name="m", version="1", created=now_iso(), spec=FeatureSpec(), labels=list(labels),
                    threshold=threshold)  # fmt: skip


def _window(hand_frames: int, frames: int = 30) -> np.ndarray:
    w = np.zeros((frames, 126), np.float32)
    w[:hand_frames, :63] = np.linspace(0.2, 0.8, 63)
    return w


def test_hand_fraction_counts_frames_with_any_hand():
    assert hand_fraction(_window(0)) == 0.0 and hand_fraction(_window(3)) == 0.1 and hand_fraction(_window(30)) == 1.0


def test_a_window_without_hands_is_no_sign_and_the_model_is_not_run():
    runner = CountingRunner(best=0)
    [p] = predict_windows(runner, _manifest(), [_window(0)])
    assert runner.windows == 0
    assert (p.no_sign, p.label, p.index, p.confidence, p.top_k, p.below_threshold) == (True, "", -1, 1.0, [], False)
    [p] = predict_windows(runner, _manifest(), [_window(int(30 * NO_HAND_MAX_FRACTION))])  # 3 of 30: almost none
    assert p.no_sign and runner.windows == 0


def test_only_windows_with_hands_reach_the_model_and_keep_their_order():
    runner = CountingRunner(best=2)
    preds = predict_windows(runner, _manifest(), [_window(0), _window(20), _window(1), _window(30)])
    assert runner.windows == 2
    assert [p.label for p in preds] == ["", "thanks", "", "thanks"]
    assert [p.no_sign for p in preds] == [True, False, True, False]


def test_the_no_sign_class_is_answered_as_no_sign_never_as_its_name():
    [p] = predict_windows(CountingRunner(best=1), _manifest(), [_window(30)])
    assert p.no_sign and p.label == "" and p.index == 1 and not p.below_threshold
    assert p.top_k[0].label == "idle"  # the scores stay visible to whoever wants them
    renamed = _manifest(labels=("hello", "nothing", "thanks")).model_copy(update={"no_sign_label": "nothing"})
    [p] = predict_windows(CountingRunner(best=1), renamed, [_window(30)])
    assert p.no_sign and p.label == ""
    unnamed = _manifest().model_copy(update={"no_sign_label": None})  # a bundle without a no-sign class
    [p] = predict_windows(CountingRunner(best=1), unnamed, [_window(30)])
    assert not p.no_sign and p.label == "idle"


def test_a_sign_with_a_threshold_of_its_own_is_judged_by_it():
    class Fixed:
        def logits(self, features):  # softmax over 3 labels: 0.6 for the best one
            return np.tile(np.log(np.array([[0.2, 0.2, 0.6]], np.float32)), (len(features), 1))

    m = _manifest(threshold=0.7)
    [p] = predict_windows(Fixed(), m, [_window(30)])
    assert p.label == "thanks" and p.below_threshold
    own = m.model_copy(update={"sign_thresholds": {"thanks": 0.5}})
    [p] = predict_windows(Fixed(), own, [_window(30)])
    assert p.label == "thanks" and not p.below_threshold
    np.testing.assert_allclose(own.thresholds(), [0.7, 0.7, 0.5])


def test_sign_thresholds_must_name_labels_and_lie_in_0_1():
    import pytest
    from pydantic import ValidationError

    base = _manifest().model_dump()
    with pytest.raises(ValidationError, match="not labels"):
        Manifest(**{**base, "sign_thresholds": {"doctor": 0.5}})
    with pytest.raises(ValidationError, match=r"\[0, 1\]"):
        Manifest(**{**base, "sign_thresholds": {"hello": 1.5}})


class SlowRunner(CountingRunner):
    def logits(self, features):
        time.sleep(0.01)
        return super().logits(features)


def test_timing_is_told_the_features_and_the_model_times_only_when_the_model_runs():
    told: list[tuple[str, float]] = []
    predict_windows(SlowRunner(best=0), _manifest(), [_window(0)], timing=lambda *t: told.append(t))
    assert told == []  # no hand: nothing ran
    predict_windows(SlowRunner(best=0), _manifest(), [_window(30), _window(20)], timing=lambda *t: told.append(t))
    assert [name for name, _ in told] == ["features", "model"]  # one batch, once each
    features, model = told[0][1], told[1][1]
    assert 0 < features < model and model >= 0.01  # the runner sleeps 10 ms
