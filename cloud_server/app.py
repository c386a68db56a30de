"""The Flask app factory: ``create_app(settings, holder, keys, ...)``; tests pass fakes.

Here is what every request meets: the size guard (413 even while the client still sends), the key
check (401/403), the per-key rate limit (429); errors rendered as one JSON answer; every request
counted in the metrics, the device table (accepted keys only) and one structured log line (never the
key itself). The routes are Blueprints per concern: ``routes/predict.py`` (parse and validate, the micro-batched model
stage, 503 + Retry-After when full) and ``routes/operations.py`` (probes, model, metrics, devices,
reloads).
"""

from __future__ import annotations

import json
import logging
import time

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from cloud_server import auth
from cloud_server.collaborators import default_collaborators
from cloud_server.devices import clean_device_id
from cloud_server.errors import ApiError
from cloud_server.keys import KeyStore
from cloud_server.model_holder import ModelHolder
from cloud_server.request_body import DRAIN_LIMIT, drain
from cloud_server.responses import json_response
from cloud_server.routes.operations import operations_blueprint
from cloud_server.routes.predict import predict_blueprint
from cloud_server.settings import ServerSettings
from shared.app.errors import SignstreamError
from shared.contract.protocol import DEVICE_HEADER, MODEL_VERSION_HEADER

log = logging.getLogger(__name__)
access_log = logging.getLogger("signstream.access")


def create_app(
    settings: ServerSettings,
    holder: ModelHolder | None = None,
    keys: KeyStore | None = None,
    **collaborators,
) -> Flask:
    """Build the app. Pass fakes as keyword collaborators (batcher, metrics, devices, limiter, watcher)."""
    c = default_collaborators(settings, holder, keys=keys, **collaborators)
    holder = c.holder
    app = Flask("signstream")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["signstream"] = c

    @app.before_request
    def _guard() -> None:
        g.t0 = time.perf_counter()
        length = request.content_length
        if length is not None and length > settings.max_body_bytes:
            drain(min(length, DRAIN_LIMIT))
            limit = settings.max_body_bytes
            message = f"the body is {length} bytes; the limit is {limit}"
            raise ApiError(413, "request_entity_too_large", message, {"Connection": "close"})
        try:
            caller = auth.admit(settings, c.keys, c.limiter, c.metrics)
        except auth.KeyRefused as refused:
            g.key_name = refused.key_name  # named in the log even when refused
            raise
        g.key_name, g.admin, g.accepted = caller.key_name, caller.admin, caller.accepted

    @app.after_request
    def _account(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        status = response.status_code
        elapsed = time.perf_counter() - g.get("t0", time.perf_counter())
        c.metrics.requests.labels(endpoint, str(status)).inc()
        if status >= 400:
            c.metrics.errors.labels(g.get("reason", "http_error")).inc()
        if endpoint == "/predict":
            c.metrics.latency.observe(elapsed)
            if g.get("accepted"):  # the device table is written only by callers with a valid key
                device = clean_device_id(request.headers.get(DEVICE_HEADER))
                c.devices.record(device, status, request.headers.get(MODEL_VERSION_HEADER), g.get("key_name"))
        if settings.log_requests and endpoint not in ("/health", "/ready", "/metrics"):
            access_log.info(json.dumps({
                "method": request.method, "path": request.path[:200], "status": status,
                "ms": round(elapsed * 1000, 2), "device": clean_device_id(request.headers.get(DEVICE_HEADER)),
                "key": g.get("key_name"), "label": g.get("label"), "model_version": g.get("model_version"),
                "windows": g.get("n_windows"), "reason": g.get("reason"),
            }))  # fmt: skip
        return response

    @app.errorhandler(SignstreamError)
    def _signstream_error(err: SignstreamError) -> Response:
        """Every typed error, answered with the status and reason it carries."""
        g.reason = err.reason
        if err.reason == "internal":  # a fault of ours: logged with its trace, not shown
            log.error("error in %s %s", request.method, request.path[:200], exc_info=err)
            return json_response({"error": "internal error", "reason": "internal"}, 500)
        return json_response({"error": str(err), "reason": err.reason}, err.http_status, err.headers)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Response:
        reason = (err.name or "error").lower().replace(" ", "_")
        g.reason = reason
        # werkzeug's own headers (a 405's Allow, RFC 9110), all but the HTML body's content type
        headers = {k: v for k, v in err.get_headers() if k.lower() != "content-type"}
        if err.code == 413:  # a body without Content-Length that grew past the limit
            drain(DRAIN_LIMIT)
            headers["Connection"] = "close"
        return json_response({"error": err.description or err.name, "reason": reason}, err.code or 500, headers)

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        log.exception("unexpected error")
        g.reason = "internal"
        return json_response({"error": "internal error", "reason": "internal"}, 500)

    app.register_blueprint(operations_blueprint(settings, c))
    app.register_blueprint(predict_blueprint(settings, c))
    return app
