"""The kiosk page and local API, served on 127.0.0.1 by default (Flask + Flask-SocketIO, threading mode).

    GET  /                       the kiosk page (edge_client/static/)
    GET  /api/status             running, model, threshold, latest label, counters
    GET  /api/labels             the model's labels and their display names
    GET  /api/stream             server-sent events: "label" and "status"
    GET  /api/preview.mjpg       the camera picture with the hand skeleton (multipart JPEG)
    GET  /metrics                Prometheus text: the counters, breaker state, models (edge_client/metrics.py)
    POST /api/inference/start    resume answering windows
    POST /api/inference/stop     pause answering (the picture keeps running)
    Socket.IO namespace /gestures, event gesture_prediction: every shown label (the peer bridge's form)

Errors are JSON: {"error": "...", "reason": "..."} with a 4xx status.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from edge_client.display.hub import DisplayHub
from edge_client.display.overlay import encode_jpeg, preview_bgr
from shared.errors import SignstreamError

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
NAMESPACE = "/gestures"
SOCKETIO_EVENT = "gesture_prediction"


class Control(Protocol):
    """What the local API reads and changes (the edge runner)."""

    def status(self) -> dict[str, Any]: ...

    def labels(self) -> dict[str, Any]: ...

    def set_inference(self, running: bool) -> None: ...


def socketio_payload(event: dict) -> dict:
    """A label event in the form the peer's bridge emitted (label, confidence) plus our fields."""
    return {
        "label": event["label"],
        "display_name": event.get("display_name"),
        "confidence": event["confidence"],
        "answered_by": event["answered_by"],
        "model_version": event["model_version"],
        "timestamp": event.get("time", time.time()),
    }


def create_app(hub: DisplayHub, control: Control, *, mirrored: bool = False, preview_fps: float = 10.0):
    """The Flask app and its SocketIO server (threading mode); events reach Socket.IO through a hub sink."""
    from flask import Flask, Response, jsonify, request, send_from_directory
    from flask_socketio import SocketIO
    from werkzeug.exceptions import HTTPException

    app = Flask(__name__, static_folder=str(STATIC_DIR), static_url_path="/static")
    socketio = SocketIO(app, async_mode="threading", cors_allowed_origins="*", logger=False, engineio_logger=False)

    def emit(event: dict) -> None:
        if event.get("event") == "label" and event.get("label") is not None:
            socketio.emit(SOCKETIO_EVENT, socketio_payload(event), namespace=NAMESPACE)

    hub.add_sink(emit)

    @socketio.on("connect", namespace=NAMESPACE)
    def _connect(auth=None):  # a new client sees the current label at once
        if hub.latest_label and hub.latest_label.get("label") is not None:
            socketio.emit(SOCKETIO_EVENT, socketio_payload(hub.latest_label), namespace=NAMESPACE, to=request.sid)

    def error(status: int, message: str, reason: str) -> Response:
        resp = jsonify({"error": message, "reason": reason})
        resp.status_code = status
        return resp

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        return error(err.code or 500, err.description or err.name, err.name.lower().replace(" ", "_"))

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Cache-Control"] = "no-store"
        if request.method == "GET" and request.path.startswith("/api/"):
            resp.headers["Access-Control-Allow-Origin"] = "*"  # read-only: other local frontends may listen
        return resp

    @app.get("/")
    def index():
        return send_from_directory(STATIC_DIR, "kiosk.html")

    @app.get("/api/status")
    def status():
        return jsonify(control.status())

    @app.get("/api/labels")
    def labels():
        return jsonify(control.labels())

    @app.get("/metrics")
    def metrics():
        from edge_client.metrics import CONTENT_TYPE, render

        return Response(render(control.status), content_type=CONTENT_TYPE)

    def same_origin() -> bool:
        origin = request.headers.get("Origin")
        return origin is None or urlparse(origin).netloc == request.host

    @app.post("/api/inference/<action>")
    def inference(action: str):
        if action not in ("start", "stop"):
            return error(404, f"unknown action {action!r}: use start or stop", "not_found")
        if not same_origin():  # another web page in the kiosk's browser must not steer it
            return error(403, "cross-origin requests are refused", "forbidden")
        control.set_inference(action == "start")
        return jsonify(control.status())

    @app.get("/api/stream")
    def stream():
        sub = hub.subscribe()

        def events() -> Iterator[str]:
            try:
                yield "retry: 1000\n\n"
                if hub.latest_label is not None:
                    yield f"event: label\ndata: {json.dumps(hub.latest_label)}\n\n"
                yield f"event: status\ndata: {json.dumps({'event': 'status', **control.status()})}\n\n"
                while not hub.stopped.is_set():
                    ev = sub.get(timeout=0.5)
                    if ev is None:
                        yield ": keep-alive\n\n"
                        continue
                    yield f"event: {ev.get('event', 'message')}\ndata: {json.dumps(ev)}\n\n"
            finally:
                hub.unsubscribe(sub)

        return Response(events(), mimetype="text/event-stream", headers={"X-Accel-Buffering": "no"})

    @app.get("/api/preview.mjpg")
    def preview():
        def frames() -> Iterator[bytes]:
            seen = -1
            period = 1.0 / preview_fps
            while not hub.stopped.is_set():
                if hub.frame is not None and hub.frame_seq != seen:
                    seen = hub.frame_seq
                    image, frame = hub.frame
                    jpeg = encode_jpeg(preview_bgr(image.rgb if image else None, frame.landmarks,
                                                   mirrored and image is not None))  # fmt: skip
                    yield b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: " + str(len(jpeg)).encode()
                    yield b"\r\n\r\n" + jpeg + b"\r\n"
                time.sleep(period)

        return Response(frames(), mimetype="multipart/x-mixed-replace; boundary=frame")

    return app, socketio


class WebDisplay:
    """Serves the app with Werkzeug's threaded server in a background thread; ``stop`` shuts it down."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 8080) -> None:
        from werkzeug.serving import make_server

        # Bind here rather than in Werkzeug, which prints and calls sys.exit on a taken port.
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(128)
        except OSError as err:  # port taken, address not on this machine
            sock.close()
            raise SignstreamError(f"cannot serve the kiosk page on {host}:{port}: {err.strerror or err}") from err
        try:
            self._server = make_server(host, port, app, threaded=True, fd=sock.fileno())
        finally:
            sock.close()  # Werkzeug keeps its own duplicate of the socket
        self._server.daemon_threads = True
        self.host, self.port = host, self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="web", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread.start()
        log.info("kiosk page at %s", self.url)

    def stop(self, timeout: float = 3.0) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout)
