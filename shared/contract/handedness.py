"""Which hand goes in which slot, and mirroring.

Slot 0 holds the hand MediaPipe Holistic calls left (as in the datasets); slot 1 its right.
The HandLandmarker labels handedness as if the image were mirrored; ``slot_for`` maps its
label to our slot. The evidence for the rule is in docs/handedness.md.
"""

from __future__ import annotations

import numpy as np

from shared.contract.spec import COORDS, HANDS, LANDMARKS

HAND_DIM = LANDMARKS * COORDS

# HandLandmarker category name -> slot, measured on the MSL clips (docs/handedness.md): the
# HandLandmarker and Holistic label hands the same way on the same frames.
LANDMARKER_SLOT = {"Left": 0, "Right": 1}


def slot_for(category_name: str) -> int:
    """Slot for a HandLandmarker handedness label ("Left" or "Right") on the frame it was detected in."""
    try:
        return LANDMARKER_SLOT[category_name]
    except KeyError as err:
        raise ValueError(f"unknown handedness label {category_name!r}") from err


def mirror(frames: np.ndarray) -> np.ndarray:
    """Mirror landmark frames left-right: flip x (x -> 1 - x) and swap the two hand slots.

    Args:
        frames: (..., 126) raw frames; a missing hand (all zeros) stays all zeros.
    Returns:
        A new array of the same shape and dtype.
    """
    arr = np.asarray(frames)
    hands = arr.reshape(*arr.shape[:-1], HANDS, LANDMARKS, COORDS).copy()
    present = np.any(hands != 0, axis=(-2, -1), keepdims=True)
    hands[..., 0] = np.where(present[..., 0], 1.0 - hands[..., 0], 0.0)
    hands = hands[..., ::-1, :, :]
    return np.ascontiguousarray(hands).reshape(arr.shape).astype(arr.dtype, copy=False)
