"""The kiosk page and local API on a real server on 127.0.0.1: status, labels, start/stop, SSE, Socket.IO, preview."""

import json
import threading
import time

import numpy as np
import pytest
import requests

from edge_client.display.hub import DisplayHub
from edge_client.display.web import NAMESPACE, SOCKETIO_EVENT, WebDisplay, create_app
from edge_client.events import LabelEvent
from edge_client.frames import Frame, Image

from .conftest import hand


class FakeControl:
    def __init__(self) -> None:
        self.running = True
        self.threshold = None  # the model's own (0.6)

    def status(self):
        return {"running": self.running, "model": {"name": "m", "version": "2"}, "threshold": self.threshold or 0.6,
                "counters": {"fps": 12.5}}  # fmt: skip

    def labels(self):
        return {"labels": [{"label": "hola", "display_name": "Hello"}, {"label": "gracias", "display_name": None}]}

    def set_inference(self, running):
        self.running = running

    def config(self):
        return {"confidence_threshold": self.threshold or 0.6, "sequence_length": 30, "model_path": "/models/m"}

    def set_threshold(self, threshold):
        self.threshold = threshold


def label_event(label, by="cloud", display_name=None):
    """A shown label as the pipeline makes it (display name: the label in capitals unless given)."""
    return LabelEvent(label=label, display_name=display_name or (label.upper() if label else None), confidence=0.9,
                      answered_by=by, model_name="m", model_version="2", latency_ms=40.0, truth=None)  # fmt: skip


def serve_kiosk(cors_origins=(), control=None):
    """A hub, a control (default: a FakeControl) and the web app on a free port, started; stop with ``stop_kiosk``."""
    hub = DisplayHub()
    control = control or FakeControl()
    app, _socketio = create_app(hub, control, preview_fps=20, cors_origins=cors_origins)
    web = WebDisplay(app, "127.0.0.1", 0)
    hub.start()
    web.start()
    return hub, control, web


def stop_kiosk(hub, web):
    hub.stop()
    web.stop()


@pytest.fixture
def kiosk():
    hub, control, web = serve_kiosk()
    yield hub, control, web
    stop_kiosk(hub, web)


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
            current.setdefault("event", "message")  # unnamed: what EventSource.onmessage receives
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
        first = _sse_events(lines, 0, until="status")
        assert [e["event"] for e in first] == ["history", "status"] and first[0]["data"] == []
        hub.publish(label_event("hola"))
        events = _sse_events(lines, 0, until="label")
    labels = [e["data"] for e in events if e["event"] == "label"]
    assert labels and labels[0]["label"] == "hola" and labels[0]["answered_by"] == "cloud"
    assert hub.latest_label.label == "hola" and hub.history[0].label == "hola"


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
    assert got[0]["index"] == 1  # the label's index in the model (the peer bridge's field)


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
    assert [sub.get(0.1).label for _ in range(2)] == ["l8", "l9"] and sub.dropped == 8
    assert [h.label for h in hub.history] == ["l9", "l8", "l7", "l6", "l5"]


def test_a_taken_port_is_one_clear_error(kiosk):
    from shared.app.errors import SignstreamError

    hub, control, web = kiosk
    app, _ = create_app(hub, control)
    with pytest.raises(SignstreamError, match=f"cannot serve the kiosk page on 127.0.0.1:{web.port}"):
        WebDisplay(app, "127.0.0.1", web.port)


# --- the peer bridge's API: frontends written for frontend_bridge keep working unchanged ---


def test_bridge_gestures_config_and_status_fields(kiosk):
    hub, _control, web = kiosk
    assert requests.get(web.url + "/api/gestures", timeout=5).json() == {"0": "hola", "1": "gracias"}
    status = requests.get(web.url + "/api/status", timeout=5).json()
    assert status["running"] is True and status["model"]["version"] == "2"  # ours stay
    assert status["confidence_threshold"] == 0.6 and status["sequence_length"] == 30
    assert status["model_path"] == "/models/m" and status["gestures"] == ["hola", "gracias"]
    assert status["latest_prediction"] is None
    hub.publish(label_event("gracias"))
    hub.publish(label_event(None))  # the display went blank: the last prediction stays
    deadline = time.monotonic() + 5
    while hub.latest_label is None or hub.latest_label.label is not None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    latest = requests.get(web.url + "/api/status", timeout=5).json()["latest_prediction"]
    assert latest["label"] == "gracias" and latest["index"] == 1 and latest["confidence"] == 0.9
    assert isinstance(latest["timestamp"], float)


