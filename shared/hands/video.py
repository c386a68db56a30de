"""Frames of a video file, as training's extraction and the kiosk's file source read them."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def shrink(bgr: np.ndarray, max_side: int | None) -> np.ndarray:
    import cv2

    if max_side and max(bgr.shape[:2]) > max_side:
        scale = max_side / max(bgr.shape[:2])
        bgr = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return bgr


def to_rgb(bgr: np.ndarray, mirror: bool) -> np.ndarray:
    import cv2

    if mirror:
        bgr = cv2.flip(bgr, 1)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def video_frames(path: str, max_side: int | None = None) -> Iterator[tuple[np.ndarray, int]]:
    """Every frame of a video file as (RGB uint8 (H, W, 3), timestamp in ms), in order.

    Args:
        path: the video file.
        max_side: shrink frames so their longer side is at most this many pixels (None: as is).
    Raises:
        OSError if the file cannot be opened as a video, or (after the frames that could be read) if
        decoding stopped well before the frame count the container declares: a file corrupted or cut
        mid-stream must not pass for a short clip.
    """
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise OSError(f"{path}: cannot open as a video")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)  # 0 or less: the container does not say
    i = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            yield to_rgb(shrink(frame, max_side), False), round(i * 1000.0 / fps)
            i += 1
    finally:
        cap.release()
    if declared > 0 and i < declared - max(2, declared // 50):  # containers may overstate by a frame or two
        raise OSError(f"{path}: only {i} of its {declared} frames could be decoded (corrupt or cut short)")
