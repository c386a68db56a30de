"""Frame sources. The replay source plays a landmark dataset as if it came from a camera."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from shared.dataset import Dataset
from shared.spec import RAW_DIM


@dataclass(frozen=True)
class Frame:
    """One frame of landmarks. ``landmarks`` is (126,) float32, zeros for a missing hand."""

    index: int
    timestamp: float
    landmarks: np.ndarray
    truth: str | None = None

    @property
    def has_hand(self) -> bool:
        return bool(np.any(self.landmarks != 0))


class ReplaySource:
    """Plays each sequence of a dataset followed by ``gap`` frames with no hand (the sign ends).

    Args:
        dataset: sequences to replay, in order (or shuffled with ``seed``).
        fps: frame rate to report in timestamps (and to pace at, with ``speed``).
        speed: 1.0 paces like a live camera, 0 replays as fast as possible.
        limit: replay at most this many sequences.
    """

    def __init__(
        self, dataset: Dataset, fps: float = 15.0, speed: float = 0.0, gap: int = 8,
        limit: int | None = None, seed: int | None = None,
    ) -> None:  # fmt: skip
        self.dataset = dataset
        self.fps = fps
        self.speed = speed
        self.gap = gap
        order = np.arange(len(dataset))
        if seed is not None:
            order = np.random.default_rng(seed).permutation(order)
        self.order = order[:limit] if limit else order

    def __iter__(self) -> Iterator[Frame]:
        empty = np.zeros(RAW_DIM, np.float32)
        i = 0
        start = time.monotonic()
        for seq in self.order:
            truth = self.dataset.classes[int(self.dataset.y[seq])]
            frames = self.dataset.X[seq, : self.dataset.length[seq]]
            for lm in [*frames, *([empty] * self.gap)]:
                ts = i / self.fps
                if self.speed > 0:
                    delay = start + ts / self.speed - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                yield Frame(i, ts, lm, truth if lm is not empty else None)
                i += 1


def video_frames(path: str, max_side: int | None = None) -> Iterator[tuple[np.ndarray, int]]:
    """Every frame of a video file as (RGB uint8 (H, W, 3), timestamp in ms), in order.

    Args:
        path: the video file.
        max_side: shrink frames so their longer side is at most this many pixels (None: as is).
    Raises:
        OSError if the file cannot be opened as a video.
    """
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise OSError(f"{path}: cannot open as a video")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    i = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if max_side and max(frame.shape[:2]) > max_side:
                scale = max_side / max(frame.shape[:2])
                frame = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), round(i * 1000.0 / fps)
            i += 1
    finally:
        cap.release()
