"""The Flask app factory: ``create_app(settings, holder, keys, ...)``; tests pass fakes.

Request path: size guard (413 even while the client still sends) -> key check (401/403) -> per-key
rate limit (429) -> parse and validate (4xx) -> the model stage (micro-batched; a full queue sheds
with 503 + Retry-After) -> one JSON answer naming the model version. Every request is counted in
the metrics, the device table and one structured log line (never the key itself).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass

import orjson
from flask import Flask, Response, g, request
from pydantic import BaseModel
from werkzeug.exceptions import HTTPException

from cloud_server.batching import Batcher, DirectRunner, NotReady, Overloaded
from cloud_server.devices import DeviceTracker, clean_device_id
from cloud_server.errors import ApiError, bad_request, not_ready
from cloud_server.keys import KeyStore
from cloud_server.limits import RateLimiter, retry_after
from cloud_server.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from cloud_server.metrics import Metrics
from cloud_server.model_holder import ModelHolder
from cloud_server.openapi import openapi_document
from cloud_server.reloader import ModelWatcher
from cloud_server.request_body import windows_from_body
from cloud_server.responses import DevicesResponse, HealthResponse, ModelInfo, ReadyResponse, ReloadResponse
from cloud_server.settings import ServerSettings
from shared.errors import ProtocolError, SpecMismatchError
from shared.protocol import (
    API_KEY_HEADER,
    DEVICE_HEADER,
    JSON_CONTENT_TYPE,
    MODEL_VERSION_HEADER,
    BatchPredictResponse,
    ModelRef,
    PredictResponse,
)

log = logging.getLogger(__name__)
access_log = logging.getLogger("signstream.access")
PUBLIC_PATHS = {"/health", "/ready", "/openapi.json"}  # probes and the API description need no key
DRAIN_LIMIT = 64 * 1024 * 1024  # read and discard up to this much of a too-large body so the client sees the 413


def _json(payload: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status=status, mimetype=JSON_CONTENT_TYPE, headers=headers)


def _answer(body: BaseModel) -> Response:
    """A 200 JSON answer rendered from its documented model."""
    return Response(body.model_dump_json(), mimetype=JSON_CONTENT_TYPE)


KEY_HEADER = API_KEY_HEADER
BEARER_FORM = "Authorization: Bearer <key>"


def presented_key() -> str | None:
    """The API key of this request: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return request.headers.get(KEY_HEADER) or None


@dataclass
class Collaborators:
    """What the app needs besides settings; ``create_app`` makes any that are not given."""

    holder: ModelHolder
    keys: KeyStore | None
    runner: Batcher | DirectRunner
    metrics: Metrics
    devices: DeviceTracker
    limiter: RateLimiter
    watcher: ModelWatcher | None = None


def default_collaborators(settings: ServerSettings, holder: ModelHolder | None = None, **given) -> Collaborators:
    """Real collaborators for ``settings``.

    ``holder``, if not given, loads ``settings.model_dir`` and reports to the metrics. A given holder
    reports to whatever it was built with; the model it already serves is shown in the metrics.
    """
    metrics = given.get("metrics") or Metrics()
    if holder is None:
        holder = ModelHolder(on_loaded=metrics.model_loaded, on_failed=metrics.model_failed)
        holder.load(settings.model_dir)
    elif holder.current is not None:
        metrics.serving(holder.current.manifest.name, holder.current.manifest.version, None)
    keys = given.get("keys")
    if keys is None and not settings.no_auth:
        keys = KeyStore(settings.keys_file)
    runner = given.get("runner")
    if runner is None:
        observe = metrics.batch_size.observe
        runner = (
            Batcher(holder, settings.max_batch, settings.batch_window_ms / 1000, settings.max_queue,
                    settings.timeout / 2, observe)
            if settings.batching
            else DirectRunner(holder, settings.max_queue, observe)
        )  # fmt: skip
    devices = given.get("devices") or DeviceTracker(settings.runtime_dir)
    limiter = given.get("limiter") or RateLimiter(settings.rate_limit / settings.workers, settings.rate_burst)
    return Collaborators(holder, keys, runner, metrics, devices, limiter, given.get("watcher"))


def _drain(limit: int) -> None:
    """Read and discard the rest of the request body (up to ``limit``), so an early 413 reaches the client."""
    stream = request.environ.get("wsgi.input")
    if stream is None:
        return
    left = limit
    try:
        while left > 0:
            chunk = stream.read(min(65536, left))
            if not chunk:
                return
            left -= len(chunk)
    except (OSError, ValueError):
        return


