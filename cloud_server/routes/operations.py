"""Probes, the model served, metrics, devices and reloads: every route but /predict."""

from __future__ import annotations

import os

import orjson
from flask import Blueprint, Response, g

from cloud_server.collaborators import Collaborators
from cloud_server.errors import ApiError, not_ready
from cloud_server.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from cloud_server.openapi import openapi_document
from cloud_server.responses import answer
from cloud_server.settings import ServerSettings
from shared.contract.protocol import (
    JSON_CONTENT_TYPE,
    DevicesResponse,
    HealthResponse,
    ModelInfo,
    ReadyResponse,
    ReloadResponse,
)


def require_admin(settings: ServerSettings) -> None:
    if not settings.no_auth and not g.get("admin"):
        raise ApiError(403, "admin_required", "this call needs an admin key")


def operations_blueprint(settings: ServerSettings, c: Collaborators) -> Blueprint:
    """``/health``, ``/ready``, ``/openapi.json``, ``/models``, ``/metrics``, ``/devices``, ``/admin/reload``."""
    bp = Blueprint("operations", __name__)

    @bp.get("/health")
    def health() -> Response:
        return answer(HealthResponse())

    openapi = orjson.dumps(openapi_document())

    @bp.get("/openapi.json")
    def openapi_json() -> Response:
        return Response(openapi, mimetype=JSON_CONTENT_TYPE)

    @bp.get("/ready")
    def ready() -> Response:
        model = c.holder.current
        if model is None:
            raise not_ready()
        return answer(ReadyResponse(model=model.manifest.name, version=model.manifest.version, worker=os.getpid()))

    @bp.get("/models")
    def models() -> Response:
        model = c.holder.current
        if model is None:
            raise not_ready()
        m = model.manifest
        return answer(
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

    @bp.get("/metrics")
    def metrics() -> Response:
        if not settings.metrics_public:
            require_admin(settings)
        return Response(c.metrics.render(), mimetype=None, content_type=METRICS_CONTENT_TYPE)

    @bp.get("/devices")
    def devices() -> Response:
        require_admin(settings)
        return answer(DevicesResponse.model_validate({"devices": c.devices.all_devices()}))

    @bp.post("/admin/reload")
    def admin_reload() -> Response:
        require_admin(settings)
        if c.watcher is None:
            raise ApiError(409, "no_reload_source", "this server has no model source to reload from")
        outcome = c.watcher.request_reload()
        model = c.holder.current
        return answer(ReloadResponse(outcome=outcome, version=model.manifest.version if model else None))

    return bp
