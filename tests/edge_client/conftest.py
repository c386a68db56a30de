"""Fakes and fixtures for the edge client's tests: a frame source, a landmarker, a local model, a server.

The fake server is a real HTTP server on 127.0.0.1 (the client's HTTP code runs for real); its
behaviour is switched per test: answer, fail with a status, be slow, or be down.
"""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from edge_client.answering import LOCAL, Answer
from edge_client.frames import Frame, Image
from shared.contract.spec import RAW_DIM

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "edge_client"  # git-ignored


def hand(value: float = 0.5) -> np.ndarray:
    """A (126,) frame with one hand present."""
    lm = np.zeros(RAW_DIM, np.float32)
    lm[63:] = value
    return lm


def frames_from(pattern: str, fps: float = 15.0, truth: str = "sign") -> list[Frame]:
    """'h' = a frame with a hand, '.' = none."""
    return [
        Frame(i, i / fps, hand() if c == "h" else np.zeros(RAW_DIM, np.float32), truth if c == "h" else None)
        for i, c in enumerate(pattern)
    ]


class FakeFrameSource:
    """Yields given frames (or pictures); ``live`` as asked; optional delay per frame and a gate to hold it."""

    def __init__(self, items, live: bool = False, delay: float = 0.0, forever: bool = False) -> None:
        self.items, self.live, self.delay, self.forever = list(items), live, delay, forever
        self.closed = False

    def frames(self, stop: threading.Event):
        i = 0
        while not stop.is_set():
            if i >= len(self.items):
                if not self.forever:
                    return
                i = 0
            if self.delay and stop.wait(self.delay):
                return
            yield self.items[i]
            i += 1

    def close(self) -> None:
        self.closed = True


class FakeLandmarker:
    """Turns a picture into landmarks: a hand when the picture's first pixel is non-zero; optionally slow."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls = 0
        self.timestamps: list[int] = []

    def detect(self, rgb: np.ndarray, timestamp_ms: int) -> np.ndarray:
        self.calls += 1
        self.timestamps.append(timestamp_ms)
        if self.delay:
            time.sleep(self.delay)
        return hand() if rgb[0, 0, 0] else np.zeros(RAW_DIM, np.float32)


def pictures(pattern: str, fps: float = 15.0) -> list[Image]:
    """Tiny pictures: 'h' = one the FakeLandmarker sees a hand in."""
    return [Image(i, i / fps, np.full((4, 4, 3), 255 if c == "h" else 0, np.uint8)) for i, c in enumerate(pattern)]


class FakeLocalModel:
    """Stands in for LocalModel: always answers ``label`` locally."""

    def __init__(self, label: str = "local-sign", version: str = "L1", confidence: float = 0.9) -> None:
        from types import SimpleNamespace

        self.label, self.version, self.confidence = label, version, confidence
        self.manifest = SimpleNamespace(name="fake", version=version, enrolled=[], labels=[label])  # no signs taught
        self.calls = 0

    def predict(self, window: np.ndarray) -> Answer:
        self.calls += 1
        return Answer(self.label, self.confidence, False, 0.5, "fake", self.version, LOCAL)


class FakeSlot:
    def __init__(self, model=None) -> None:
        self.current = model


class FakeServer:
    """A /predict server on 127.0.0.1 whose behaviour a test sets: mode "ok" | "status" | "slow"."""

    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        self.mode = "ok"
        self.status = 503
        self.delay = 0.0
        self.fail_first = 0  # in mode "ok": answer with ``status`` to this many requests first
        self.label = "cloud-sign"
        self.confidence = 0.9
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):  # /models
                self._send(200, {"name": "fake", "version": "C1", "labels": [fake.label, "other"],
                                 "threshold": 0.5, "spec": {}})  # fmt: skip

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fake.requests.append({"path": self.path, "headers": dict(self.headers), "size": len(body),
                                      "time": time.monotonic()})  # fmt: skip
                if fake.mode == "slow":
                    time.sleep(fake.delay)
                if fake.mode == "status" or len(fake.requests) <= fake.fail_first:
                    self._send(fake.status, {"error": "nope", "reason": "test"}, {"Retry-After": "0"})
                    return
                self._send(200, {
                    "label": fake.label, "index": 0, "confidence": fake.confidence,
                    "top_k": [{"label": fake.label, "confidence": fake.confidence}],
                    "below_threshold": fake.confidence < 0.5, "model": {"name": "fake", "version": "C1"},
                    "threshold": 0.5, "server_time": time.time(),
                })  # fmt: skip

            def _send(self, status, payload, headers=None):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        scheme = "http"
        if tls is not None:  # (certificate, key) PEM files
            import ssl

            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(tls[0]), str(tls[1]))
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_server():
    server = FakeServer()
    yield server
    server.close()


@pytest.fixture
def down_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (a stopped server)."""
    from shared.app.processes import free_port

    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def clean_env(monkeypatch):
    """No SIGNSTREAM_EDGE_* variables from the caller's environment leak into settings."""
    for key in list(os.environ):
        if key.startswith("SIGNSTREAM_EDGE_"):
            monkeypatch.delenv(key)
