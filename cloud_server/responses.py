"""The server's answers other than ``/predict`` (whose models are in shared.protocol).

The app renders each answer through its model and the OpenAPI document takes its schema from the
same model, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Literal

import orjson
from flask import Response
from pydantic import BaseModel, Field

from shared.protocol import JSON_CONTENT_TYPE
from shared.spec import FeatureSpec


class HealthResponse(BaseModel):
    """``GET /health``: the process answers."""

    status: Literal["ok"] = "ok"


class ReadyResponse(BaseModel):
    """``GET /ready`` when this worker's model is loaded and warm (else 503)."""

    status: Literal["ready"] = "ready"
    model: str = Field(description="Name of the model being served.")
    version: str = Field(description="Its version.")
    worker: int = Field(description="Process id of the worker that answered.")


class ModelInfo(BaseModel):
    """``GET /models``: the model this worker serves."""

    name: str
    version: str
    labels: list[str] = Field(description="Labels by index, as answers' 'index' counts them.")
    spec: FeatureSpec = Field(description="The feature spec a request's windows are turned into features with.")
    threshold: float = Field(description="The model's recommended confidence threshold.")
    temperature: float = Field(description="Logits are divided by this before the softmax.")
    loaded_at: float = Field(description="When this worker loaded it, seconds since the epoch.")


class ReloadResponse(BaseModel):
    """``POST /admin/reload``: the outcome of the check in the worker that answered."""

    outcome: str = Field(
        description="What the check found: unchanged, updated, rejected or unreadable (a folder); unchanged, "
        "updated, store_error, bad_version, rejected or error (a registry)."
    )
    version: str | None = Field(description="The version this worker serves after the check (null: none yet).")


class DeviceEntry(BaseModel):
    """One device in ``GET /devices``, merged over the workers."""

    device: str = Field(description="X-Device-Id of its requests ('anonymous' without one).")
    last_seen: float = Field(description="Its last request, seconds since the epoch.")
    last_status: int = Field(description="HTTP status of that request.")
    local_model_version: str | None = Field(description="Last X-Model-Version it sent (null: never sent).")
    key: str | None = Field(description="Name of the API key of its last request (null: none valid).")
    requests: int
    errors: int = Field(description="Requests answered with a 4xx or 5xx.")


class DevicesResponse(BaseModel):
    """``GET /devices``: every device seen, newest first."""

    devices: list[DeviceEntry]


def json_response(payload: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status=status, mimetype=JSON_CONTENT_TYPE, headers=headers)


def answer(body: BaseModel) -> Response:
    """A 200 JSON answer rendered from its documented model."""
    return Response(body.model_dump_json(), mimetype=JSON_CONTENT_TYPE)