def test_bridge_config_sets_the_threshold_and_refuses_bad_input(kiosk):
    _hub, control, web = kiosk
    r = requests.post(web.url + "/api/config", json={"confidence_threshold": 0.75}, timeout=5)
    assert r.status_code == 200 and r.json()["confidence_threshold"] == 0.75 and control.threshold == 0.75
    r = requests.post(web.url + "/api/config", json={"confidence_threshold": 0.8, "sequence_length": 30}, timeout=5)
    assert r.status_code == 200 and control.threshold == 0.8  # a body repeating the fixed fields is fine
    assert requests.get(web.url + "/api/config", timeout=5).json()["confidence_threshold"] == 0.8
    for body, message in [
        ({"confidence_threshold": 1.5}, "confidence_threshold: Input should be less than or equal to 1"),
        ({"confidence_threshold": "high"}, "confidence_threshold: Input should be a valid number"),
        ({"sequence_length": 40}, "sequence_length is fixed by the model (30)"),
        ({"smoothing": 3}, "smoothing is not a setting of this kiosk (it takes confidence_threshold"),
        ([0.5], "the body must be a JSON object"),
    ]:
        r = requests.post(web.url + "/api/config", json=body, timeout=5)
        assert r.status_code == 400 and r.json()["reason"] == "invalid_config", body
        assert r.json()["error"].startswith(message), r.json()
    r = requests.post(web.url + "/api/config", data="{not json", timeout=5)
    assert r.status_code == 400 and r.json()["reason"] == "invalid_config"
    assert control.threshold == 0.8  # nothing bad was applied
    r = requests.post(web.url + "/api/config", json={"confidence_threshold": None}, timeout=5)
    assert r.status_code == 200 and control.threshold is None  # back to the model's own


def test_stream_sends_the_bridges_unnamed_events_beside_ours(kiosk):
    hub, _control, web = kiosk
    with requests.get(web.url + "/api/stream", stream=True, timeout=10) as resp:
        lines = resp.iter_lines(chunk_size=1, decode_unicode=True)
        _sse_events(lines, 0, until="status")  # the history (none yet) and the first status
        hub.publish(label_event(None))
        hub.publish(label_event("hola"))
        events = _sse_events(lines, 0, until="message")
    named = [e["data"]["label"] for e in events if e["event"] == "label"]
    assert named == [None, "hola"]  # ours: blanks too
    (unnamed,) = [e["data"] for e in events if e["event"] == "message"]  # the bridge's: predictions only
    assert unnamed["label"] == "hola" and unnamed["confidence"] == 0.9 and unnamed["index"] == 0
    assert isinstance(unnamed["timestamp"], float)


