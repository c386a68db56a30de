"""The bridge API's reads (what frontends written for ``frontend_bridge`` use, beside ours): status,
labels, gestures, config, ``/metrics``, and Socket.IO's ``gesture_prediction`` on ``/gestures``."""

from __future__ import annotations

from edge_client.display.contract import Control, Predictions
from edge_client.display.hub import DisplayHub
from edge_client.events import AnswerEvent, LabelEvent

NAMESPACE = "/gestures"
SOCKETIO_EVENT = "gesture_prediction"


class BridgeApi:
    """The read-only routes (blueprint ``bridge``)."""

    def __init__(self, hub: DisplayHub, control: Control, predictions: Predictions) -> None:
        self.hub, self.control, self.predictions = hub, control, predictions

    def blueprint(self):
        from flask import Blueprint

        bp = Blueprint("bridge", __name__)
        bp.add_url_rule("/api/status", view_func=self.status)
        bp.add_url_rule("/api/labels", view_func=self.labels)
        bp.add_url_rule("/api/gestures", view_func=self.gestures)
        bp.add_url_rule("/api/config", view_func=self.config, methods=["GET"])
        bp.add_url_rule("/metrics", view_func=self.metrics)
        return bp

    def status(self):
        from flask import jsonify

        latest = self.predictions.of(self.hub.history[0]) if self.hub.history else None
        bridge = {**self.control.config(), "latest_prediction": latest, "gestures": self.predictions.gestures()}
        return jsonify({**self.control.status(), **bridge})

    def labels(self):
        from flask import jsonify

        return jsonify(self.control.labels())

    def gestures(self):
        from flask import jsonify

        return jsonify({str(i): label for i, label in enumerate(self.predictions.gestures())})

    def config(self):
        from flask import jsonify

        return jsonify(self.control.config())

    def metrics(self):
        from flask import Response

        from edge_client.metrics import CONTENT_TYPE, render

        return Response(render(self.control.status), content_type=CONTENT_TYPE)


def attach_socketio(socketio, hub: DisplayHub, predictions: Predictions) -> None:
    """Every shown label to Socket.IO's ``/gestures`` clients; a new client gets the current one at once."""

    def emit(event: AnswerEvent | LabelEvent) -> None:
        if isinstance(event, LabelEvent) and event.label is not None:
            socketio.emit(SOCKETIO_EVENT, predictions.of(event), namespace=NAMESPACE)

    hub.add_sink(emit)

    def connect(auth=None) -> None:
        from flask import request

        latest = hub.latest_label
        if latest is not None and latest.label is not None:
            socketio.emit(SOCKETIO_EVENT, predictions.of(latest), namespace=NAMESPACE, to=request.sid)

    socketio.on("connect", namespace=NAMESPACE)(connect)
