"""Hand landmarks from frames: MediaPipe's HandLandmarker (Tasks API) in VIDEO mode, or the same models on LiteRT.

Frames in, (126,) vectors out in the shared layout: slot 0 the hand Holistic calls left, slot 1 the
right, zeros for a missing hand. Handedness goes through shared.contract.handedness.slot_for. The backend is
MediaPipe's library where the CPU can run it and ``shared.hands.litert`` (LiteRT) elsewhere, a
Raspberry Pi 4 among them (``shared.hands.cpu``).
"""

from __future__ import annotations

import numpy as np

from shared.app.native_notices import import_quietly, native_notices_dropped
from shared.contract.handedness import HAND_DIM, mirror, slot_for
from shared.contract.spec import RAW_DIM
from shared.hands.cpu import choose_backend
from shared.hands.litert import LiteRTHandLandmarker
from shared.hands.task import ensure_task_file


def slot_vector(hands: list[tuple[float, str, np.ndarray]]) -> np.ndarray:
    """(126,) float32 from (handedness score, handedness label, (21, 3) landmarks) per hand.

    Each hand goes to the slot its label names; the best scored wins a contested slot and the other
    takes the free one; a third hand is dropped.
    """
    out = np.zeros(RAW_DIM, np.float32)
    filled = [False, False]
    for _, label, points in sorted(hands, key=lambda h: -h[0]):
        slot = slot_for(label)
        if filled[slot]:
            slot = 1 - slot
            if filled[slot]:
                continue
        out[slot * HAND_DIM : (slot + 1) * HAND_DIM] = np.asarray(points, np.float32).reshape(-1)
        filled[slot] = True
    return out


class HandLandmarks:
    """One hand landmarker in VIDEO mode; timestamps must increase (monotonic).

    ``backend``: ``auto`` (MediaPipe where its library runs on this CPU, else LiteRT), ``mediapipe``
    or ``litert``; the chosen one is ``self.backend``.
    """

    def __init__(
        self, variant: str = "full", mirrored: bool = False, min_detection: float = 0.5,
        min_presence: float = 0.5, min_tracking: float = 0.5, backend: str = "auto",
    ) -> None:  # fmt: skip
        self.backend = choose_backend(backend)
        task = ensure_task_file(variant)
        if self.backend == "litert":
            self._landmarker = LiteRTHandLandmarker(task, 2, min_detection, min_presence, min_tracking)
        else:
            import_quietly("mediapipe.tasks.python.vision")  # it imports TensorFlow when that is installed
            from mediapipe.tasks.python.core.base_options import BaseOptions
            from mediapipe.tasks.python.vision import HandLandmarker, HandLandmarkerOptions, RunningMode

            opts = HandLandmarkerOptions(
                base_options=BaseOptions(model_asset_path=str(task)),
                running_mode=RunningMode.VIDEO,
                num_hands=2,
                min_hand_detection_confidence=min_detection,
                min_hand_presence_confidence=min_presence,
                min_tracking_confidence=min_tracking,
            )
            with native_notices_dropped():
                self._landmarker = HandLandmarker.create_from_options(opts)
        self.mirrored = mirrored
        self._last_ts = -1
        # MediaPipe's graph prints its last start-up notice when it meets its first hand
        self._quiet = self.backend == "mediapipe"

    def detect(self, rgb: np.ndarray, timestamp_ms: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB frame -> (126,) float32 landmarks in the shared slot layout.

        With ``mirrored`` the frame is taken to be flipped left-right (a selfie preview) and the
        landmarks are mirrored back to the camera's view.
        """
        ts = max(int(timestamp_ms), self._last_ts + 1)  # VIDEO mode rejects non-increasing stamps
        self._last_ts = ts
        if self.backend == "litert":
            found = self._landmarker.detect(np.ascontiguousarray(rgb))
            hands = [(h.handedness_score, h.handedness, h.landmarks) for h in found]
        else:
            import mediapipe as mp

            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
            if self._quiet:
                with native_notices_dropped():
                    result = self._landmarker.detect_for_video(image, ts)
                self._quiet = not result.hand_landmarks
            else:
                result = self._landmarker.detect_for_video(image, ts)
            hands = [
                (cats[0].score, cats[0].category_name, [(p.x, p.y, p.z) for p in hand])
                for hand, cats in zip(result.hand_landmarks, result.handedness, strict=True)
            ]
        out = slot_vector(hands)
        # A frame flipped before detection (selfie view) gives the mirror image of the scene:
        # mirror back, so the model always sees the camera's own view.
        return mirror(out) if self.mirrored else out

    def close(self) -> None:
        """Stop the landmarker's graph now (left to its finaliser at interpreter exit, MediaPipe fails noisily)."""
        self._landmarker.close()

    def __enter__(self) -> HandLandmarks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
