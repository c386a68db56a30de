"""Drawing the hand skeleton and labels onto a picture (for the web preview and the OpenCV window)."""

from __future__ import annotations

import numpy as np

from shared.contract.handedness import mirror as mirror_landmarks
from shared.contract.spec import HANDS, LANDMARKS

# MediaPipe's 21-landmark hand topology: wrist 0, thumb 1-4, index 5-8, middle 9-12, ring 13-16, pinky 17-20.
HAND_CONNECTIONS = (
    (0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (5, 9), (9, 10), (10, 11), (11, 12),
    (9, 13), (13, 14), (14, 15), (15, 16), (13, 17), (0, 17), (17, 18), (18, 19), (19, 20),
)  # fmt: skip
SLOT_COLOURS_BGR = ((255, 200, 0), (0, 200, 255))  # slot 0 (Holistic's left) blue-ish, slot 1 orange


def draw_hands(bgr: np.ndarray, landmarks: np.ndarray, mirrored: bool = False) -> np.ndarray:
    """Draw both hands' skeletons in place on ``bgr`` (H, W, 3) uint8 and return it.

    Args:
        landmarks: (126,) raw landmarks in the camera's own view (zeros for a missing hand).
        mirrored: the picture is shown flipped (selfie view), so the landmarks are flipped to match.
    """
    import cv2

    lm = mirror_landmarks(landmarks) if mirrored else np.asarray(landmarks)
    h, w = bgr.shape[:2]
    hands = lm.reshape(HANDS, LANDMARKS, 3)
    for slot in range(HANDS):
        if not np.any(hands[slot]):
            continue
        pts = [(int(x * w), int(y * h)) for x, y, _ in hands[slot]]
        for a, b in HAND_CONNECTIONS:
            cv2.line(bgr, pts[a], pts[b], SLOT_COLOURS_BGR[slot], 2, cv2.LINE_AA)
        for p in pts:
            cv2.circle(bgr, p, 3, (255, 255, 255), -1, cv2.LINE_AA)
    return bgr


def preview_bgr(rgb: np.ndarray | None, landmarks: np.ndarray, mirrored: bool, size: tuple[int, int] = (640, 480)):
    """The preview picture: the frame (or a black canvas for a replay) with the skeleton, BGR."""
    import cv2

    bgr = np.zeros((size[1], size[0], 3), np.uint8) if rgb is None else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    return draw_hands(bgr, landmarks, mirrored)


def encode_jpeg(bgr: np.ndarray, quality: int = 70) -> bytes:
    """JPEG bytes of a BGR picture."""
    import cv2

    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()
