"""The OpenCV window alternative to the kiosk page: the picture, the skeleton and the label, drawn locally.

OpenCV's HighGUI wants the main thread, so ``run`` is called from the main thread and returns when
``stop`` is set or the window is closed (Esc or q also stop).
"""

from __future__ import annotations

import threading

import numpy as np

from edge_client.display.hub import DisplayHub
from edge_client.display.overlay import preview_bgr

TITLE = "signstream"


def render(hub: DisplayHub, mirrored: bool) -> np.ndarray | None:
    """The current picture with skeleton and the shown label written on it (BGR), or None before any frame."""
    import cv2

    if hub.frame is None:
        return None
    image, frame = hub.frame
    bgr = preview_bgr(image.rgb if image else None, frame.landmarks, mirrored and image is not None).copy()
    ev = hub.latest_label
    text = (ev.display_name or ev.label) if ev is not None and ev.label else ""
    if text:
        h = bgr.shape[0]
        cv2.rectangle(bgr, (0, h - 70), (bgr.shape[1], h), (0, 0, 0), -1)
        cv2.putText(bgr, text, (12, h - 18), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (59, 235, 255), 3, cv2.LINE_AA)
        cv2.putText(bgr, ev.answered_by, (bgr.shape[1] - 110, h - 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7,
                    (255, 255, 255), 1, cv2.LINE_AA)  # fmt: skip
    return bgr


def run(hub: DisplayHub, stop: threading.Event, mirrored: bool = False, fps: float = 15.0) -> None:
    """Show the window until ``stop`` is set or the user closes it (which sets ``stop``)."""
    import cv2

    cv2.namedWindow(TITLE, cv2.WINDOW_NORMAL)
    try:
        while not stop.is_set():
            bgr = render(hub, mirrored)
            if bgr is not None:
                cv2.imshow(TITLE, bgr)
            key = cv2.waitKey(max(1, int(1000 / fps))) & 0xFF
            if key in (27, ord("q")) or cv2.getWindowProperty(TITLE, cv2.WND_PROP_VISIBLE) < 1:
                stop.set()
    finally:
        cv2.destroyWindow(TITLE)
