"""Keep-alive connections spread evenly over gunicorn workers: the shared table, the rule, a real server."""

from __future__ import annotations

import http.client
import json
import os
import signal
import time

import numpy as np

from cloud_server.balance import STALE_S, ConnectionTable, may_accept
from shared.app.processes import free_port, start_server, stop_server, wait_ready
from tests.workers import all_workers_serve


def _wait_both_workers(base: str) -> None:
    """Until both workers serve and publish (``/ready`` answers once the first worker is up)."""
    deadline = time.monotonic() + 60
    while not all_workers_serve(base, "1"):
        assert time.monotonic() < deadline, "the second worker never came up"
        time.sleep(0.5)
    time.sleep(0.2)  # and each has looked at the table since its last probe connection closed


def test_a_worker_accepts_only_while_among_the_least_loaded():
    assert may_accept(3, np.array([], np.int64))  # alone (or every other worker silent)
    assert may_accept(3, np.array([3, 5]))
    assert not may_accept(4, np.array([3, 5]))
    assert may_accept(72, np.array([64, 80])) and not may_accept(73, np.array([64, 80]))  # a lead of 1 in 8 beyond 8


def test_the_table_is_shared_across_fork_and_ignores_silent_workers():
    table = ConnectionTable(slots=8)
    now = time.monotonic()
    child = os.fork()
    if child == 0:  # a worker: publish, then leave without running any test machinery
        table.publish(5, os.getpid(), 7, time.monotonic())
        os._exit(0)
    os.waitpid(child, 0)
    table.publish(1, os.getpid(), 2, now)
    table.publish(2, 99999, 1, now - STALE_S - 1)  # has not published for longer than STALE_S
    assert sorted(table.others(1, time.monotonic()).tolist()) == [7]
    assert sorted(table.others(3, time.monotonic()).tolist()) == [2, 7]
    table.forget(os.getpid())  # the arbiter, when a worker exits
    assert sorted(table.others(3, time.monotonic()).tolist()) == [7]


def test_sixteen_keep_alive_clients_split_evenly_over_two_workers(tiny_bundle):
    # At random the kernel splits 16 connections 8 + 8 about 1 time in 5.
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(tiny_bundle, port, workers=2)
    conns = []
    try:
        wait_ready(base + "/ready", proc)
        _wait_both_workers(base)
        held: dict[int, int] = {}
        for _ in range(16):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/ready")
            resp = conn.getresponse()
            worker = json.loads(resp.read())["worker"]
            held[worker] = held.get(worker, 0) + 1
            conns.append(conn)  # kept open: the client stays on that worker
            time.sleep(0.02)
        assert sorted(held.values()) == [8, 8]
    finally:
        for conn in conns:
            conn.close()
        stop_server(proc)


def test_a_dead_workers_row_does_not_hold_the_others_back(tiny_bundle):
    # The survivor holds more connections than the dead worker's last row said: without the arbiter
    # clearing that row it would refuse new connections until the row went stale (STALE_S).
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(tiny_bundle, port, workers=2)
    conns: dict[int, list[http.client.HTTPConnection]] = {}
    try:
        wait_ready(base + "/ready", proc)
        _wait_both_workers(base)
        for _ in range(8):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/ready")
            conns.setdefault(json.loads(conn.getresponse().read())["worker"], []).append(conn)
            time.sleep(0.02)
        (survivor, _), (victim, dropped) = sorted(conns.items(), key=lambda kv: -len(kv[1]))
        for conn in dropped[1:]:  # the victim publishes 1, the survivor holds 4
            conn.close()
        time.sleep(1.5)  # both published, and the survivor (4 > 1) stopped accepting
        os.kill(victim, signal.SIGKILL)
        time.sleep(0.3)  # the arbiter reaps it
        t0 = time.monotonic()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/ready")
        answer = json.loads(conn.getresponse().read())
        waited = time.monotonic() - t0
        conn.close()
        assert answer["worker"] == survivor and waited < 1.0, (answer, waited)
    finally:
        for conn in [c for cs in conns.values() for c in cs]:
            conn.close()
        stop_server(proc)
