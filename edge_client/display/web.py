"""The kiosk page and local API, served on 127.0.0.1 by default (Flask + Flask-SocketIO, threading mode).

    GET  /                       the kiosk page (edge_client/static/)
    GET  /api/status             running, model, threshold, latest label, counters
    GET  /api/labels             the model's labels and their display names
    GET  /api/gestures           {"0": label, "1": ...}: the model's labels by index (the bridge API's form)
    GET  /api/config             confidence_threshold, sequence_length, model_path
    POST /api/config             change what maps onto the kiosk (confidence_threshold); answers the config
    GET  /api/stream             server-sent events: "label" and "status" (named), and every shown label
                                 as an unnamed event (the bridge's: label, confidence, timestamp, index)
    GET  /api/preview.mjpg       the camera picture with the hand skeleton (multipart JPEG)
    GET  /metrics                Prometheus text: the counters, breaker state, models (edge_client/metrics.py)
    POST /api/inference/start    resume answering windows
    POST /api/inference/stop     pause answering (the picture keeps running)
    GET  /favicon.ico            the kiosk's icon (SVG)
    Socket.IO namespace /gestures, event gesture_prediction: every shown label (the bridge API's form)

Frontends written for the bridge API (``frontend_bridge``, which older kiosk pages use) work
unchanged. Who may call what (host names, origins, the admin token, body size) is ``access.py``'s
``AccessPolicy``: pages from another origin may read and POST only when listed in ``cors_origins``.
Errors are JSON: {"error": "...", "reason": "..."} with a 4xx status.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge_client.display.access import READ_METHODS, AccessPolicy, guard
from edge_client.display.hub import DisplayHub
from edge_client.display.overlay import encode_jpeg, preview_bgr
from shared.errors import SignstreamError
from shared.spec import RAW_DIM

if TYPE_CHECKING:
    from edge_client.display.serving import WebLimits

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
NAMESPACE = "/gestures"
SOCKETIO_EVENT = "gesture_prediction"
BLANK_EVERY_S = 1.0  # the preview's black picture, while there is none from the camera


class Control(Protocol):
    """What the local API reads and changes (the edge runner)."""

    def status(self) -> dict[str, Any]: ...

    def labels(self) -> dict[str, Any]: ...

    def set_inference(self, running: bool) -> None: ...

    def config(self) -> dict[str, Any]: ...

    def set_threshold(self, threshold: float | None) -> None: ...


class ConfigUpdate(BaseModel):
    """The body of POST /api/config: the bridge API's fields that map onto the kiosk."""

    model_config = ConfigDict(extra="forbid")

    confidence_threshold: float | None = Field(None, ge=0, le=1)


# The bridge's config also names these; the model fixes them, so a body may repeat but not change them.
FIXED_BY_MODEL = ("sequence_length", "model_path")


def socketio_payload(event: dict, index: int | None = None) -> dict:
    """A label event in the bridge API's form (label, confidence, timestamp, index) plus our fields.

    Used for Socket.IO's gesture_prediction and for the stream's unnamed events.
    """
    return {
        "label": event["label"],
        "index": index,
        "display_name": event.get("display_name"),
        "confidence": event["confidence"],
        "answered_by": event["answered_by"],
        "model_version": event["model_version"],
        "timestamp": event.get("time", time.time()),
    }


FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" '
    'fill="#000"/><path d="M20 52V26a4 4 0 0 1 8 0v12V14a4 4 0 0 1 8 0v24V18a4 4 0 0 1 8 0v22l4-8a4 4 0 0 1 '
    '7 4l-8 16a10 10 0 0 1-9 6H28a8 8 0 0 1-8-8z" fill="#ffeb3b"/></svg>'
)


