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

from shared.app.processes import free_port, start_server, stop_server, wait_ready
from tests.slow_clients import raise_fd_limit

pytestmark = pytest.mark.slow
HEADER_S, BODY_S, CAP = 1.0, 2.0, 16


@pytest.fixture(scope="module")
def server(tiny_bundle, tmp_path_factory):
    """(port, log path) of a 2-worker server with short bounds."""
    raise_fd_limit(1024)
    port = free_port()
    env = {**os.environ, "SIGNSTREAM_SERVER_HEADER_TIMEOUT": str(HEADER_S),
           "SIGNSTREAM_SERVER_BODY_TIMEOUT": str(BODY_S), "SIGNSTREAM_SERVER_MAX_CONNECTIONS": str(CAP),
           "SIGNSTREAM_SERVER_LOG_REQUESTS": "false"}  # fmt: skip
    log_path = tmp_path_factory.mktemp("front") / "server.log"
    with log_path.open("wb") as log:
        proc = start_server(tiny_bundle, port, workers=2, env=env, log=log)
    try:
        wait_ready(f"http://127.0.0.1:{port}/ready", proc)
        time.sleep(2.0)  # the second worker too
        yield port, log_path
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def port(server):
    return server[0]


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
        assert b"\r\nConnection: close\r\n" in answer  # the body was not read: the connection ends here


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
        assert b"\r\nConnection: close\r\n" in answer


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


CHUNKED_HEAD = (
    b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
)


@pytest.mark.parametrize(
    "body",
    [b"-6\r\n", b"-100\r\n", b"+5\r\nhello\r\n0\r\n\r\n", b"0x10\r\n", b"1_0\r\n", b"zz\r\n",
     b"5;" + b"x" * 5000 + b"\r\n", b"3\r\nhello\r\n0\r\n\r\n", b"5\nhello\n0\n\n"],
    ids=["minus6", "minus100", "plus5", "0x10", "1_0", "zz", "oversize-line", "data-longer", "bare-lf"],
)  # fmt: skip
def test_malformed_chunk_framing_gets_a_json_400_and_the_connection_closes(port, body):
    with connect(port) as s:
        t0 = time.monotonic()
        s.sendall(CHUNKED_HEAD + body)
        answer = read_all(s, timeout=5)
        assert time.monotonic() - t0 < 2  # answered at once, not at a timeout
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") and b"\r\nConnection: close" in head
    assert json.loads(payload)["reason"] == "bad_request"


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello", 400),
        (b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nAuthorization Bearer SECRET-KEY-IN-A-BAD-LINE\r\n\r\n", 400),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-A: 1\r\n" * 120 + b"\r\n", 431),
        (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n", 431),
        (b"BLAH\x00 / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET /health HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400),
    ],
    ids=["length-and-coding", "plus-length", "gzip", "no-colon", "long-line", "many-fields", "long-field", "method",
         "folding"],
)  # fmt: skip
def test_refused_requests_are_answered_in_json_and_closed(server, request_bytes, status):
    port, log_path = server
    with connect(port) as s:
        s.sendall(request_bytes + b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = read_all(s, timeout=5)
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status) and b"\r\nConnection: close" in head
    assert b"application/json" in head and json.loads(payload)["error"]
    assert answer.count(b"HTTP/1.1 ") == 1  # nothing after a refusal is read as a request
    time.sleep(0.2)
    log = log_path.read_bytes()
    assert b"SECRET-KEY" not in log and b"Traceback" not in log


def test_a_keep_alive_client_goes_on_after_a_413(port):
    """A refusal before the body ends the connection in words: the client's next request opens a new one."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/predict", body=b"0" * 4_100_000, headers={"Content-Type": "application/json"})
        first = conn.getresponse()
        first.read()
        assert first.status == 413 and first.getheader("Connection") == "close"
        conn.request("GET", "/health")  # http.client reconnects because the answer said close
        second = conn.getresponse()
        assert second.status == 200 and json.loads(second.read())["status"] == "ok"
    finally:
        conn.close()
