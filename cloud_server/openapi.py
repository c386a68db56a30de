"""The OpenAPI 3.1 document of the server, generated from the pydantic models of shared.protocol."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from shared import __version__
from shared.protocol import (
    BINARY_CONTENT_TYPE,
    BatchPredictResponse,
    ErrorResponse,
    PredictRequest,
    PredictResponse,
)

_REF = "#/components/schemas/{model}"


def openapi_document() -> dict[str, Any]:
    """Build the document; every schema comes from a pydantic model."""
    _, defs = models_json_schema(
        [(m, "validation") for m in (PredictRequest, PredictResponse, BatchPredictResponse, ErrorResponse)],
        ref_template=_REF,
    )
    schemas = defs["$defs"]

    def ref(name: str) -> dict:
        return {"$ref": _REF.format(model=name)}

    def errors(*codes: int) -> dict:
        return {str(c): {"description": "error", "content": {"application/json": {"schema": ref("ErrorResponse")}}}
                for c in codes}  # fmt: skip

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "signstream",
            "version": __version__,
            "description": "Sign recognition from hand-landmark windows. See docs/protocol.md.",
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/predict": {
                "post": {
                    "summary": "Classify one window, or a batch",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": ref("PredictRequest")},
                            BINARY_CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}},
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "labels (single: PredictResponse, batch: BatchPredictResponse)",
                            "content": {
                                "application/json": {
                                    "schema": {"oneOf": [ref("PredictResponse"), ref("BatchPredictResponse")]}
                                }
                            },
                        },
                        **errors(400, 401, 403, 413, 415, 429, 503),
                    },
                }
            },
            "/models": {
                "get": {
                    "summary": "The model being served",
                    "responses": {
                        "200": {"description": "name, version, labels, spec, threshold, loaded_at"},
                        **errors(401, 403, 503),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics summed over the server's workers (admin key)",
                    "responses": {"200": {"description": "Prometheus text format"}, **errors(401, 403)},
                }
            },
            "/devices": {
                "get": {
                    "summary": "Devices seen: last request, local model version, counts (admin key)",
                    "responses": {"200": {"description": "{'devices': [...]}"}, **errors(401, 403)},
                }
            },
            "/admin/reload": {
                "post": {
                    "summary": "Check for a new model now, in every worker (admin key)",
                    "responses": {"200": {"description": "{'outcome': ..., 'version': ...}"}, **errors(401, 403, 409)},
                }
            },
            "/health": {"get": {"summary": "Liveness", "security": [], "responses": {"200": {"description": "ok"}}}},
            "/ready": {
                "get": {
                    "summary": "Readiness: 503 until this worker's model is warm",
                    "security": [],
                    "responses": {"200": {"description": "ready"}, **errors(503)},
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": {"description": "OpenAPI 3.1"}},
                }
            },
        },
    }
