"""The kiosk page and what it streams: ``/``, the icon, ``/api/stream`` (server-sent events) and
``/api/preview.mjpg`` (the camera picture with the hand skeleton)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edge_client.display.contract import Control, Predictions
from edge_client.display.hub import DisplayHub, Subscription
from edge_client.display.overlay import encode_jpeg, preview_bgr
from edge_client.events import LabelEvent, StatusEvent
from shared.contract.spec import RAW_DIM

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
BLANK_EVERY_S = 1.0  # the preview's black picture, while there is none from the camera
FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" '
    'fill="#000"/><path d="M20 52V26a4 4 0 0 1 8 0v12V14a4 4 0 0 1 8 0v24V18a4 4 0 0 1 8 0v22l4-8a4 4 0 0 1 '
    '7 4l-8 16a10 10 0 0 1-9 6H28a8 8 0 0 1-8-8z" fill="#ffeb3b"/></svg>'
)


def mjpeg_part(jpeg: bytes) -> bytes:
    """One picture of a multipart/x-mixed-replace stream (boundary ``frame``)."""
    return b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n" % (len(jpeg), jpeg)


class PageViews:
    """The page's routes (blueprint ``page``).

    Args:
        mirrored: the preview is shown flipped (selfie view).
        preview_fps: preview pictures per second at most.
    """

    def __init__(self, hub: DisplayHub, control: Control, predictions: Predictions, *, mirrored: bool = False,
                 preview_fps: float = 10.0) -> None:  # fmt: skip
        self.hub, self.control, self.predictions = hub, control, predictions
        self.mirrored, self.preview_fps = mirrored, preview_fps

    def blueprint(self):
        from flask import Blueprint

        bp = Blueprint("page", __name__)
        bp.add_url_rule("/", view_func=self.index)
        bp.add_url_rule("/favicon.ico", view_func=self.favicon)
        bp.add_url_rule("/api/stream", view_func=self.stream)
        bp.add_url_rule("/api/preview.mjpg", view_func=self.preview)
        return bp

    def index(self):
        from flask import send_from_directory

        return send_from_directory(STATIC_DIR, "kiosk.html")

    def favicon(self):
        from flask import Response

        return Response(FAVICON, content_type="image/svg+xml")

    def _label_events(self, ev: LabelEvent) -> Iterator[str]:
        """Ours (named "label", blanks too), then the bridge's unnamed one for EventSource.onmessage."""
        yield f"event: label\ndata: {json.dumps(ev.as_dict())}\n\n"
        if ev.label is not None:
            yield f"data: {json.dumps(self.predictions.of(ev))}\n\n"

    def _events(self, sub: Subscription) -> Iterator[str]:
        """The label shown now, the recent labels (named "history", newest first: a reloaded or
        reconnected page lists them again), the status, then every event as it comes."""
        hub = self.hub
        try:
            yield "retry: 1000\n\n"
            if sub.latest_label is not None:
                yield from self._label_events(sub.latest_label)
            yield f"event: history\ndata: {json.dumps([ev.as_dict() for ev in sub.history])}\n\n"
            yield f"event: status\ndata: {json.dumps(StatusEvent(self.control.status()).as_dict())}\n\n"
            while not hub.stopped.is_set():
                ev = sub.get(timeout=0.5)
                if ev is None:
                    yield ": keep-alive\n\n"
                elif isinstance(ev, LabelEvent):
                    yield from self._label_events(ev)
                else:
                    yield f"event: {ev.kind}\ndata: {json.dumps(ev.as_dict())}\n\n"
        finally:
            hub.unsubscribe(sub)

    def stream(self):
        from flask import Response

        return Response(self._events(self.hub.subscribe()), mimetype="text/event-stream",
                        headers={"X-Accel-Buffering": "no"})  # fmt: skip

    def _frames(self) -> Iterator[bytes]:
        hub = self.hub
        seen, blank, blank_at = -1, b"", -BLANK_EVERY_S
        period = 1.0 / self.preview_fps
        while not hub.stopped.is_set():
            if hub.frame is not None and hub.frame_seq != seen:
                seen = hub.frame_seq
                image, frame = hub.frame
                yield mjpeg_part(encode_jpeg(preview_bgr(image.rgb if image else None, frame.landmarks,
                                                         self.mirrored and image is not None)))  # fmt: skip
            elif hub.frame is None and time.monotonic() - blank_at >= BLANK_EVERY_S:
                # No picture yet (or no camera): a black one now and then. A browser takes a part as
                # whole only when the next one starts, and the page loads only once it has.
                blank = blank or mjpeg_part(encode_jpeg(preview_bgr(None, np.zeros(RAW_DIM, np.float32), False)))
                blank_at = time.monotonic()
                yield blank
            time.sleep(period)

    def preview(self):
        from flask import Response

        return Response(self._frames(), mimetype="multipart/x-mixed-replace; boundary=frame")