def create_app(
    hub: DisplayHub, control: Control, *, mirrored: bool = False, preview_fps: float = 10.0,
    cors_origins: Sequence[str] = (), policy: AccessPolicy | None = None,
):  # fmt: skip
    """The Flask app and its SocketIO server (threading mode); events reach Socket.IO through a hub sink.

    Args:
        cors_origins: origins (as browsers send them) whose pages may use the API (when no ``policy``).
        policy: host names, origins, admin token and body limit (default: loopback names, ``cors_origins``).
    """
    from flask import Flask, Response, jsonify, request, send_from_directory
    from flask_socketio import SocketIO
    from werkzeug.exceptions import HTTPException

    from edge_client.display.serving import quiet_websocket_close

    policy = policy or AccessPolicy.for_kiosk(cors_origins=cors_origins)
    app = Flask(__name__, static_folder=str(STATIC_DIR), static_url_path="/static")
    socketio = SocketIO(app, async_mode="threading", logger=False, engineio_logger=False,
                        cors_allowed_origins=lambda origin, environ: policy.origin_allowed(
                            origin, environ.get("HTTP_HOST", "")))  # fmt: skip
    quiet_websocket_close(socketio.server.eio)
    app.wsgi_app = guard(app.wsgi_app, policy)  # outermost: Socket.IO's requests pass it too

    def gestures() -> list[str]:
        return [x["label"] for x in control.labels().get("labels", [])]

    def prediction(event: dict) -> dict:
        names = gestures()
        return socketio_payload(event, names.index(event["label"]) if event["label"] in names else None)

    def emit(event: dict) -> None:
        if event.get("event") == "label" and event.get("label") is not None:
            socketio.emit(SOCKETIO_EVENT, prediction(event), namespace=NAMESPACE)

    hub.add_sink(emit)

    @socketio.on("connect", namespace=NAMESPACE)
    def _connect(auth=None):  # a new client sees the current label at once
        if hub.latest_label and hub.latest_label.get("label") is not None:
            socketio.emit(SOCKETIO_EVENT, prediction(hub.latest_label), namespace=NAMESPACE, to=request.sid)

    def error(status: int, message: str, reason: str) -> Response:
        resp = jsonify({"error": message, "reason": reason})
        resp.status_code = status
        return resp

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        return error(err.code or 500, err.description or err.name, err.name.lower().replace(" ", "_"))

    def origin() -> str | None:
        return request.headers.get("Origin")

    def refused_origin() -> Response:
        return error(403, f"cross-origin requests from {origin()} are refused: list the origin in "
                     "SIGNSTREAM_EDGE_CORS_ORIGINS to allow them", "forbidden")  # fmt: skip

    @app.before_request
    def _preflight():
        if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
            return None
        if origin() not in policy.origins:  # no CORS headers: the browser refuses the request
            return refused_origin()
        resp = Response(status=204)
        resp.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        resp.headers["Access-Control-Allow-Headers"] = request.headers.get(
            "Access-Control-Request-Headers", "Content-Type"
        )
        resp.headers["Access-Control-Max-Age"] = "600"
        if request.headers.get("Access-Control-Request-Private-Network") == "true":
            resp.headers["Access-Control-Allow-Private-Network"] = "true"  # Chromium's local-network check
        return resp

    @app.before_request
    def _control():
        """Every state-changing request: from an allowed origin, and with the token (or from loopback)."""
        if request.method in READ_METHODS:
            return None
        if not policy.origin_allowed(origin(), request.host):  # an unlisted page must not steer the kiosk
            return refused_origin()
        refusal = policy.control_refusal(request.remote_addr, request.headers.get("Authorization"))
        if refusal is not None:
            return error(refusal[0], refusal[1], "unauthorized" if refusal[0] == 401 else "forbidden")
        return None

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Cache-Control"] = "no-store"
        resp.headers["Vary"] = "Origin"
        if origin() in policy.origins:  # the one place CORS is granted: listed origins, never a wildcard
            resp.headers["Access-Control-Allow-Origin"] = origin()
        return resp

    @app.get("/")
    def index():
        return send_from_directory(STATIC_DIR, "kiosk.html")

    @app.get("/favicon.ico")
    def favicon():
        return Response(FAVICON, content_type="image/svg+xml")

    def latest_prediction() -> dict | None:
        return prediction(hub.history[0]) if hub.history else None

    @app.get("/api/status")
    def status():
        names = gestures()
        bridge = {**control.config(), "latest_prediction": latest_prediction(), "gestures": names}
        return jsonify({**control.status(), **bridge})

    @app.get("/api/labels")
    def labels():
        return jsonify(control.labels())

    @app.get("/api/gestures")
    def gestures_by_index():
        return jsonify({str(i): label for i, label in enumerate(gestures())})

    @app.get("/api/config")
    def config():
        return jsonify(control.config())

    @app.post("/api/config")
    def set_config():
        body = request.get_json(force=True, silent=True)  # whatever the Content-Type says
        if not isinstance(body, dict):
            return error(400, 'the body must be a JSON object, e.g. {"confidence_threshold": 0.7}', "invalid_config")
        current = control.config()
        for key in FIXED_BY_MODEL:
            if key in body and body.pop(key) != current[key]:
                return error(400, f"{key} is fixed by the model ({current[key]!r}) and cannot be changed here",
                             "invalid_config")  # fmt: skip
        body.pop("threshold_source", None)  # ours, as GET /api/config shows it
        try:
            update = ConfigUpdate.model_validate(body)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(map(str, first["loc"]))
            if first["type"] == "extra_forbidden":
                known = ", ".join([*ConfigUpdate.model_fields, *FIXED_BY_MODEL])
                return error(400, f"{where} is not a setting of this kiosk (it takes {known})", "invalid_config")
            return error(400, f"{where}: {first['msg']}", "invalid_config")
        if "confidence_threshold" in update.model_fields_set:
            control.set_threshold(update.confidence_threshold)
        return jsonify(control.config())

    @app.get("/metrics")
    def metrics():
        from edge_client.metrics import CONTENT_TYPE, render

        return Response(render(control.status), content_type=CONTENT_TYPE)

    @app.post("/api/inference/<action>")
    def inference(action: str):
        if action not in ("start", "stop"):
            return error(404, f"unknown action {action!r}: use start or stop", "not_found")
        control.set_inference(action == "start")
        return jsonify(control.status())

    def label_events(ev: dict) -> Iterator[str]:
        """Ours (named "label", blanks too), then the bridge's unnamed one for EventSource.onmessage."""
        yield f"event: label\ndata: {json.dumps(ev)}\n\n"
        if ev.get("label") is not None:
            yield f"data: {json.dumps(prediction(ev))}\n\n"

    @app.get("/api/stream")
    def stream():
        sub = hub.subscribe()

        def events() -> Iterator[str]:
            try:
                yield "retry: 1000\n\n"
                if hub.latest_label is not None:
                    yield from label_events(hub.latest_label)
                yield f"event: status\ndata: {json.dumps({'event': 'status', **control.status()})}\n\n"
                while not hub.stopped.is_set():
                    ev = sub.get(timeout=0.5)
                    if ev is None:
                        yield ": keep-alive\n\n"
                    elif ev.get("event") == "label":
                        yield from label_events(ev)
                    else:
                        yield f"event: {ev.get('event', 'message')}\ndata: {json.dumps(ev)}\n\n"
            finally:
                hub.unsubscribe(sub)

        return Response(events(), mimetype="text/event-stream", headers={"X-Accel-Buffering": "no"})

    @app.get("/api/preview.mjpg")
    def preview():
        def part(jpeg: bytes) -> bytes:
            return b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n" % (len(jpeg), jpeg)

        def frames() -> Iterator[bytes]:
            seen, blank, blank_at = -1, b"", -BLANK_EVERY_S
            period = 1.0 / preview_fps
            while not hub.stopped.is_set():
                if hub.frame is not None and hub.frame_seq != seen:
                    seen = hub.frame_seq
                    image, frame = hub.frame
                    yield part(encode_jpeg(preview_bgr(image.rgb if image else None, frame.landmarks,
                                                       mirrored and image is not None)))  # fmt: skip
                elif hub.frame is None and time.monotonic() - blank_at >= BLANK_EVERY_S:
                    # No picture yet (or no camera): a black one now and then. A browser takes a part
                    # as whole only when the next one starts, and the page loads only once it has.
                    blank = blank or part(encode_jpeg(preview_bgr(None, np.zeros(RAW_DIM, np.float32), False)))
                    blank_at = time.monotonic()
                    yield blank
                time.sleep(period)

        return Response(frames(), mimetype="multipart/x-mixed-replace; boundary=frame")

    return app, socketio


class WebDisplay:
    """Serves the app in a background thread (Werkzeug's threaded server, its reads bounded: serving.py).

    ``stop`` shuts it down.
    """

    def __init__(self, app, host: str = "127.0.0.1", port: int = 8080, limits: WebLimits | None = None) -> None:
        from edge_client.display.serving import GuardedWSGIServer

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
            self._server = GuardedWSGIServer(host, port, app, limits, fd=sock.fileno())
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
