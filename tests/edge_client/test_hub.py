"""The display hub carries typed events; they take their wire form (``as_dict``) only where they leave."""

import json
import time

from edge_client.display.hub import DisplayHub
from edge_client.events import AnswerEvent, LabelEvent, StatusEvent

LABEL_WIRE = (
    '{"event": "label", "label": "hola", "display_name": "Hello", "confidence": 0.9, "answered_by": "cloud", '
    '"model_name": "m", "model_version": "2", "latency_ms": 40.0, "truth": null, "time": 1700000000.5}'
)
ANSWER_WIRE = (
    '{"event": "answer", "label": "hola", "confidence": 0.9, "confident": true, "answered_by": "local", '
    '"model_name": "m", "model_version": "3", "threshold": 0.4, "truth": null, "latency_ms": 12.0, "window": 7, '
    '"sign": 1}'
)


def _label(label: str | None = "hola", at: float = 1700000000.5) -> LabelEvent:
    return LabelEvent(label, "Hello" if label else None, 0.9, "cloud", "m", "2", 40.0, None, at)


def _answer() -> AnswerEvent:
    return AnswerEvent("hola", 0.9, True, "local", "m", "3", 0.4, None, 12.0, 7, 1)


def _delivered(hub: DisplayHub, label: str) -> None:
    deadline = time.monotonic() + 2
    while hub.latest_label is None or hub.latest_label.label != label:
        assert time.monotonic() < deadline, f"the hub did not deliver {label!r}"
        time.sleep(0.005)


def test_events_keep_their_wire_form():
    """JSON lines, the page's stream and the local API print these; clients parse them."""
    assert json.dumps(_label().as_dict()) == LABEL_WIRE
    assert json.dumps(_answer().as_dict()) == ANSWER_WIRE
    assert StatusEvent({"running": True, "problem": None}).as_dict() == {"event": "status", "running": True,
                                                                          "problem": None}  # fmt: skip


def test_the_hub_hands_on_the_events_it_was_given():
    hub = DisplayHub(history=2)
    sunk = []
    hub.add_sink(sunk.append)
    sub = hub.subscribe()
    hub.start()
    label, blank, answer = _label(), _label(None), _answer()
    try:
        for ev in (label, answer, blank):
            hub.publish(ev)
        got = [sub.get(2) for _ in range(3)]
        hub.publish_status({"running": True})
        status = sub.get(2)
    finally:
        hub.stop()
    assert got[0] is label and got[1] is answer and got[2] is blank
    assert sunk == [label, answer, blank]
    assert hub.latest_label is blank and list(hub.history) == [label]  # a blank is shown, not remembered
    assert isinstance(status, StatusEvent) and status.status == {"running": True}


def test_a_new_subscriber_gets_what_is_shown_and_no_label_twice():
    hub = DisplayHub(history=3)
    hub.start()
    try:
        for word in ("uno", "dos"):
            hub.publish(_label(word))
        _delivered(hub, "dos")
        early = hub.subscribe()
        hub.publish(_label("tres"))
        assert early.get(2).label == "tres"
        _delivered(hub, "tres")
        late = hub.subscribe()
    finally:
        hub.stop()
    assert early.latest_label.label == "dos" and [e.label for e in early.history] == ["dos", "uno"]
    assert late.latest_label.label == "tres" and [e.label for e in late.history] == ["tres", "dos", "uno"]
    assert late.get(0.1) is None  # "tres" is in its history, not in its queue too
