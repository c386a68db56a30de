"""The operator's teach actions (``edge_client.teach.Teacher`` over HTTP, blueprint ``teach``).

    GET  /api/teach                the draft (examples, agreement, resemblance) and the taught signs
    POST /api/teach/start          {"name": "doctor", "examples": 5, "session": "ana"}: a new draft
    POST /api/teach/record         the first window with a hand of frames taken from now on becomes the next
                                   example (waits up to 10 s)
    POST /api/teach/more           {"name": "doctor", "session": "ben"}: a draft of more examples of a taught
                                   sign (another person's); "use" enrols it from everyone's
    POST /api/teach/drop           {"index": 2}: forget an example to record it again
    POST /api/teach/cancel         forget the draft
    POST /api/teach/use            enrol the draft: a new local version, answered at once
    POST /api/teach/rename         {"name": "doctor", "new_name": "médico"}
    POST /api/teach/remove         {"name": "doctor"}: a new version without it (its examples are kept)

The POSTs are control actions (``access.py``: the admin token, or loopback without one) and, when the
kiosk has a ``teach_pin``, need it as ``X-Teach-Pin``. Refusals are JSON with a 4xx: 400 bad input or
a sign that looks like a known one (the message names it and how close), 401 a wrong PIN, 404
teaching off, 409 a name the model has, 422 no hand.
"""

from __future__ import annotations

import hmac
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge_client.display.contract import json_error
from shared.app.errors import SignstreamError


class StartBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    examples: int = Field(5, ge=3, le=20)
    session: str | None = Field(None, max_length=64)


class MoreBody(StartBody):
    pass


class DropBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0)


class RecordBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timeout: float | None = Field(None, gt=0, le=30)


class NameBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)


class RenameBody(NameBody):
    new_name: str = Field(min_length=1, max_length=64)


class TeachActions:
    """The teach routes; ``teacher`` None answers 404 (teaching off: no ``teach_dir``)."""

    def __init__(self, teacher: Any | None, pin: str | None = None) -> None:
        self.teacher, self.pin = teacher, pin

    def blueprint(self):
        from flask import Blueprint

        bp = Blueprint("teach", __name__)
        bp.add_url_rule("/api/teach", view_func=self.show, methods=["GET"])
        bp.add_url_rule("/api/teach/<action>", view_func=self.act, methods=["POST"])
        return bp

    def show(self):
        from flask import jsonify

        if self.teacher is None:
            return json_error(404, "teaching is off on this kiosk (set SIGNSTREAM_EDGE_TEACH_DIR)", "not_found")
        return jsonify(
            {
                **self.teacher.describe(),
                "signs": self.teacher.signs(),
                "pin": self.pin is not None,
                "notice": self.teacher.notice,
            }
        )

    def act(self, action: str):
        from flask import jsonify, request

        if self.teacher is None:
            return json_error(404, "teaching is off on this kiosk (set SIGNSTREAM_EDGE_TEACH_DIR)", "not_found")
        if self.pin is not None:
            given = request.headers.get("X-Teach-Pin", "")
            if not hmac.compare_digest(given.encode(), self.pin.encode()):
                return json_error(401, "teaching needs the kiosk's PIN (X-Teach-Pin)", "unauthorized")
        body = request.get_json(force=True, silent=True)
        if body is None and request.get_data():
            return json_error(400, "the body must be a JSON object", "invalid_request")
        body = body if body is not None else {}
        if not isinstance(body, dict):
            return json_error(400, "the body must be a JSON object", "invalid_request")
        t = self.teacher
        actions = {
            "start": (StartBody, lambda b: t.start(b.name, b.examples, b.session)),
            "more": (MoreBody, lambda b: t.more(b.name, b.examples, b.session)),
            "record": (RecordBody, lambda b: t.record(b.timeout)),
            "drop": (DropBody, lambda b: t.drop(b.index)),
            "cancel": (None, lambda b: (t.cancel(), t.describe())[1]),
            "use": (None, lambda b: t.use()),
            "rename": (RenameBody, lambda b: t.rename(b.name, b.new_name)),
            "remove": (NameBody, lambda b: t.remove(b.name)),
        }
        if action not in actions:
            return json_error(404, f"unknown teach action {action!r}: use {', '.join(actions)}", "not_found")
        model, run = actions[action]
        try:
            parsed = model.model_validate(body) if model is not None else None
        except ValidationError as err:
            first = err.errors()[0]
            return json_error(400, f"{'.'.join(map(str, first['loc']))}: {first['msg']}", "invalid_request")
        try:
            return jsonify(run(parsed))
        except SignstreamError as err:
            return json_error(err.http_status if 400 <= err.http_status < 500 else 400, str(err), err.reason)
