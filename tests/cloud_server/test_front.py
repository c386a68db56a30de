"""The request reader in the worker's loop (cloud_server/front.py), against `signstream serve` on 127.0.0.1.

Short bounds (headers 1 s, body 2 s, 16 connections a worker) so each case takes about a second.
"""

import contextlib
import json
import os
import socket
import time

import numpy as np
import pytest

from shared.processes import free_port, start_server, stop_server, wait_ready
from tests.slow_clients import raise_fd_limit

pytestmark = pytest.mark.slow
HEADER_S, BODY_S, CAP = 1.0, 2.0, 16


@pytest.fixture(scope="module")
def port(tiny_bundle):
    raise_fd_limit(1024)
    port = free_port()
    env = {**os.environ, "SIGNSTREAM_SERVER_HEADER_TIMEOUT": str(HEADER_S),
           "SIGNSTREAM_SERVER_BODY_TIMEOUT": str(BODY_S), "SIGNSTREAM_SERVER_MAX_CONNECTIONS": str(CAP),
           "SIGNSTREAM_SERVER_LOG_REQUESTS": "false"}  # fmt: skip
    proc = start_server(tiny_bundle, port, workers=2, env=env)
    try:
        wait_ready(f"http://127.0.0.1:{port}/ready", proc)
        time.sleep(2.0)  # the second worker too
        yield port
    finally:
        stop_server(proc)


def window_json() -> bytes:
    return json.dumps({"sequence": np.full((30, 126), 0.5).round(3).tolist()}).encode()


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_all(s: socket.socket, timeout: float = 10.0) -> bytes:
    """Everything until the server closes (or ``timeout``)."""
    s.settimeout(timeout)
    data = b""
    try:
        while chunk := s.recv(65536):
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return data


def read_answers(s: socket.socket, n: int) -> list[tuple[int, bytes]]:
    """``n`` answers (status, body) with Content-Length from a keep-alive connection."""
    s.settimeout(10)
    buf, out = b"", []
    while len(out) < n:
        while b"\r\n\r\n" not in buf:
            buf += s.recv(65536)
        head, _, buf = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        fields = dict(line.lower().split(":", 1) for line in lines[1:])
        length = int(fields["content-length"])
        while len(buf) < length:
            buf += s.recv(65536)
        out.append((int(lines[0].split()[1]), buf[:length]))
        buf = buf[length:]
    return out


def test_pipelined_requests_are_answered_in_order(port):
    with connect(port) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /ready HTTP/1.1\r\nHost: x\r\n\r\n")
        (a, body_a), (b, body_b) = read_answers(s, 2)
        assert (a, b) == (200, 200) and json.loads(body_a)["status"] == "ok" and b"ready" in body_b


def test_a_chunked_body_sent_in_pieces_is_answered(port):
    body = window_json()
    pieces = [body[i : i + 5000] for i in range(0, len(body), 5000)]
    with connect(port) as s:
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
        for piece in pieces:
            s.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            time.sleep(0.05)
        s.sendall(b"0\r\n\r\n")
        [(status, answer)] = read_answers(s, 1)
        assert status == 200 and json.loads(answer)["label"]


def test_expect_100_continue_gets_one_100_then_the_answer(port):
    body = window_json()
    with connect(port) as s:
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
                  b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")  # fmt: skip
        s.settimeout(5)
        assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(body)
        [(status, answer)] = read_answers(s, 1)
        assert status == 200 and b"100 Continue" not in answer


@pytest.mark.parametrize(
    ("first", "trickle", "bound"),
    [
        (b"POST /predict HTTP/1.1\r\nHost: x\r\n", b"X-Slow: 1\r\n", HEADER_S),
        (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n",
         b"1", BODY_S),
    ],
    ids=["headers", "body"],
)  # fmt: skip
def test_a_trickled_request_gets_408_within_its_bound(port, first, trickle, bound):
    with connect(port) as s:
        t0 = time.monotonic()
        s.sendall(first)
        s.settimeout(0.2)
        answer = b""
        while time.monotonic() - t0 < bound + 2 and not answer:
            s.sendall(trickle)
            with contextlib.suppress(TimeoutError):
                answer = s.recv(4096)
        took = time.monotonic() - t0
        assert answer.startswith(b"HTTP/1.1 408 ") and b'"reason": "request_timeout"' in answer
        assert bound - 0.1 < took < bound + 0.5


def test_an_idle_connection_is_closed_without_an_answer(port):
    with connect(port) as s:
        t0 = time.monotonic()
        assert read_all(s) == b""
        assert HEADER_S - 0.1 < time.monotonic() - t0 < HEADER_S + 0.5


def test_headers_over_64_kb_get_431(port):
    with connect(port) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 70_000 + b"\r\n")
        assert read_all(s).startswith(b"HTTP/1.1 431 ")


def test_a_declared_body_over_the_limit_gets_the_apps_413(port):
    with connect(port) as s:
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
                  b"Content-Length: 5000000\r\n\r\n")  # fmt: skip
        answer = read_all(s)
        assert answer.startswith(b"HTTP/1.1 413 ") and b"request_entity_too_large" in answer


def test_a_chunked_body_over_the_limit_gets_413(port):
    piece = b"0" * 1_000_000
    with connect(port) as s:
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
        for _ in range(5):
            s.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        s.sendall(b"0\r\n\r\n")
        answer = read_all(s)
        assert answer.startswith(b"HTTP/1.1 413 ") and b"request_entity_too_large" in answer


def test_conflicting_framing_is_refused_and_closed(port):
    with connect(port) as s:
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"0\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n")  # fmt: skip
        answer = read_all(s)
        assert answer.startswith(b"HTTP/1.1 400 ") and answer.count(b"HTTP/1.1") == 1


def test_a_full_worker_closes_its_longest_idle_connection_for_a_new_one(port):
    idle = [connect(port) for _ in range(3 * CAP)]  # more than both workers may hold
    try:
        time.sleep(0.3)
        with connect(port) as s:
            t0 = time.monotonic()
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            [(status, _)] = read_answers(s, 1)
            assert status == 200 and time.monotonic() - t0 < 0.5
        closed = 0
        for c in idle:
            c.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                closed += c.recv(1) == b""
        assert closed >= CAP
    finally:
        for c in idle:
            c.close()
