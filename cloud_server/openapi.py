"""The OpenAPI 3.1 document of the server, generated from the pydantic models the app answers with.

Request and answer schemas come from shared.contract.protocol and cloud_server.responses; the headers, the
errors each route can give and the key schemes are written here, next to each other, and a
schemathesis run with every check (tests/cloud_server/test_schemathesis.py) holds the server to it.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from shared import __version__
from shared.contract.protocol import (
    API_KEY_HEADER,
    BINARY_CONTENT_TYPE,
    DEVICE_HEADER,
    JSON_CONTENT_TYPE,
    MAX_BATCH,
    MODEL_VERSION_HEADER,
    BatchPredictResponse,
    DevicesResponse,
    ErrorResponse,
    HealthResponse,
    ModelInfo,
    PredictRequest,
    PredictResponse,
    ReadyResponse,
    ReloadResponse,
)
from shared.contract.spec import MAX_INPUT_FRAMES, RAW_DIM, VALUE_BOUND

_REF = "#/components/schemas/{model}"
_ANSWERS = (
    PredictResponse,
    BatchPredictResponse,
    ErrorResponse,
    HealthResponse,
    ReadyResponse,
    ModelInfo,
    ReloadResponse,
    DevicesResponse,
)
BINARY_DESCRIPTION = (
    "The binary form, little-endian (docs/protocol.md): a 20-byte header - magic 'SSWB', format version 1 "
    "(uint8), dtype (uint8: 1 = float16, 2 = float32), top_k (uint8, 0 = the server's default), flags (uint8, "
    f"bit 0 = answer in the batch form), N windows (uint32, 1..{MAX_BATCH}), T frames (uint32, "
    f"1..{MAX_INPUT_FRAMES}), values per frame (uint32, {RAW_DIM}) - then N*T*{RAW_DIM} values in C order, "
    f"finite and within +-{VALUE_BOUND:g}."
)
# Headers some error answers always carry.
_ERROR_HEADERS = {
    401: {"WWW-Authenticate": "Bearer"},
    429: {"Retry-After": "Seconds until the key's bucket has a token again."},
    503: {"Retry-After": "Seconds to wait before trying again."},
}
_ERROR_MEANING = {
    400: "malformed_json or invalid_request",
    401: "unauthorized: no key or an unknown key",
    403: "key_revoked, or admin_required (a client key on an admin call)",
    409: "no_reload_source: the server has no model source to reload from",
    413: "request_entity_too_large: the body is over the server's limit",
    415: "unsupported_media_type",
    429: "rate_limited: over the key's rate limit",
    503: "not_ready (no model yet) or overloaded (the model queue is full)",
}
KEYED = (401, 403, 413, 429)  # any route behind a key: the size guard, the key check, the rate limit


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {JSON_CONTENT_TYPE: {"schema": schema}}


def _errors(*codes: int) -> dict[str, Any]:
    out = {}
    for code in codes:
        answer: dict[str, Any] = {"description": _ERROR_MEANING[code], "content": _json_content(_ref("ErrorResponse"))}
        if code in _ERROR_HEADERS:
            answer["headers"] = {
                name: {"description": text, "required": True, "schema": {"type": "string"}}
                for name, text in _ERROR_HEADERS[code].items()
            }
        out[str(code)] = answer
    return out


def _ok(description: str, model: str) -> dict[str, Any]:
    return {"200": {"description": description, "content": _json_content(_ref(model))}}


def openapi_document() -> dict[str, Any]:
    """Build the document; every request and answer schema comes from a pydantic model."""
    models = [(PredictRequest, "validation")] + [(m, "serialization") for m in _ANSWERS]
    _, defs = models_json_schema(models, ref_template=_REF)
    public: list[dict] = []  # no key needed
    header_params = [
        {
            "name": DEVICE_HEADER,
            "in": "header",
            "required": False,
            "description": "Names the calling device in /devices and the logs (printable, first 128 characters).",
            "schema": {"type": "string"},
        },
        {
            "name": MODEL_VERSION_HEADER,
            "in": "header",
            "required": False,
            "description": "The version of the device's own local (fallback) model, as it reports it; "
            "listed in /devices.",
            "schema": {"type": "string"},
        },
    ]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "signstream",
            "version": __version__,
            "description": "Sign recognition from hand-landmark windows. See docs/protocol.md and docs/server.md.",
        },
        "components": {
            "schemas": defs["$defs"],
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <key>"},
                "apiKey": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER, "description": "The same key."},
            },
        },
        "security": [{"bearer": []}, {"apiKey": []}],  # either header
        "paths": {
            "/predict": {
                "post": {
                    "summary": "Classify one window, or a batch",
                    "parameters": header_params,
                    "requestBody": {
                        "required": True,
                        "description": "At most the server's MAX_BODY_BYTES (4,000,000 unless set), else 413.",
                        "content": {
                            JSON_CONTENT_TYPE: {
                                "schema": _ref("PredictRequest"),
                                "example": {"sequence": [[0.0] * 63 + [0.5] * 63] * 2, "top_k": 2},
                            },
                            BINARY_CONTENT_TYPE: {
                                "schema": {"type": "string", "format": "binary", "description": BINARY_DESCRIPTION}
                            },
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "labels (one window: PredictResponse; a batch: BatchPredictResponse)",
                            "content": _json_content(
                                {"oneOf": [_ref("PredictResponse"), _ref("BatchPredictResponse")]}
                            ),
                        },
                        **_errors(400, 415, 503, *KEYED),
                    },
                }
            },
            "/models": {
                "get": {
                    "summary": "The model being served",
                    "responses": {**_ok("the model this worker serves", "ModelInfo"), **_errors(503, *KEYED)},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics summed over the server's workers (admin key, unless public)",
                    "responses": {
                        "200": {
                            "description": "Prometheus text format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        **_errors(*KEYED),
                    },
                }
            },
            "/devices": {
                "get": {
                    "summary": "Devices seen: last request, local model version, counts (admin key)",
                    "responses": {**_ok("every device seen, newest first", "DevicesResponse"), **_errors(*KEYED)},
                }
            },
            "/admin/reload": {
                "post": {
                    "summary": "Check for a new model now, in every worker (admin key)",
                    "responses": {**_ok("the outcome in this worker", "ReloadResponse"), **_errors(409, *KEYED)},
                }
            },
            "/health": {
                "get": {
                    "summary": "Liveness",
                    "security": public,
                    "responses": {**_ok("the process answers", "HealthResponse"), **_errors(413)},
                }
            },
            "/ready": {
                "get": {
                    "summary": "Readiness: 503 until this worker's model is warm",
                    "security": public,
                    "responses": {**_ok("ready", "ReadyResponse"), **_errors(413, 503)},
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": public,
                    "responses": {
                        "200": {"description": "OpenAPI 3.1", "content": _json_content({"type": "object"})},
                        **_errors(413),
                    },
                }
            },
        },
    }
