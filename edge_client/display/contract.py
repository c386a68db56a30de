"""What the kiosk's web app reads and the forms it answers in: the ``Control`` it serves, the bridge
API's prediction form (``label``, ``index``, ``confidence``, ``timestamp``) and JSON errors."""

from __future__ import annotations

from typing import Any, Protocol

from edge_client.events import LabelEvent


class Control(Protocol):
    """What the local API reads and changes (the edge runner's ``KioskControl``)."""

    def status(self) -> dict[str, Any]: ...

    def labels(self) -> dict[str, Any]: ...

    def set_inference(self, running: bool) -> None: ...

    def config(self) -> dict[str, Any]: ...

    def set_threshold(self, threshold: float | None) -> None: ...


def socketio_payload(event: LabelEvent, index: int | None = None) -> dict:
    """A label event in the bridge API's form (label, confidence, timestamp, index) plus our fields.

    Used for Socket.IO's gesture_prediction, the stream's unnamed events and ``latest_prediction``.
    """
    return {
        "label": event.label,
        "index": index,
        "display_name": event.display_name,
        "confidence": event.confidence,
        "answered_by": event.answered_by,
        "model_version": event.model_version,
        "timestamp": event.time,
    }


class Predictions:
    """Label events in the bridge's form, indexed by the model's labels (read from ``control``)."""

    def __init__(self, control: Control) -> None:
        self._control = control

    def gestures(self) -> list[str]:
        """The model's labels in index order."""
        return [x["label"] for x in self._control.labels().get("labels", [])]

    def of(self, event: LabelEvent) -> dict:
        """``event`` (a shown label) in the bridge's form."""
        names = self.gestures()
        return socketio_payload(event, names.index(event.label) if event.label in names else None)


def json_error(status: int, message: str, reason: str):
    """The API's error answer: ``{"error": message, "reason": reason}`` with ``status``."""
    from flask import jsonify

    resp = jsonify({"error": message, "reason": reason})
    resp.status_code = status
    return resp
