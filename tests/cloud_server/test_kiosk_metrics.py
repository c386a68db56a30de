"""evaluate's kiosk figures on a small set worked out by hand."""

import numpy as np
import pytest

from cloud_server.training.evaluate import NO_SIGN, kiosk_metrics, shown_labels

# classes: 0 hello, 1 thanks, 2 idle (the no-sign class); threshold 0.6
PROBS = np.array(
    [
        [0.9, 0.05, 0.05],  # hello, shown hello        (session a, truth hello)  right
        [0.5, 0.4, 0.1],  # hello under threshold: none (session a, truth hello)  wrong when shown
        [0.1, 0.8, 0.1],  # thanks                     (session a, truth hello)  wrong
        [0.2, 0.7, 0.1],  # thanks                     (session b, truth thanks) right
        [0.1, 0.1, 0.8],  # idle: no sign               (session b, truth thanks) wrong
        [0.7, 0.2, 0.1],  # hello but no hand: no sign  (session b, truth idle)   no false label
        [0.1, 0.1, 0.8],  # idle: no sign               (session b, truth idle)   no false label
        [0.1, 0.85, 0.05],  # thanks shown              (session b, truth idle)   a false label
    ]
)
Y = np.array([0, 0, 0, 1, 1, 2, 2, 2])
SESSIONS = np.array(["a", "a", "a", "b", "b", "b", "b", "b"])
NO_HAND = np.array([False, False, False, False, False, True, False, False])


def test_shown_labels_apply_no_hand_the_no_sign_class_and_the_threshold():
    assert shown_labels(PROBS, 0.6, 2, NO_HAND).tolist() == [0, NO_SIGN, 1, 1, NO_SIGN, NO_SIGN, NO_SIGN, 1]


def test_a_label_with_a_threshold_of_its_own_is_shown_from_it():
    # hello shown from 0.45 (row 1's 0.5 is now shown), thanks from 0.9 (rows 2, 3, 7 are not)
    own = np.array([0.45, 0.9, 0.6])
    assert shown_labels(PROBS, own, 2, NO_HAND).tolist() == [0, 0, NO_SIGN, NO_SIGN, NO_SIGN, NO_SIGN, NO_SIGN, NO_SIGN]


def test_kiosk_metrics_by_hand():
    m = kiosk_metrics(PROBS, Y, SESSIONS, 0.6, 2, NO_HAND)
    assert m["shown_accuracy"] == pytest.approx(2 / 5)  # sign sequences 0-4: shown right on 0 and 3
    assert m["false_label_rate"] == pytest.approx(1 / 3)  # idle sequences 5-7: a sign shown on 7
    assert m["per_session"] == {
        "a": {"accuracy": pytest.approx(2 / 3), "shown_accuracy": pytest.approx(1 / 3), "n": 3},
        "b": {"accuracy": pytest.approx(1 / 2), "shown_accuracy": pytest.approx(1 / 2), "n": 2},
    }
    assert m["worst_decile_session_accuracy"] is None  # no session has 10 sign sequences


def test_worst_decile_over_sessions_with_ten_signs_and_no_idle_means_null():
    sessions = np.repeat([f"s{i}" for i in range(11)], 10)
    y = np.zeros(110, int)
    right = np.concatenate([np.arange(10) < k for k in range(11)])  # session si: i right of 10
    probs = np.where(right[:, None], [[0.9, 0.1]], [[0.1, 0.9]])
    m = kiosk_metrics(probs, y, sessions, 0.5, None, np.zeros(110, bool))
    assert m["false_label_rate"] is None
    assert m["worst_decile_session_accuracy"] == pytest.approx(np.percentile([min(k, 10) / 10 for k in range(11)], 10))
    assert m["worst_decile_session_accuracy"] == pytest.approx(0.1)
