"""Handshape numbers: finger ratios of folded and extended fingers, mirror-free, and the palm's side."""

import numpy as np

from shared.datasets import handshape as hs
from shared.datasets.synth import hand_pose


def _sequence(flexion, mirror=False, slot=1, frames=6):
    pose = hand_pose(np.array(flexion, float), np.ones(5), 0.1, 0.0) + np.array([0.4, 0.6, 0.0])
    if mirror:
        pose[:, 0] = 1.0 - pose[:, 0]
    x = np.zeros((frames, 2, 21, 3), np.float32)
    x[:, slot] = pose
    return x.reshape(1, frames, 126)


def test_folded_fingers_read_low_and_extended_ones_high():
    point = hs.sequence_handshape(_sequence([0.8, 0.0, 1.0, 1.0, 1.0]))[0]
    assert point[1] > hs.EXTENDED_ABOVE and (point[2:] < hs.FOLDED_BELOW).all()
    assert "index extended" in hs.describe_fingers(point) and "middle folded" in hs.describe_fingers(point)


def test_ratios_ignore_the_side_and_the_slot_while_the_palm_side_flips():
    a, b = _sequence([0, 0, 1, 1, 0]), _sequence([0, 0, 1, 1, 0], mirror=True, slot=0)
    np.testing.assert_allclose(hs.sequence_handshape(a), hs.sequence_handshape(b), atol=1e-5)
    np.testing.assert_allclose(hs.summary_features(a), hs.summary_features(b), atol=1e-4)
    assert hs.palm_side(a)[0] == -hs.palm_side(_sequence([0, 0, 1, 1, 0], mirror=True))[0] != 0


def test_no_hand_reads_nan_and_a_repeated_frame_is_counted():
    empty = np.zeros((1, 6, 126), np.float32)
    assert np.isnan(hs.sequence_handshape(empty)).all() and hs.hand_share(empty)[0] == 0
    frames, distinct = hs.distinct_hand_frames(_sequence([0, 0, 0, 0, 0]))
    assert frames[0] == 6 and distinct[0] == 1
    noise = np.random.default_rng(0).normal(0, 0.002, (1, 6, 126)).astype(np.float32)
    assert hs.hand_share(noise)[0] == 0  # a few pixels of noise around one spot is no hand


def _moving(frames=30, with_hand=None):
    """(frames, 126): a hand that moves a little every frame, present in the first ``with_hand`` frames."""
    x = _sequence([0, 0, 0, 0, 0], frames=frames)[0].copy()
    rng = np.random.default_rng(0)
    x += np.where(x != 0, rng.normal(0, 1e-3, x.shape), 0).astype(np.float32)
    if with_hand is not None:
        x[with_hand:] = 0
    return x


def test_a_recording_worth_making_again_is_named_in_a_few_words():
    assert hs.recording_problem(_moving()) is None
    assert hs.recording_problem(np.zeros((30, 126), np.float32)) == "no hand in any of its 30 frames"
    assert hs.recording_problem(_moving(with_hand=3)) == "a hand in only 3 of its 30 frames"
    assert hs.recording_problem(_moving(with_hand=4)) is None  # 13% of the frames: enough
    frozen = np.repeat(_moving()[:1], 30, axis=0)
    assert hs.recording_problem(frozen) == "the hand is one picture repeated (1 distinct of 30 frames with a hand)"
    assert hs.recording_problem(_moving(frames=6)) == "only 6 frames (a sign needs at least 10)"
    assert hs.recording_problem(np.zeros((0, 126), np.float32)) == "no frames"
    # nobody signing needs no hand, but still enough frames
    assert hs.recording_problem(np.zeros((30, 126), np.float32), no_sign=True) is None
    assert (
        hs.recording_problem(np.zeros((5, 126), np.float32), no_sign=True) == "only 5 frames (a sign needs at least 10)"
    )
