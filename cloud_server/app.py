"""The Flask app factory: ``create_app(settings, holder=None)``; tests pass fakes."""

from __future__ import annotations

import logging
import time

import orjson
from flask import Flask, Response, g, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from cloud_server.errors import ApiError, bad_request, not_ready
from cloud_server.keys import KeyStore
from cloud_server.model_holder import ModelHolder
from cloud_server.openapi import openapi_document
from cloud_server.settings import ServerSettings
from shared.errors import ProtocolError, SpecMismatchError
from shared.protocol import (
    BINARY_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    BatchPredictResponse,
    ModelRef,
    PredictRequest,
    PredictResponse,
    Windows,
    decode_binary,
)

log = logging.getLogger(__name__)
PUBLIC_PATHS = {"/health", "/ready", "/openapi.json"}  # probes and the API description need no key


def _json(payload: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status=status, mimetype=JSON_CONTENT_TYPE, headers=headers)


def _parse_windows(body: bytes, content_type: str) -> Windows:
    mime = content_type.split(";")[0].strip().lower()
    if mime == BINARY_CONTENT_TYPE:
        return decode_binary(body)
    if mime != JSON_CONTENT_TYPE:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type must be {JSON_CONTENT_TYPE} or {BINARY_CONTENT_TYPE}",
        )
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise bad_request(f"malformed JSON: {err}", "malformed_json") from err
    if not isinstance(data, dict):
        raise bad_request("the JSON body must be an object", "malformed_json")
    try:
        req = PredictRequest.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(map(str, first["loc"])) or "body"
        raise bad_request(f"{where}: {first['msg']}", "invalid_request") from err
    return req.to_windows()


def presented_key() -> str | None:
    """The API key of this request: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return request.headers.get("X-API-Key") or None


def create_app(settings: ServerSettings, holder: ModelHolder | None = None, keys: KeyStore | None = None) -> Flask:
    """Build the app; with no ``holder`` one is made and the settings' model loaded before returning."""
    if holder is None:
        holder = ModelHolder()
        holder.load(settings.model_dir)
    if keys is None and not settings.no_auth:
        keys = KeyStore(settings.keys_file)
    app = Flask("signstream")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["signstream_holder"] = holder

    @app.before_request
    def _authenticate() -> None:
        if settings.no_auth or request.path in PUBLIC_PATHS:
            return
        status, entry = keys.check(presented_key())
        if status in ("missing", "invalid"):
            raise ApiError(401, "unauthorized", "a valid API key is required (Authorization: Bearer <key>)",
                           {"WWW-Authenticate": "Bearer"})  # fmt: skip
        if status == "revoked":
            raise ApiError(403, "key_revoked", f"the API key {entry.name!r} was revoked")
        g.key_name = entry.name
        g.admin = entry.admin

    @app.errorhandler(ApiError)
    def _api_error(err: ApiError) -> Response:
        return _json({"error": err.message, "reason": err.reason}, err.status, err.headers)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Response:
        reason = (err.name or "error").lower().replace(" ", "_")
        return _json({"error": err.description or err.name, "reason": reason}, err.code or 500)

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        log.exception("unexpected error")
        return _json({"error": "internal error", "reason": "internal"}, 500)

    @app.get("/health")
    def health() -> Response:
        return _json({"status": "ok"})

    openapi = orjson.dumps(openapi_document())

    @app.get("/openapi.json")
    def openapi_json() -> Response:
        return Response(openapi, mimetype=JSON_CONTENT_TYPE)

    @app.get("/ready")
    def ready() -> Response:
        model = holder.current
        if model is None:
            raise not_ready()
        return _json({"status": "ready", "model": model.manifest.name, "version": model.manifest.version})

    @app.get("/models")
    def models() -> Response:
        model = holder.current
        if model is None:
            raise not_ready()
        m = model.manifest
        return _json(
            {
                "name": m.name,
                "version": m.version,
                "labels": m.labels,
                "spec": m.spec.model_dump(),
                "threshold": m.threshold,
                "temperature": m.temperature,
                "loaded_at": model.loaded_at,
            }
        )

    @app.post("/predict")
    def predict() -> Response:
        model = holder.current  # one read: the whole answer comes from this version
        if model is None:
            raise not_ready()
        try:
            windows = _parse_windows(request.get_data(cache=False), request.content_type or "")
            k = windows.top_k or settings.default_top_k
            n_labels = len(model.manifest.labels)
            if windows.top_k is not None and windows.top_k > n_labels:
                raise bad_request(f"top_k must be 1..{n_labels}", "invalid_request")
            preds = model.predict(windows.windows, min(k, n_labels))
        except (ProtocolError, SpecMismatchError) as err:
            raise bad_request(str(err), "invalid_request") from err
        ref = ModelRef(name=model.manifest.name, version=model.manifest.version)
        now = time.time()
        if windows.batch:
            body = BatchPredictResponse(results=preds, model=ref, threshold=model.manifest.threshold, server_time=now)
        else:
            body = PredictResponse(
                **preds[0].model_dump(), model=ref, threshold=model.manifest.threshold, server_time=now
            )
        return Response(body.model_dump_json(), mimetype=JSON_CONTENT_TYPE)

    return app
