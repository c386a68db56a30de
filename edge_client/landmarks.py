"""Hand landmarks from frames: MediaPipe's HandLandmarker (Tasks API) in VIDEO mode.

Frames in, (126,) vectors out in the shared layout: slot 0 the hand Holistic calls left, slot 1 the
right, zeros for a missing hand. Handedness goes through shared.handedness.slot_for.
"""

from __future__ import annotations

import numpy as np

from shared.hand_task import ensure_task_file
from shared.handedness import HAND_DIM, mirror, slot_for
from shared.spec import RAW_DIM


class HandLandmarks:
    """One HandLandmarker in VIDEO mode; timestamps must increase (monotonic)."""

    def __init__(
        self, variant: str = "full", mirrored: bool = False, min_detection: float = 0.5,
        min_presence: float = 0.5, min_tracking: float = 0.5,
    ) -> None:  # fmt: skip
        from mediapipe.tasks.python.core.base_options import BaseOptions
        from mediapipe.tasks.python.vision import HandLandmarker, HandLandmarkerOptions, RunningMode

        opts = HandLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(ensure_task_file(variant))),
            running_mode=RunningMode.VIDEO,
            num_hands=2,
            min_hand_detection_confidence=min_detection,
            min_hand_presence_confidence=min_presence,
            min_tracking_confidence=min_tracking,
        )
        self._landmarker = HandLandmarker.create_from_options(opts)
        self.mirrored = mirrored
        self._last_ts = -1

    def detect(self, rgb: np.ndarray, timestamp_ms: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB frame -> (126,) float32 landmarks in the shared slot layout.

        With ``mirrored`` the frame is taken to be flipped left-right (a selfie preview) and the
        landmarks are mirrored back to the camera's view.
        """
        import mediapipe as mp

        ts = max(int(timestamp_ms), self._last_ts + 1)  # VIDEO mode rejects non-increasing stamps
        self._last_ts = ts
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        result = self._landmarker.detect_for_video(image, ts)
        out = np.zeros(RAW_DIM, np.float32)
        filled = [False, False]
        scored = []
        for hand, cats in zip(result.hand_landmarks, result.handedness, strict=True):
            scored.append((cats[0].score, slot_for(cats[0].category_name), hand))
        for _, slot, hand in sorted(scored, key=lambda s: -s[0]):  # best first wins a contested slot
            if filled[slot]:
                slot = 1 - slot
                if filled[slot]:
                    continue
            out[slot * HAND_DIM : (slot + 1) * HAND_DIM] = [v for p in hand for v in (p.x, p.y, p.z)]
            filled[slot] = True
        # A frame flipped before detection (selfie view) gives the mirror image of the scene:
        # mirror back, so the model always sees the camera's own view.
        return mirror(out) if self.mirrored else out

    def close(self) -> None:
        self._landmarker.close()

    def __enter__(self) -> HandLandmarks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
