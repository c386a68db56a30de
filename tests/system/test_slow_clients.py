"""Slow and idle clients against `signstream serve` (2 workers): normal /predict answers stay fast (issue 17).

256 connections trickle their headers one line a second and 256 declare a 100 kB body and send it
one byte a second (each closed one is replaced while the test runs), beside 512 idle connections,
while 4 keep-alive clients post windows. Until issue 17, 8 such connections made `/health` time out.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

from bench.load_client import Connection, encode_request
from cloud_server.settings import ServerSettings
from shared.app.processes import free_port, start_server, stop_server, wait_ready
from tests.slow_clients import BODY, HEADERS, IDLE, Prober, SlowClients, raise_fd_limit

pytestmark = pytest.mark.slow
SLOW, FLOOD, CLIENTS = 256, 512, 4
SLACK_S = 2.0  # the server's sweep (0.1 s) and a busy machine


def _poster(port: int, seed: int, conns: list[Connection]):
    window = np.random.default_rng(seed).uniform(0.2, 0.8, (30, 126)).round(4)
    request = encode_request("POST", "/predict", f"127.0.0.1:{port}", {"Content-Type": "application/json"},
                             json.dumps({"sequence": window.tolist()}).encode())  # fmt: skip
    conn = Connection("127.0.0.1", port, timeout=10)
    conns.append(conn)
    return lambda: conn.exchange(request)[0] == 200


def test_slow_and_idle_clients_do_not_slow_predict_and_are_closed_in_time(tiny_bundle):
    raise_fd_limit(4096)
    defaults = ServerSettings.model_fields
    header_s, body_s = defaults["header_timeout"].default, defaults["body_timeout"].default
    port = free_port()
    proc = start_server(tiny_bundle, port, workers=2, env=os.environ.copy())
    slow = probers = None
    conns: list[Connection] = []
    try:
        wait_ready(f"http://127.0.0.1:{port}/ready", proc)
        slow = SlowClients(port)
        probers = [Prober(_poster(port, i, conns), pause=0.01) for i in range(CLIENTS)]
        time.sleep(3.0)
        start = before = time.monotonic()
        slow.open(IDLE, FLOOD)
        slow.open(HEADERS, SLOW)
        slow.open(BODY, SLOW)
        opened = time.monotonic() - start
        # hold 256 slow-header connections open until the slow bodies are closed (after body_s)
        deadline = time.monotonic() + body_s + 3 * SLACK_S
        while slow.open_count(BODY) and time.monotonic() < deadline:
            slow.open(HEADERS, SLOW - slow.open_count(HEADERS))
            time.sleep(0.25)
        end = time.monotonic()
        time.sleep(SLACK_S)  # the last wave of slow headers, not counted below
        for p in probers:
            p.stop()
        base_ms = np.concatenate([p.between(before - 3.0, before)[0] for p in probers])
        ms = np.concatenate([p.between(start, end)[0] for p in probers])
        failed = sum(p.between(start, end)[1] for p in probers)
        p50, p99 = np.percentile(ms, [50, 99])
        print(f"opened {FLOOD} idle + {2 * SLOW} slow connections in {opened:.1f} s; before: {len(base_ms)} "
              f"answers, p99 {np.percentile(base_ms, 99):.1f} ms; during {end - start:.1f} s: {len(ms)} answers, "
              f"{failed} failed, p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {ms.max():.1f} ms")  # fmt: skip
        assert failed == 0 and len(ms) > 100
        assert p99 < 200
        closed = {kind: slow.lifetimes(kind) for kind in (HEADERS, BODY, IDLE)}
        for kind, bound in ((HEADERS, header_s), (BODY, body_s), (IDLE, header_s)):
            life = closed[kind]
            assert len(life), f"no {kind} connection was closed by the server"
            print(f"{kind}: {len(life)} closed by the server after {life.min():.2f}-{life.max():.2f} s (bound {bound})")
            assert life.max() < bound + SLACK_S
        assert len(closed[BODY]) == SLOW and len(closed[IDLE]) == FLOOD and len(closed[HEADERS]) >= SLOW
        answers = [c.answer for c in slow.conns if c.kind != IDLE and c.closed is not None]
        assert all(a.startswith(b"HTTP/1.1 408") for a in answers), {a[:40] for a in answers}
        assert proc.poll() is None
    finally:
        if probers:
            for p in probers:
                p.stop()
        if slow:
            slow.close()
        for conn in conns:
            conn.close()
        stop_server(proc)
