"""The kiosk page and local API on a real server on 127.0.0.1: status, labels, start/stop, SSE, Socket.IO, preview."""

import json
import threading
import time

import numpy as np
import pytest
import requests

from edge_client.display.hub import DisplayHub
from edge_client.display.web import NAMESPACE, SOCKETIO_EVENT, WebDisplay, create_app
from edge_client.sources import Frame, Image

from .conftest import hand


class FakeControl:
    def __init__(self) -> None:
        self.running = True

    def status(self):
        return {"running": self.running, "model": {"name": "m", "version": "2"}, "threshold": 0.6,
                "counters": {"fps": 12.5}}  # fmt: skip

    def labels(self):
        return {"labels": [{"label": "hola", "display_name": "Hello"}]}

    def set_inference(self, running):
        self.running = running


def label_event(label, by="cloud"):
    return {"event": "label", "label": label, "display_name": label.upper() if label else None, "confidence": 0.9,
            "answered_by": by, "model_name": "m", "model_version": "2", "latency_ms": 40.0, "truth": None,
            "time": time.time()}  # fmt: skip


@pytest.fixture
def kiosk():
    hub = DisplayHub(status=None, status_interval=0.2)
    control = FakeControl()
    hub.status_fn = control.status
    app, _socketio = create_app(hub, control, preview_fps=20)
    web = WebDisplay(app, "127.0.0.1", 0)
    hub.start()
    web.start()
    yield hub, control, web
    hub.stop()
    web.stop()


def test_status_labels_and_page(kiosk):
    _hub, _control, web = kiosk
    assert requests.get(web.url + "/api/status", timeout=5).json()["model"]["version"] == "2"
    metrics = requests.get(web.url + "/metrics", timeout=5)
    assert metrics.status_code == 200 and metrics.headers["Content-Type"].startswith("text/plain")
    assert "signstream_edge_fps 12.5" in metrics.text and "signstream_edge_fallback_total 0.0" in metrics.text
    assert requests.get(web.url + "/api/labels", timeout=5).json()["labels"][0]["display_name"] == "Hello"
    page = requests.get(web.url + "/", timeout=5)
    assert page.status_code == 200 and 'aria-live="assertive"' in page.text and 'id="label"' in page.text
    assert requests.get(web.url + "/static/kiosk.js", timeout=5).status_code == 200


def test_inference_start_stop_and_json_errors(kiosk):
    _hub, control, web = kiosk
    r = requests.post(web.url + "/api/inference/stop", timeout=5)
    assert r.status_code == 200 and r.json()["running"] is False and control.running is False
    assert requests.post(web.url + "/api/inference/start", timeout=5).json()["running"] is True
    r = requests.post(web.url + "/api/inference/start", headers={"Origin": "http://evil.example"}, timeout=5)
    assert r.status_code == 403 and r.json()["reason"] == "forbidden" and control.running
    r = requests.post(web.url + "/api/inference/reboot", timeout=5)
    assert r.status_code == 404 and "error" in r.json()
    r = requests.get(web.url + "/api/nothing", timeout=5)
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("application/json")
    assert requests.get(web.url + "/api/inference/start", timeout=5).status_code == 405


def _sse_events(lines, want: int, until: str | None = None):
    """Parse events off the stream's lines: ``want`` of them, or (at most 100) until one of type ``until``."""
    events, current = [], {}
    for line in lines:
        if line.startswith("event: "):
            current["event"] = line[7:]
        elif line.startswith("data: "):
            current["data"] = json.loads(line[6:])
        elif line == "" and current:
            events.append(current)
            current = {}
            if (until is None and len(events) >= want) or current_is(events, until) or len(events) >= 100:
                break
    return events


def current_is(events, kind):
    return kind is not None and bool(events) and events[-1]["event"] == kind


def test_server_sent_events_carry_labels_and_status(kiosk):
    hub, _control, web = kiosk
    with requests.get(web.url + "/api/stream", stream=True, timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        lines = resp.iter_lines(chunk_size=1, decode_unicode=True)
        first = _sse_events(lines, 1)
        assert first[0]["event"] == "status"
        hub.publish(label_event("hola"))
        events = _sse_events(lines, 0, until="label")
    labels = [e["data"] for e in events if e["event"] == "label"]
    assert labels and labels[0]["label"] == "hola" and labels[0]["answered_by"] == "cloud"
    assert hub.latest_label["label"] == "hola" and hub.history[0]["label"] == "hola"


def test_socketio_gestures_namespace_gets_gesture_prediction(kiosk):
    import socketio

    hub, _control, web = kiosk
    got = []
    received = threading.Event()
    client = socketio.Client(reconnection=False)

    @client.on(SOCKETIO_EVENT, namespace=NAMESPACE)
    def on_prediction(data):
        got.append(data)
        received.set()

    client.connect(web.url, namespaces=[NAMESPACE], transports=["polling"], wait_timeout=10)
    try:
        hub.publish(label_event(None))  # a blank display is not a prediction
        hub.publish(label_event("gracias", by="local"))
        assert received.wait(10)
    finally:
        client.disconnect()
    assert [g["label"] for g in got] == ["gracias"]
    assert got[0]["answered_by"] == "local" and got[0]["confidence"] == 0.9 and got[0]["model_version"] == "2"


def test_preview_is_a_jpeg_stream_with_the_skeleton(kiosk):
    import cv2

    hub, _control, web = kiosk
    rgb = np.zeros((120, 160, 3), np.uint8)
    lm = hand(0.0)
    lm[63:].reshape(21, 3)[:, :2] = np.linspace(0.2, 0.8, 21)[:, None]  # a diagonal hand
    hub.set_frame(Image(0, 0.0, rgb), Frame(0, 0.0, lm))
    with requests.get(web.url + "/api/preview.mjpg", stream=True, timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        buf = b""
        for chunk in resp.iter_content(4096):
            buf += chunk
            if b"\xff\xd9" in buf:
                break
    jpeg = buf[buf.index(b"\xff\xd8") : buf.index(b"\xff\xd9") + 2]
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (120, 160, 3) and img.max() > 100  # lines drawn on a black picture


def test_a_slow_subscriber_loses_its_oldest_events_not_the_hub():
    hub = DisplayHub()
    sub = hub.subscribe(size=2)
    hub.start()
    for i in range(10):
        hub.publish(label_event(f"l{i}"))
    hub.stop()
    assert [sub.get(0.1)["label"] for _ in range(2)] == ["l8", "l9"] and sub.dropped == 8
    assert [h["label"] for h in hub.history] == ["l9", "l8", "l7", "l6", "l5"]


def test_a_taken_port_is_one_clear_error(kiosk):
    from shared.errors import SignstreamError

    hub, control, web = kiosk
    app, _ = create_app(hub, control)
    with pytest.raises(SignstreamError, match=f"cannot serve the kiosk page on 127.0.0.1:{web.port}"):
        WebDisplay(app, "127.0.0.1", web.port)
