"""The kiosk's control: the relay remembers the last answer and feeds the hub; status reaches subscribers only."""

from edge_client.control import AnswerRelay
from edge_client.display.hub import DisplayHub
from edge_client.events import AnswerEvent


def _answer(**fields) -> AnswerEvent:
    base = {"label": "hola", "confidence": 0.9, "confident": True, "answered_by": "local", "model_name": "m",
            "model_version": "3", "threshold": 0.4, "truth": None, "latency_ms": 12.0, "window": 0,
            "sign": 0}  # fmt: skip
    return AnswerEvent(**(base | fields))


def test_the_relay_remembers_who_answered_and_publishes_answers_only_when_asked():
    quiet_hub, loud_hub = DisplayHub(), DisplayHub()
    quiet, loud = AnswerRelay(quiet_hub), AnswerRelay(loud_hub, answers=True)
    quiet_sub, loud_sub = quiet_hub.subscribe(), loud_hub.subscribe()
    for hub in (quiet_hub, loud_hub):
        hub.start()
    try:
        quiet.on_answer(_answer())
        loud.on_answer(_answer(answered_by="cloud"))
        assert quiet.last_answer.answered_by == "local" and quiet.last_answer.threshold == 0.4
        assert loud.last_answer.answered_by == "cloud"
        assert isinstance(loud_sub.get(2), AnswerEvent)
        assert quiet_sub.get(0.5) is None
    finally:
        for hub in (quiet_hub, loud_hub):
            hub.stop()


def test_status_goes_to_subscribers_not_to_sinks():
    hub = DisplayHub()
    sunk = []
    hub.add_sink(sunk.append)
    sub = hub.subscribe()
    hub.start()
    try:
        hub.publish_status({"running": True})
        assert sub.get(2).as_dict() == {"event": "status", "running": True}
    finally:
        hub.stop()
    assert sunk == []
