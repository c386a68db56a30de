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
    GET  /api/teach, POST /api/teach/<action>   teaching the kiosk a sign (display/teach.py)
    GET  /favicon.ico            the kiosk's icon (SVG)
    Socket.IO namespace /gestures, event gesture_prediction: every shown label (the bridge API's form)

Frontends written for the bridge API (``frontend_bridge``, which older kiosk pages use) work
unchanged. Each concern is a blueprint: the page and what it streams (``page.py``), the bridge API's
reads and Socket.IO (``bridge.py``), the operator's actions (``operator.py``). Who may call what (host
names, origins, the admin token, body size) is ``access.py``, for every route at once: pages from
another origin may read and POST only when listed in ``cors_origins``. Errors are JSON:
{"error": "...", "reason": "..."} with a 4xx status.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from edge_client.display.access import AccessPolicy, guard, protect
from edge_client.display.bridge import NAMESPACE, SOCKETIO_EVENT, BridgeApi, attach_socketio
from edge_client.display.contract import Control, Predictions, json_error
from edge_client.display.hub import DisplayHub
from edge_client.display.operator import OperatorActions
from edge_client.display.page import STATIC_DIR, PageViews
from edge_client.display.teach import TeachActions
from shared.app.errors import SignstreamError

if TYPE_CHECKING:
    from edge_client.display.serving import WebLimits

log = logging.getLogger(__name__)

__all__ = ["NAMESPACE", "SOCKETIO_EVENT", "WebDisplay", "create_app"]


def create_app(
    hub: DisplayHub, control: Control, *, mirrored: bool = False, preview_fps: float = 10.0,
    cors_origins: Sequence[str] = (), policy: AccessPolicy | None = None, teacher=None, teach_pin: str | None = None,
):  # fmt: skip
    """The Flask app and its SocketIO server (threading mode); events reach Socket.IO through a hub sink.

    Args:
        cors_origins: origins (as browsers send them) whose pages may use the API (when no ``policy``).
        policy: host names, origins, admin token and body limit (default: loopback names, ``cors_origins``).
        teacher: the kiosk's ``edge_client.teach.Teacher`` (None: the teach routes answer 404); ``teach_pin``
            the PIN they need besides the policy's control rule.
    """
    from flask import Flask
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
    protect(app, policy)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        return json_error(err.code or 500, err.description or err.name, err.name.lower().replace(" ", "_"))

    predictions = Predictions(control)
    app.register_blueprint(PageViews(hub, control, predictions, mirrored=mirrored, preview_fps=preview_fps).blueprint())
    app.register_blueprint(BridgeApi(hub, control, predictions).blueprint())
    app.register_blueprint(OperatorActions(control).blueprint())
    app.register_blueprint(TeachActions(teacher, teach_pin).blueprint())
    attach_socketio(socketio, hub, predictions)
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
        if not self._thread.is_alive():  # never started: shutdown() would wait forever for its loop
            self._server.server_close()
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout)
