"""The mirror setting agrees with the shared handedness rule on a real two-handed clip: a selfie-flipped
picture gives the same landmarks (slots included) as the camera's own view."""

import numpy as np
import pytest

from edge_client.sources import VideoFileSource
from shared.hands.landmarker import HandLandmarks

pytestmark = pytest.mark.realdata


def test_mirrored_frames_give_the_camera_views_landmarks(sign_data):
    clip = sign_data / "videos" / "doctor_001.mp4"
    plain = list(VideoFileSource(clip, max_side=640).frames())[:40]
    flipped = list(VideoFileSource(clip, max_side=640, mirror=True).frames())[:40]
    with HandLandmarks("full") as a, HandLandmarks("full", mirrored=True) as b:
        ours = np.stack([a.detect(i.rgb, round(i.timestamp * 1000)) for i in plain]).reshape(-1, 2, 21, 3)
        theirs = np.stack([b.detect(i.rgb, round(i.timestamp * 1000)) for i in flipped]).reshape(-1, 2, 21, 3)
    both = np.any(ours != 0, axis=(2, 3)).all(1) & np.any(theirs != 0, axis=(2, 3)).all(1)
    assert both.sum() >= 10  # doctor is two-handed: enough frames with both hands in both views
    xy_diff = np.abs(ours[both][..., :2] - theirs[both][..., :2])
    assert np.median(xy_diff) < 0.02  # same hand in the same slot, at the same place
    swapped = np.abs(ours[both][:, ::-1, :, :2] - theirs[both][..., :2])
    assert np.median(swapped) > 5 * np.median(xy_diff)  # and the opposite slot assignment is clearly worse
