"""Live hand landmark extraction on the real MSL clips agrees with the Holistic-made dataset, on both backends."""

import numpy as np
import pytest

from shared.hands.landmarker import HandLandmarks
from shared.hands.video import video_frames

pytestmark = pytest.mark.realdata

CLIPS = ["ambulancia", "doctor", "dolor", "hoy", "yo"]


@pytest.fixture(scope="module", params=["mediapipe", "litert"])
def extracted(sign_data, request):
    out = {}
    for sign in CLIPS:
        with HandLandmarks("full", backend=request.param) as lm:
            out[sign] = np.stack(
                [lm.detect(rgb, ts) for rgb, ts in video_frames(sign_data / "videos" / f"{sign}_001.mp4")]
            )
    return out


@pytest.fixture(scope="module")
def msl(sign_data):
    d = np.load(sign_data / "landmarks" / "msl_msl150.npz")
    return d["X"].reshape(-1, 30, 2, 21, 3), d["y"], list(d["classes"])


@pytest.mark.parametrize("sign", CLIPS)
def test_hands_found_in_most_frames(extracted, sign):
    frames = extracted[sign].reshape(len(extracted[sign]), 2, 63)
    assert np.any(frames != 0, axis=(1, 2)).mean() >= 0.8


@pytest.mark.parametrize("sign", CLIPS)
def test_slots_match_the_dataset(extracted, msl, sign):
    """Each slot is used where the dataset uses it, and sits where the dataset's hand sits."""
    X, y, classes = msl
    ours = extracted[sign].reshape(-1, 2, 21, 3)
    theirs = X[y == classes.index(sign)]
    for slot in (0, 1):
        ours_present = np.any(ours[:, slot] != 0, axis=(-1, -2))
        theirs_present = np.any(theirs[:, :, slot] != 0, axis=(-1, -2))
        if theirs_present.mean() < 0.1:  # a one-handed clip: we must not invent the other hand
            assert ours_present.mean() < 0.1, (sign, slot)
        elif ours_present.mean() > 0.3:
            x_ours = ours[ours_present, slot, 0, 0].mean()
            x_theirs = theirs[:, :, slot][theirs_present][:, 0, 0].mean()
            assert abs(x_ours - x_theirs) < 0.03, (sign, slot, x_ours, x_theirs)
