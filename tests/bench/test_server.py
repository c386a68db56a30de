"""The load generator of ``signstream bench server`` counts what it sends, over keep-alive and after closes."""

from __future__ import annotations

import itertools
import json
import multiprocessing as mp
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from bench import server as bench_server
from bench.server import Start, _client_proc, run_load, wait_all_workers
from shared.app.processes import free_port


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
    assert r["connections_per_worker"] == []  # a server without /ready names no worker (501 here)
    assert 0 < r["p50_ms"] <= r["p99_ms"] <= r["p999_ms"] <= r["max_ms"]
    assert 0 < r["client_cpu_ms_per_request"] < 1000 * 1.5 * 3 / r["requests"] * 2  # measured, and plausible


class _SlowHandler(BaseHTTPRequestHandler):
    """Answers after 20 ms and notes when each connection's requests arrived."""

    protocol_version = "HTTP/1.1"
    arrivals: ClassVar[dict[int, list[float]]] = {}

    def do_POST(self) -> None:
        self.arrivals.setdefault(self.client_address[1], []).append(time.monotonic())
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(0.02)
        self._answer(b'{"model": {"version": "1"}}')

    def do_GET(self) -> None:  # like our /ready: names the worker holding the connection
        self._answer(b'{"status": "ready", "worker": 4242}')

    def _answer(self, data: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


def test_run_load_starts_and_stops_every_client_together():
    # Starting a client process can take seconds on a loaded machine; the clients must still all run
    # over the same interval, or an "8-client" run is partly a run with fewer clients.
    _SlowHandler.arrivals.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(6)]  # a loaded machine
    try:
        r = run_load(f"http://127.0.0.1:{server.server_address[1]}/predict", b"{}", "application/json", 8, 1.0)
    finally:
        for b in busy:
            b.kill()
            b.wait()
        server.shutdown()
        server.server_close()
    firsts = [a[0] for a in _SlowHandler.arrivals.values()]
    lasts = [a[-1] for a in _SlowHandler.arrivals.values()]
    assert len(_SlowHandler.arrivals) == 8  # one keep-alive connection per client
    assert max(firsts) - min(firsts) < 0.1  # all start at the line, not as each process comes up
    assert max(lasts) - min(lasts) < 0.15 and max(lasts) - min(firsts) < 1.1  # and stop at one end time
    assert r["ok"] == sum(map(len, _SlowHandler.arrivals.values()))
    assert r["connections_per_worker"] == [8]  # each client asked /ready which worker holds its connection


def test_run_load_counts_a_refused_connection_as_an_error():
    r = run_load(f"http://127.0.0.1:{free_port()}/predict", b"{}", "application/json", clients=2, duration=0.3)
    assert r["requests"] > 0 and r["ok"] == 0 and set(r["statuses"]) == {"-1"}
    assert r["error_kinds"] == {"ConnectionRefusedError [ECONNREFUSED] connecting on a new connection": r["errors"]}
    assert len(r["failures_at_s"]) == min(100, r["errors"]) and r["failures_at_s"][0][2] is None


def test_the_bench_waits_for_every_worker_not_only_the_first():
    # /ready answering once is not enough: load started while the second worker boots all goes to the first.
    _SlowHandler.arrivals.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)  # one "worker": every /ready names 4242
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        wait_all_workers(port, 1, timeout=5)
        t0 = time.monotonic()
        with pytest.raises(RuntimeError, match="only 1 of 2 server workers"):
            wait_all_workers(port, 2, timeout=1)
        assert time.monotonic() - t0 < 5
    finally:
        server.shutdown()
        server.server_close()


class _ShortKeepAliveHandler(_SlowHandler):
    """Closes a connection idle for 0.5 s, as gunicorn does after its keepalive (5 s in signstream)."""

    timeout = 0.5


def test_clients_waiting_at_the_start_line_keep_their_connection_alive(monkeypatch):
    # Starting 16 client processes beside other jobs took up to 17 s; connections opened first sat idle
    # past the server's keep-alive timeout, were closed, and their first request failed (11 of 15,706
    # beside 3 CPU hogs). While waiting, a client keeps its connection alive instead.
    monkeypatch.setattr(bench_server, "GATE_PING_S", 0.2)  # the client runs in this process here
    _SlowHandler.arrivals.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ShortKeepAliveHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ctx = mp.get_context("spawn")
    start, out = Start(ctx), ctx.Queue()
    url = f"http://127.0.0.1:{server.server_address[1]}/predict"
    client = threading.Thread(target=_client_proc, args=(url, b"{}", "application/json", 2, start, out, None))
    try:
        client.start()
        for _ in range(2):
            start.ready.get(timeout=10)
        time.sleep(2.0)  # four keep-alive timeouts at the line
        start.end.value = time.monotonic() + 0.5
        start.go.set()
        runs = out.get(timeout=20)
        client.join(10)
    finally:
        server.shutdown()
        server.server_close()
    assert [run.failures for run in runs] == [[], []]
    assert [run.reopened for run in runs] == [0, 0]  # the same connection throughout, never closed as idle
    assert len(_SlowHandler.arrivals) == 2 and all(len(run.results) > 3 for run in runs)
