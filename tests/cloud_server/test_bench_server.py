"""The load generator of ``signstream bench server`` counts what it sends, over keep-alive and after closes."""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from cloud_server.bench_server import run_load
from shared.demo import free_port


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless the answer says otherwise
    counter = itertools.count()
    seen: ClassVar[list[int]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        n = next(self.counter)
        self.seen.append(len(body))
        status, payload = (200, {"model": {"version": "7"}}) if n % 3 else (503, {"error": "busy"})
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if n % 5 == 0:
            self.send_header("Connection", "close")  # the client must reconnect and go on
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def tiny_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_run_load_counts_every_answer_and_reconnects_after_a_close(tiny_server):
    _Handler.seen.clear()
    r = run_load(tiny_server + "/predict", b'{"sequence": []}', "application/json", clients=3, duration=1.5)
    assert r["requests"] == len(_Handler.seen) > 20  # every request sent is counted once
    assert set(_Handler.seen) == {len(b'{"sequence": []}')}
    assert r["statuses"].get("503", 0) > 0 and r["ok"] > r["statuses"]["503"]
    assert r["errors"] == r["requests"] - r["ok"] == r["statuses"]["503"]  # no transport error despite the closes
    assert r["versions"] == ["7"]
    assert r["p50_ms"] > 0 and r["p99_ms"] >= r["p50_ms"]


def test_run_load_counts_a_refused_connection_as_an_error():
    r = run_load(f"http://127.0.0.1:{free_port()}/predict", b"{}", "application/json", clients=2, duration=0.3)
    assert r["requests"] > 0 and r["ok"] == 0 and set(r["statuses"]) == {"-1"}
