"""A clip's label against what a model sees: said only when the model confidently names another sign."""

import numpy as np

from shared.contract.spec import FeatureSpec
from shared.model.bundle import Manifest, now_iso
from shared.model.label_check import label_contradiction
from tests.shared.datasets.test_handshape import _moving


class FixedRunner:
    """A model that gives every window the same logits, and counts the windows it saw."""

    def __init__(self, logits):
        self.row = np.asarray(logits, np.float32)
        self.windows = 0

    def logits(self, features):
        self.windows += len(features)
        return np.tile(self.row, (len(features), 1))


def _manifest(threshold=0.0):
    return Manifest(name="signs", version="7", created=now_iso(), spec=FeatureSpec(),
                    labels=["hello", "thanks", "idle"], threshold=threshold)  # fmt: skip


def test_a_confident_other_sign_is_said_with_both_probabilities():
    runner = FixedRunner([0.0, 5.0, 0.0])  # 'thanks' ~0.99
    said = label_contradiction(_moving(), 30.0, "hello", _manifest(), runner)
    assert said is not None and said.startswith("model signs 7 sees 'thanks' (0.99), not 'hello' (0.01)")
    assert runner.windows >= 1
    assert label_contradiction(_moving(), 30.0, "thanks", _manifest(), runner) is None  # agrees


def test_unsure_unknown_or_handless_clips_are_not_judged():
    unsure = FixedRunner([1.0, 1.5, 0.0])  # thanks 0.55 but hello 0.33: not a contradiction
    assert label_contradiction(_moving(), 30.0, "hello", _manifest(), unsure) is None
    confident = FixedRunner([0.0, 3.0, 0.0])  # thanks 0.91: under a recommended threshold of 0.95
    assert label_contradiction(_moving(), 30.0, "hello", _manifest(threshold=0.95), confident) is None
    assert label_contradiction(_moving(), 30.0, "hello", _manifest(threshold=0.5), confident) is not None
    runner = FixedRunner([0.0, 5.0, 0.0])
    assert label_contradiction(_moving(), 30.0, "doctor", _manifest(), runner) is None  # a sign it does not know
    assert label_contradiction(np.zeros((30, 126), np.float32), 30.0, "hello", _manifest(), runner) is None
    assert runner.windows == 0  # neither was shown to the model
