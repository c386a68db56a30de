"""The recommended threshold: chosen for what a kiosk shows, on held-out people's windows."""

import numpy as np

from shared.model.calibration import kiosk_threshold

# columns: hello, thanks, idle
PROBS = np.array([[0.9, 0.1, 0.0], [0.6, 0.4, 0.0], [0.55, 0.45, 0.0], [0.3, 0.2, 0.5], [0.1, 0.7, 0.2]])


def test_no_sign_windows_shown_a_sign_set_the_floor():
    # window 4 is idle but shows 'thanks' at 0.7: any threshold <= 0.70 shows a sign for 1 of 2 idle
    # windows (50% > 5%); at 0.71 only window 0 is shown: 1 right, 0 wrong.
    y = np.array([0, 1, 0, 2, 2])
    assert kiosk_threshold(PROBS, y, no_sign=2) == 0.71


def test_a_wrong_label_costs_as_much_as_a_missed_right_one():
    # no no-sign class: 0.00 shows all 5: right 0, 2, 4 (3) minus wrong 1, 3 (2) = 1; 0.51 hides
    # window 3 (wrong): 3 - 1 = 2; 0.56 hides window 2 (right): 1; 0.61 hides window 1: 2 - 0 = 2, not
    # more than 0.51's; 0.71 hides window 4: 1. So 0.51.
    y = np.array([0, 1, 0, 0, 1])
    assert kiosk_threshold(PROBS, y) == 0.51
    # every top label right: any threshold only hides right labels, so 0.00 is truly best
    assert kiosk_threshold(PROBS, np.array([0, 0, 0, 2, 1])) == 0.0
    # make window 3 (0.5 on class 2) a wrong answer among signs only and window 4's truth class 0:
    # 0.00: right 0, 2 (2) - wrong 1, 3, 4 (3) = -1; 0.51: right 0, 2 - wrong 1, 4 = 0; 0.56: 1 - 2;
    # 0.61: 1 - 1 = 0; 0.71: 1 - 0 = 1 -> 0.71
    y = np.array([0, 1, 0, 0, 0])
    assert kiosk_threshold(PROBS, y) == 0.71


def test_no_threshold_hides_enough_false_labels_then_the_cap():
    probs = np.array([[0.05, 0.95, 0.0], [0.9, 0.1, 0.0]])
    assert kiosk_threshold(probs, np.array([2, 0]), no_sign=2, cap=0.9) == 0.9
    assert kiosk_threshold(np.zeros((0, 3)), np.zeros(0, int)) == 0.0