def test_favicon_is_served(kiosk):
    _hub, _control, web = kiosk
    r = requests.get(web.url + "/favicon.ico", timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("image/svg+xml") and "<svg" in r.text
    page = requests.get(web.url + "/", timeout=5).text
    assert 'rel="icon"' in page and 'href="/favicon.ico"' in page


FRONTEND = "http://127.0.0.1:3000"


@pytest.fixture
def cors_kiosk():
    hub, control, web = serve_kiosk(cors_origins=[FRONTEND])
    yield hub, control, web
    stop_kiosk(hub, web)


def test_listed_origins_get_preflight_and_control_unlisted_are_refused(cors_kiosk):
    _hub, control, web = cors_kiosk
    asks = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    r = requests.options(web.url + "/api/config", headers={"Origin": FRONTEND, **asks}, timeout=5)
    assert r.status_code == 204 and r.headers["Access-Control-Allow-Origin"] == FRONTEND
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    assert "content-type" in r.headers["Access-Control-Allow-Headers"].lower()
    r = requests.post(web.url + "/api/inference/stop", headers={"Origin": FRONTEND}, timeout=5)
    assert r.status_code == 200 and control.running is False and r.headers["Access-Control-Allow-Origin"] == FRONTEND
    r = requests.post(web.url + "/api/config", json={"confidence_threshold": 0.7}, headers={"Origin": FRONTEND},
                      timeout=5)  # fmt: skip
    assert r.status_code == 200 and control.threshold == 0.7
    evil = "http://evil.example"
    r = requests.options(web.url + "/api/inference/start", headers={"Origin": evil, **asks}, timeout=5)
    assert r.status_code == 403 and "Access-Control-Allow-Origin" not in r.headers
    assert "SIGNSTREAM_EDGE_CORS_ORIGINS" in r.json()["error"]
    for path, body in (("/api/inference/start", None), ("/api/config", {"confidence_threshold": 0.1})):
        r = requests.post(web.url + path, json=body, headers={"Origin": evil}, timeout=5)
        assert r.status_code == 403 and r.json()["reason"] == "forbidden"
        assert "Access-Control-Allow-Origin" not in r.headers
    assert control.running is False and control.threshold == 0.7
    r = requests.get(web.url + "/api/status", headers={"Origin": FRONTEND}, timeout=5)
    assert r.headers["Access-Control-Allow-Origin"] == FRONTEND and r.headers["Vary"] == "Origin"


def test_without_a_list_every_other_origin_is_refused(kiosk):
    _hub, control, web = kiosk
    asks = {"Origin": FRONTEND, "Access-Control-Request-Method": "POST"}
    r = requests.options(web.url + "/api/inference/stop", headers=asks, timeout=5)
    assert r.status_code == 403 and "Access-Control-Allow-Origin" not in r.headers
    r = requests.post(web.url + "/api/inference/stop", headers={"Origin": FRONTEND}, timeout=5)
    assert r.status_code == 403 and control.running is True
    same = requests.post(web.url + "/api/inference/stop", headers={"Origin": web.url}, timeout=5)
    assert same.status_code == 200 and control.running is False  # the kiosk's own page may


def test_the_runner_serves_the_bridge_fields_and_applies_its_threshold(fake_server, clean_env, tmp_path):
    """The real Control (KioskControl) behind the bridge's /api/gestures, /api/status and POST /api/config."""
    from edge_client.assembly import build_kiosk
    from edge_client.settings import load_settings
    from shared.datasets.dataset import save_dataset
    from shared.datasets.synth import generate

    replay = tmp_path / "replay.npz"
    save_dataset(replay, generate(classes=2, per_class=1, signers=1, seed=5))
    settings = load_settings(source=str(replay), server=fake_server.url, display="none", web_port=0)
    runner = build_kiosk(settings, out=lambda line: None)
    runner.web.start()
    try:
        url = runner.web.url
        assert requests.get(url + "/api/gestures", timeout=5).json() == {"0": "cloud-sign", "1": "other"}
        status = requests.get(url + "/api/status", timeout=5).json()
        assert status["confidence_threshold"] == 0.5 == status["threshold"]  # the server's model's
        assert status["model_path"] == fake_server.url + "/predict" and status["gestures"] == ["cloud-sign", "other"]
        assert status["sequence_length"] == runner.pipeline.windower.frames
        r = requests.post(url + "/api/config", json={"confidence_threshold": 0.8}, timeout=5)
        assert r.status_code == 200 and r.json()["confidence_threshold"] == 0.8
        assert runner.pipeline.smoother.threshold == 0.8 and runner.control.status()["threshold"] == 0.8
        r = requests.post(url + "/api/config", json={"confidence_threshold": None}, timeout=5)
        assert r.json()["confidence_threshold"] == 0.5 and r.json()["threshold_source"] == "model"
    finally:
        runner.web.stop()
        runner.stop.set()
        runner.pipeline.close()
        if runner.cloud is not None:
            runner.cloud.close()


def test_socketio_websockets_close_quietly_when_the_socket_is_gone():
    """The kiosk swaps Engine.IO's websocket class (no public way to choose one): this fails on a
    python-engineio whose table or websocket class is not what edge_client/display/serving.py expects."""
    import errno

    from edge_client.display.serving import quiet_websocket_close

    _app, socketio = create_app(DisplayHub(), FakeControl())
    websocket = socketio.server.eio._async["websocket"]
    assert websocket.__name__ == "QuietCloseWebSocket"

    class GoneSocket:  # what simple-websocket's reader thread left: closed under the writer
        connected = True

        def close(self):
            raise OSError(errno.EBADF, "Bad file descriptor")

    ws = websocket(lambda _ws: None, socketio.server.eio)
    ws.ws = GoneSocket()
    ws.close()  # no error: the browser has left, nothing to report
    with pytest.raises(RuntimeError, match="no websocket class where the kiosk expects it"):
        quiet_websocket_close(object())


def test_a_new_stream_starts_with_the_recent_labels(kiosk):
    """A reloaded page gets the kiosk's recent labels (newest first) before anything new."""
    hub, _control, web = kiosk
    for label in ("hola", None, "gracias"):
        hub.publish(label_event(label))
    deadline = time.monotonic() + 5
    while len(hub.history) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    with requests.get(web.url + "/api/stream", stream=True, timeout=10) as resp:
        events = _sse_events(resp.iter_lines(chunk_size=1, decode_unicode=True), 0, until="status")
    (history,) = [e["data"] for e in events if e["event"] == "history"]
    assert [(e["event"], e["label"], e["display_name"]) for e in history] == [("label", "gracias", "GRACIAS"),
                                                                              ("label", "hola", "HOLA")]  # fmt: skip


def test_a_page_server_never_started_stops_at_once_and_frees_its_port():
    app, _ = create_app(DisplayHub(), FakeControl(), preview_fps=20)
    web = WebDisplay(app, "127.0.0.1", 0)
    done = threading.Event()
    threading.Thread(target=lambda: (web.stop(), done.set()), daemon=True).start()
    assert done.wait(5), "stop() waited for a serving loop that never started"
    again = WebDisplay(app, "127.0.0.1", web.port)  # the port is free again
    again.stop()
