"""The operator's actions on the kiosk: ``POST /api/config`` (the threshold) and
``POST /api/inference/start|stop``. Who may call them is decided before they run (``access.py``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge_client.display.contract import Control, json_error

# The bridge's config also names these; the model fixes them, so a body may repeat but not change them.
FIXED_BY_MODEL = ("sequence_length", "model_path")


class ConfigUpdate(BaseModel):
    """The body of POST /api/config: the bridge API's fields that map onto the kiosk."""

    model_config = ConfigDict(extra="forbid")

    confidence_threshold: float | None = Field(None, ge=0, le=1)


def invalid(message: str):
    return json_error(400, message, "invalid_config")


class OperatorActions:
    """The state-changing routes (blueprint ``operator``)."""

    def __init__(self, control: Control) -> None:
        self.control = control

    def blueprint(self):
        from flask import Blueprint

        bp = Blueprint("operator", __name__)
        bp.add_url_rule("/api/config", view_func=self.set_config, methods=["POST"])
        bp.add_url_rule("/api/inference/<action>", view_func=self.inference, methods=["POST"])
        return bp

    def set_config(self):
        from flask import jsonify, request

        body = request.get_json(force=True, silent=True)  # whatever the Content-Type says
        if not isinstance(body, dict):
            return invalid('the body must be a JSON object, e.g. {"confidence_threshold": 0.7}')
        current = self.control.config()
        for key in FIXED_BY_MODEL:
            if key in body and body.pop(key) != current[key]:
                return invalid(f"{key} is fixed by the model ({current[key]!r}) and cannot be changed here")
        body.pop("threshold_source", None)  # ours, as GET /api/config shows it
        try:
            update = ConfigUpdate.model_validate(body)
        except ValidationError as err:
            return invalid(validation_message(err))
        if "confidence_threshold" in update.model_fields_set:
            self.control.set_threshold(update.confidence_threshold)
        return jsonify(self.control.config())

    def inference(self, action: str):
        from flask import jsonify

        if action not in ("start", "stop"):
            return json_error(404, f"unknown action {action!r}: use start or stop", "not_found")
        self.control.set_inference(action == "start")
        return jsonify(self.control.status())


def validation_message(err: ValidationError) -> str:
    """The first problem of a config body, in one line naming the field."""
    first = err.errors()[0]
    where = ".".join(map(str, first["loc"]))
    if first["type"] == "extra_forbidden":
        known = ", ".join([*ConfigUpdate.model_fields, *FIXED_BY_MODEL])
        return f"{where} is not a setting of this kiosk (it takes {known})"
    return f"{where}: {first['msg']}"
