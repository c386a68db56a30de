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

from cloud_server.collaborators import default_collaborators
from cloud_server.devices import clean_device_id
from cloud_server.errors import ApiError
from cloud_server.keys import KeyStore
from cloud_server.limits import retry_after
from cloud_server.model_holder import ModelHolder
from cloud_server.request_body import DRAIN_LIMIT, drain
from cloud_server.responses import json_response
from cloud_server.routes.operations import operations_blueprint
from cloud_server.routes.predict import predict_blueprint
from cloud_server.settings import ServerSettings
from shared.protocol import API_KEY_HEADER, DEVICE_HEADER, MODEL_VERSION_HEADER

log = logging.getLogger(__name__)
access_log = logging.getLogger("signstream.access")
PUBLIC_PATHS = {"/health", "/ready", "/openapi.json"}  # probes and the API description need no key
KEY_HEADER = API_KEY_HEADER
BEARER_FORM = "Authorization: Bearer <key>"


def presented_key() -> str | None:
    """The API key of this request: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return request.headers.get(KEY_HEADER) or None


def create_app(
    settings: ServerSettings,
    holder: ModelHolder | None = None,
    keys: KeyStore | None = None,
    **collaborators,
) -> Flask:
    """Build the app. Pass fakes as keyword collaborators (runner, metrics, devices, limiter, watcher)."""
    c = default_collaborators(settings, holder, keys=keys, **collaborators)
    holder = c.holder
    app = Flask("signstream")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["signstream"] = c
    app.extensions["signstream_holder"] = holder

    @app.before_request
    def _guard() -> None:
        g.t0 = time.perf_counter()
        length = request.content_length
        if length is not None and length > settings.max_body_bytes:
            drain(min(length, DRAIN_LIMIT))
            limit = settings.max_body_bytes
            message = f"the body is {length} bytes; the limit is {limit}"
            raise ApiError(413, "request_entity_too_large", message, {"Connection": "close"})
        if settings.no_auth:
            g.accepted = True
            return
        if request.path in PUBLIC_PATHS or request.method == "OPTIONS":  # a preflight or Allow query carries no key
            return
        if request.path == "/metrics" and settings.metrics_public:
            return
        status, entry = c.keys.check(presented_key())
        if status in ("missing", "invalid"):  # say which header to add: a client without one is the usual case
            what = "missing API key" if status == "missing" else "unknown API key"
            raise ApiError(401, "unauthorized", f"{what}: send it in the {KEY_HEADER} header (or {BEARER_FORM})",
                           {"WWW-Authenticate": "Bearer"})  # fmt: skip
        g.key_name = entry.name  # named in the log and the device table even when refused below
        if status == "revoked":
            raise ApiError(403, "key_revoked", f"the API key {entry.name!r} was revoked")
        g.admin, g.accepted = entry.admin, True
        wait = c.limiter.check(entry.name)
        if wait is not None:
            c.metrics.rate_limited.labels(entry.name).inc()
            raise ApiError(429, "rate_limited", f"too many requests for key {entry.name!r}",
                           {"Retry-After": retry_after(wait)})  # fmt: skip

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

    @app.errorhandler(ApiError)
    def _api_error(err: ApiError) -> Response:
        g.reason = err.reason
        return json_response({"error": err.message, "reason": err.reason}, err.status, err.headers)

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
