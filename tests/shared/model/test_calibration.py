"""The recommended threshold: chosen for what a kiosk shows, on held-out people's windows."""

import numpy as np

from shared.model.calibration import choose_threshold, kiosk_threshold

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


def _windows(people, right_sure=14, right_unsure=6, wrong=0, idle=0, idle_conf=0.0):
    """Windows of classes hello (0), thanks (1), idle (2) for each person: right answers at 0.95 and
    0.45, a block of hello made like thanks (wrong at 0.5), idle windows shown thanks at idle_conf
    (0: without a hand). Returns probs (N, 3), y, sessions, no_hand."""
    probs, y, sessions, no_hand = [], [], [], []
    for p in people:
        rows = [([0.95, 0.03, 0.02], 0, False)] * right_sure + [([0.45, 0.3, 0.25], 0, False)] * right_unsure
        rows += [([0.3, 0.5, 0.2], 0, False)] * wrong
        rows += [([0.0, idle_conf, 1 - idle_conf], 2, False) if idle_conf else ([0.1, 0.1, 0.8], 2, True)] * idle
        for pr, label, nh in rows:
            probs.append(pr), y.append(label), sessions.append(p), no_hand.append(nh)
    return np.array(probs), np.array(y), np.array(sessions), np.array(no_hand)


def _shown_accuracy(probs, y, no_hand, threshold):
    top = probs.argmax(1)
    shown = (probs.max(1) >= threshold) & (top != 2) & ~no_hand
    sign = y != 2
    return float((shown & (top == y))[sign].mean())


def test_one_persons_mislabelled_block_does_not_raise_the_threshold_for_strangers():
    # nine people sign as strangers will; one filed 80 windows of another sign under hello, all at 0.5
    val = [np.concatenate(a) for a in zip(_windows([f"p{i}" for i in range(9)], idle=20),
                                          _windows(["odd"], wrong=80), strict=True)]  # fmt: skip
    probs, y, sessions, no_hand = val
    # pooled, hiding the 80 wrong windows at 0.51 pays for the 54 unsure right ones: the old rule rises
    assert kiosk_threshold(probs[~no_hand], y[~no_hand], no_sign=2) == 0.51
    choice = choose_threshold(probs, y, sessions, no_sign=2, no_hand=no_hand)
    assert choice.threshold == 0.0  # without the odd person (a third of the draws) the rise only hides right labels
    assert choice.people == 10 and choice.windows == len(y) and "bootstrap" in choice.rule
    strangers = _windows(["s0", "s1", "s2"], idle=10)
    s_probs, s_y, _, s_no_hand = strangers
    assert _shown_accuracy(s_probs, s_y, s_no_hand, 0.51) == 0.7
    assert _shown_accuracy(s_probs, s_y, s_no_hand, choice.threshold) == 1.0
    # each person held out in turn: the nine get everything shown, the odd one 20 of 100
    assert choice.expected["shown_accuracy"] == round(200 / 280, 4)
    assert choice.expected["shown_accuracy_p90"] == 1.0 and choice.expected["false_label_rate"] == 0.0


def test_no_sign_windows_shown_a_sign_by_most_people_set_the_floor():
    # every person's 10 idle windows with a hand show 'thanks' at 0.6: over 5% at any threshold <= 0.60
    probs, y, sessions, no_hand = _windows([f"p{i}" for i in range(8)], idle=10, idle_conf=0.6)
    choice = choose_threshold(probs, y, sessions, no_sign=2, no_hand=no_hand)
    assert choice.threshold == 0.61
    assert choice.expected["false_label_rate"] == 0.0 and choice.expected["shown_accuracy"] == 0.7
    # one person's idle windows shown a sign are enough: a stranger may be like them (10 of 80 idle
    # windows pooled, 12.5%; the margin is for the draws that hold them)
    few = [np.concatenate(a) for a in zip(_windows([f"p{i}" for i in range(7)], idle=10),
                                          _windows(["p7"], idle=10, idle_conf=0.6), strict=True)]  # fmt: skip
    assert choose_threshold(*few[:3], no_sign=2, no_hand=few[3]).threshold == 0.61


def test_without_held_out_windows_the_threshold_is_zero_and_nothing_is_expected():
    choice = choose_threshold(np.zeros((0, 3)), np.zeros(0, int), np.zeros(0, str), no_sign=2)
    assert choice.threshold == 0.0 and choice.people == 0 and choice.expected == {}
