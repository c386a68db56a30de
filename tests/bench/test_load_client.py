"""The load generator's HTTP client against a real socket server answering in each way it must read."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from bench.load_client import Connection, HttpError, encode_request


class ScriptedServer:
    """Accepts connections and answers each request with the next scripted raw answer."""

    def __init__(self, answers: list[bytes], close_after_each: bool = False) -> None:
        self.answers = list(answers)
        self.close_after_each = close_after_each  # as a server whose keep-alive timeout ran out
        self.requests: list[bytes] = []
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while self.answers:
            conn, _ = self.sock.accept()
            self.connections += 1
            with conn:
                buf = b""
                while self.answers:
                    while b"\r\n\r\n" not in buf:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        buf += chunk
                    if b"\r\n\r\n" not in buf:
                        break
                    head, _, rest = buf.partition(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                    while len(rest) < length:
                        rest += conn.recv(65536)
                    self.requests.append(head + b"\r\n\r\n" + rest[:length])
                    buf = rest[length:]
                    answer = self.answers.pop(0)
                    conn.sendall(answer)
                    if self.close_after_each or b"Connection: close" in answer or b"Content-Length" not in answer:
                        break


@pytest.fixture
def opened():
    """Collects servers and connections and closes them after the test."""
    things: list = []
    yield things.append
    for thing in things:
        (thing.sock if isinstance(thing, ScriptedServer) else thing).close()


def test_encoded_request_carries_host_headers_and_length():
    raw = encode_request("POST", "/predict", "h:1", {"Content-Type": "application/json"}, b'{"a":1}')
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.split(b"\r\n") == [
        b"POST /predict HTTP/1.1",
        b"Host: h:1",
        b"Content-Type: application/json",
        b"Content-Length: 7",
    ]
    assert body == b'{"a":1}'


def test_keep_alive_answers_are_read_on_one_connection_even_when_split(opened):
    ok = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n" + b'{"label":1}'
    server = ScriptedServer([ok, ok, b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\n\r\nno"])
    conn = Connection("127.0.0.1", server.port)
    opened(server), opened(conn)
    body = b"x" * 300_000
    request = encode_request("POST", "/predict", "h", {}, body)
    assert conn.exchange(request) == (200, b'{"label":1}')
    assert conn.exchange(request) == (200, b'{"label":1}')
    assert conn.exchange(request) == (503, b"no")
    assert server.connections == 1
    assert all(r.endswith(body) for r in server.requests)


def test_connection_close_and_body_to_the_close_reconnect(opened):
    server = ScriptedServer([
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\n\r\nuntil the close",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nyes",
    ])  # fmt: skip
    conn = Connection("127.0.0.1", server.port)
    opened(server), opened(conn)
    request = encode_request("GET", "/ready", "h")
    assert conn.exchange(request) == (200, b"ok")
    assert conn.exchange(request) == (200, b"until the close")
    assert conn.exchange(request) == (200, b"yes")
    assert server.connections == 3


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nshort",
    ],
    ids=["chunked", "not-http", "truncated"],
)
def test_unreadable_answers_raise_http_error(answer, opened):
    server = ScriptedServer([answer])
    conn = Connection("127.0.0.1", server.port, timeout=5)
    opened(server), opened(conn)
    with pytest.raises(HttpError):
        conn.exchange(encode_request("GET", "/", "h"))


def test_refused_connection_raises_http_error():
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(HttpError):
        Connection("127.0.0.1", port, timeout=5).exchange(encode_request("GET", "/", "h"))


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_a_connection_the_server_closed_while_idle_is_reopened_not_failed(opened):
    # gunicorn closes a keep-alive connection idle past its keepalive; the next request must go out on
    # a new connection (as urllib3 does), not fail with "closed by the server".
    server = ScriptedServer([OK, OK], close_after_each=True)
    conn = Connection("127.0.0.1", server.port, timeout=5)
    opened(server), opened(conn)
    request = encode_request("GET", "/ready", "h")
    assert conn.exchange(request) == (200, b"ok")
    time.sleep(0.2)  # the server's FIN arrives while the connection is idle
    assert conn.exchange(request) == (200, b"ok")
    assert server.connections == 2 and conn.reopened == 1


@pytest.mark.parametrize(
    ("answers", "exchanges", "kind"),
    [
        ([OK, b""], 2, "closed by the server (EOF) awaiting the answer on a reused connection"),
        ([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"], 1,
         "closed by the server (EOF) reading the answer on a new connection"),
        ([b"SSH-2.0-OpenSSH\r\n\r\n"], 1, "bad answer (not HTTP/1.x) reading the answer on a new connection"),
    ],
    ids=["closed-before-the-answer", "closed-mid-answer", "not-http"],
)  # fmt: skip
def test_a_failure_names_its_kind_phase_and_connection(answers, exchanges, kind, opened):
    server = ScriptedServer(answers)
    conn = Connection("127.0.0.1", server.port, timeout=5)
    opened(server), opened(conn)
    request = encode_request("GET", "/", "h")
    for _ in range(exchanges - 1):
        assert conn.exchange(request)[0] == 200
    with pytest.raises(HttpError) as caught:
        conn.exchange(request)
    assert caught.value.kind == kind
    assert (caught.value.idle_s is None) == (exchanges == 1)  # idle time only for a reused connection


def test_a_refused_connection_names_its_errno():
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(HttpError) as caught:
        Connection("127.0.0.1", port, timeout=5).exchange(encode_request("GET", "/", "h"))
    assert caught.value.kind == "ConnectionRefusedError [ECONNREFUSED] connecting on a new connection"
