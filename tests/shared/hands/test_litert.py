"""The pieces of the LiteRT hand landmarker, against values worked out by hand."""

import math

import numpy as np
import pytest

from shared.hands.litert import Hand, Rect, crop, deduplicate, landmarks_rect, ssd_anchors, weighted_nms


def test_anchors_are_the_palm_detectors_2016_grid_centres():
    a = ssd_anchors()
    assert a.shape == (2016, 2)
    # stride 8: 24 x 24 cells, 2 anchors each, row by row; then stride 16: 12 x 12 cells, 6 anchors each
    np.testing.assert_allclose(a[0], a[1])
    np.testing.assert_allclose(a[0], [0.5 / 24, 0.5 / 24])
    np.testing.assert_allclose(a[2], [1.5 / 24, 0.5 / 24])
    np.testing.assert_allclose(a[24 * 24 * 2], [0.5 / 12, 0.5 / 12])
    np.testing.assert_allclose(a[-1], [11.5 / 12, 11.5 / 12])


def test_weighted_nms_averages_an_overlapping_group_by_score_and_keeps_the_top_score():
    boxes = np.array([[0.0, 0.0, 1.0, 1.0], [0.1, 0.0, 1.1, 1.0], [3.0, 3.0, 4.0, 4.0]])
    kps = np.array([[[0.0, 0.0]], [[1.0, 1.0]], [[5.0, 5.0]]])
    scores = np.array([0.9, 0.6, 0.7])
    out = weighted_nms(boxes, kps, scores)
    assert [round(s, 3) for _, _, s in out] == [0.9, 0.7]
    np.testing.assert_allclose(out[0][0], [0.06 / 1.5, 0.0, 1.56 / 1.5, 1.0])  # (0.9 * 0 + 0.6 * 0.1) / 1.5
    np.testing.assert_allclose(out[0][1], [[0.4, 0.4]])  # 0.6 / 1.5
    np.testing.assert_allclose(out[1][0], boxes[2])


def _hand(points: np.ndarray) -> Hand:
    return Hand(np.c_[points, np.zeros(21)].astype(np.float32), "Left", 0.9, 0.9)


def test_a_hand_seen_twice_is_kept_once_and_two_hands_both():
    rng = np.random.default_rng(0)
    one = rng.uniform(0.3, 0.4, (21, 2))
    near = one + 0.001
    other = one + 0.3
    kept = deduplicate([_hand(one), _hand(near), _hand(other)], 640, 480)
    assert len(kept) == 2
    np.testing.assert_allclose(kept[1].landmarks[:, :2], other, atol=1e-6)


def test_the_rect_of_an_upright_hand_is_square_twice_its_size_and_shifted_up():
    # An upright hand (wrist below the finger bases) on a square image: rotation 0.
    pts = np.full((21, 2), 0.5)
    pts[0] = (0.5, 0.6)  # wrist
    for i, x in zip((5, 9, 13, 17), (0.45, 0.5, 0.55, 0.6), strict=True):
        pts[i] = (x, 0.5)
    pts[[1, 2, 3]] = [(0.42, 0.58), (0.4, 0.55), (0.4, 0.52)]
    pts[[6, 10, 14, 18]] = [(0.45, 0.45), (0.5, 0.45), (0.55, 0.45), (0.6, 0.45)]
    r = landmarks_rect(np.c_[pts, np.zeros(21)], 100, 100)
    assert r.rotation == pytest.approx(0.0, abs=1e-6)
    # box of the steady landmarks: x 0.4..0.6, y 0.45..0.6 -> long side 0.2, doubled; shifted up by 0.1 * 0.15
    assert (r.w, r.h) == (pytest.approx(0.4), pytest.approx(0.4))
    assert (r.x, r.y) == (pytest.approx(0.5), pytest.approx(0.525 - 0.015))


def test_crop_of_a_rotated_rect_turns_the_image_and_zero_fills_outside():
    img = np.zeros((40, 40, 3), np.uint8)
    img[:, 20:] = 255  # right half white
    upright = crop(img, Rect(0.5, 0.5, 1.0, 1.0, 0.0), 8)
    assert upright[:, :3].max() == 0 and upright[:, 5:].min() == 1.0
    # A quarter turn: the white half goes to the top. Corners map to the output's pixel edges, as in
    # MediaPipe's OpenCV converter, so the first row samples half a pixel outside the frame (zeros).
    turned = crop(img, Rect(0.5, 0.5, 1.0, 1.0, math.pi / 2), 8)
    assert turned[1:5].min() == 1.0 and turned[5:].max() == 0.0
    outside = crop(img, Rect(0.5, 0.5, 2.0, 2.0, 0.0), 8)  # twice the frame: a zero border
    assert outside[0, 0].max() == 0 and outside[-1, -1].max() == 0
