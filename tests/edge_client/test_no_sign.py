"""On the kiosk, nobody signing is never a label: no-hand windows skip the local model, idle is never shown."""

import numpy as np

from edge_client.answering import LOCAL, Answer, LocalModel
from edge_client.smoothing import Smoother
from shared.contract.spec import FeatureSpec
from shared.model.bundle import Manifest, now_iso


class CountingRunner:
    def __init__(self, best: int):
        self.best, self.windows = best, 0

    def logits(self, features):
        self.windows += len(features)
        out = np.zeros((len(features), 3), np.float32)
        out[:, self.best] = 6.0
        return out


def _local(best: int) -> LocalModel:
    m = Manifest(name="m", version="1", created=now_iso(), spec=FeatureSpec(), labels=["hello", "idle", "thanks"],
                 threshold=0.5)  # fmt: skip
    return LocalModel(None, m, CountingRunner(best))


def test_the_local_model_answers_a_window_without_hands_without_running():
    model = _local(best=0)
    answer = model.predict(np.zeros((30, 126), np.float32))
    assert answer.no_sign and answer.label == "" and model.runner.windows == 0


def test_idle_from_the_local_model_is_no_sign_and_never_shown():
    model = _local(best=1)
    window = np.full((30, 126), 0.5, np.float32)
    answer = model.predict(window)
    assert answer.no_sign and answer.label == "" and model.runner.windows == 1
    smoother = Smoother(k=1, n=1)
    shown = [smoother.update(answer, sign=1) for _ in range(3)] + [smoother.end_sign(1)]
    assert all(s is None or s.label is None for s in shown)


def test_a_no_sign_answer_never_wins_a_vote_even_when_confident():
    no_sign = Answer("", 0.99, False, 0.5, "m", "1", LOCAL, no_sign=True)
    sign = Answer("hello", 0.99, False, 0.5, "m", "1", LOCAL)
    smoother = Smoother(k=2, n=3)
    shown = [smoother.update(a, sign=1) for a in (no_sign, no_sign, sign, sign)]
    labels = [s.label for s in shown if s is not None and s.label]
    assert labels == ["hello"]