def _read_body(limit: int) -> bytes:
    """The request body, at most ``limit`` bytes; 413 beyond (werkzeug would silently cut a chunked body)."""
    if request.content_length is not None:  # already checked against the limit in _guard
        return request.get_data(cache=False)
    stream = request.environ.get("wsgi.input")
    if stream is None:
        return b""
    data = stream.read(limit + 1)
    if len(data) > limit:
        _drain(DRAIN_LIMIT)
        raise ApiError(413, "request_entity_too_large", f"the body is over the limit of {limit} bytes",
                       {"Connection": "close"})  # fmt: skip
    return data


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

    def require_admin() -> None:
        if not settings.no_auth and not g.get("admin"):
            raise ApiError(403, "admin_required", "this call needs an admin key")

    @app.before_request
    def _guard() -> None:
        g.t0 = time.perf_counter()
        length = request.content_length
        if length is not None and length > settings.max_body_bytes:
            _drain(min(length, DRAIN_LIMIT))
            limit = settings.max_body_bytes
            message = f"the body is {length} bytes; the limit is {limit}"
            raise ApiError(413, "request_entity_too_large", message, {"Connection": "close"})
        if settings.no_auth or request.path in PUBLIC_PATHS:
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
        g.admin = entry.admin
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
        return _json({"error": err.message, "reason": err.reason}, err.status, err.headers)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Response:
        reason = (err.name or "error").lower().replace(" ", "_")
        g.reason = reason
        # werkzeug's own headers (a 405's Allow, RFC 9110), all but the HTML body's content type
        headers = {k: v for k, v in err.get_headers() if k.lower() != "content-type"}
        if err.code == 413:  # a body without Content-Length that grew past the limit
            _drain(DRAIN_LIMIT)
            headers["Connection"] = "close"
        return _json({"error": err.description or err.name, "reason": reason}, err.code or 500, headers)

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        log.exception("unexpected error")
        g.reason = "internal"
        return _json({"error": "internal error", "reason": "internal"}, 500)

    @app.get("/health")
    def health() -> Response:
        return _answer(HealthResponse())

    openapi = orjson.dumps(openapi_document())

    @app.get("/openapi.json")
    def openapi_json() -> Response:
        return Response(openapi, mimetype=JSON_CONTENT_TYPE)

    @app.get("/ready")
    def ready() -> Response:
        model = holder.current
        if model is None:
            raise not_ready()
        return _answer(ReadyResponse(model=model.manifest.name, version=model.manifest.version, worker=os.getpid()))

    @app.get("/models")
    def models() -> Response:
        model = holder.current
        if model is None:
            raise not_ready()
        m = model.manifest
        return _answer(
            ModelInfo(
                name=m.name,
                version=m.version,
                labels=m.labels,
                spec=m.spec,
                threshold=m.threshold,
                temperature=m.temperature,
                loaded_at=model.loaded_at,
            )
        )

    @app.get("/metrics")
    def metrics() -> Response:
        if not settings.metrics_public:
            require_admin()
        return Response(c.metrics.render(), mimetype=None, content_type=METRICS_CONTENT_TYPE)

    @app.get("/devices")
    def devices() -> Response:
        require_admin()
        return _answer(DevicesResponse.model_validate({"devices": c.devices.all_devices()}))

    @app.post("/admin/reload")
    def admin_reload() -> Response:
        require_admin()
        if c.watcher is None:
            raise ApiError(409, "no_reload_source", "this server has no model source to reload from")
        outcome = c.watcher.request_reload()
        model = holder.current
        return _answer(ReloadResponse(outcome=outcome, version=model.manifest.version if model else None))

    @app.post("/predict")
    def predict() -> Response:
        try:
            windows = windows_from_body(_read_body(settings.max_body_bytes), request.content_type or "")
            if holder.current is None:
                raise not_ready()
            # A top_k over the model's labels gets them all (predict_windows clamps): what is valid must not
            # change with a model swap, and the document cannot know how many labels the next model has.
            model, preds = c.runner.submit(windows.windows, windows.top_k or settings.default_top_k)
        except (ProtocolError, SpecMismatchError) as err:
            raise bad_request(str(err), "invalid_request") from err
        except Overloaded as err:
            c.metrics.shed.inc()
            raise ApiError(503, "overloaded", str(err), {"Retry-After": "1"}) from err
        except NotReady as err:
            raise not_ready() from err
        g.model_version, g.label, g.n_windows = model.manifest.version, preds[0].label, len(preds)
        c.metrics.windows.inc(len(preds))
        ref = ModelRef(name=model.manifest.name, version=model.manifest.version)
        now = time.time()
        if windows.batch:
            body = BatchPredictResponse(results=preds, model=ref, threshold=model.manifest.threshold, server_time=now)
        else:
            body = PredictResponse(
                **preds[0].model_dump(), model=ref, threshold=model.manifest.threshold, server_time=now
            )
        return _answer(body)

    return app
