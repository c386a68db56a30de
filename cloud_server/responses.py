"""JSON answers, each rendered through its model in the contract (``shared/contract/protocol.py``).

The OpenAPI document takes its schemas from the same models, and the kiosk parses the server's
answers with them, so none of the three can drift apart.
"""

from __future__ import annotations

import orjson
from flask import Response
from pydantic import BaseModel

from shared.contract.protocol import JSON_CONTENT_TYPE


def json_response(payload: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status=status, mimetype=JSON_CONTENT_TYPE, headers=headers)


def answer(body: BaseModel) -> Response:
    """A 200 JSON answer rendered from its documented model."""
    return Response(body.model_dump_json(), mimetype=JSON_CONTENT_TYPE)
