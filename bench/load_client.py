"""A lean keep-alive HTTP/1.1 client for the load generator (``bench server``).

The load generator shares the server's 2 cores, so every millisecond it spends is taken from the
server it measures. ``http.client`` builds each request anew and parses every answer's headers
through ``email.parser``; here a request is encoded once and an answer is read with a few buffer
operations. Only what the benched servers send is understood: a status line, headers, a
``Content-Length`` body (or a body up to the close), ``Connection: close``. Anything else raises
``HttpError`` and the caller counts an error; its ``kind`` says why (for the error breakdown).
"""

from __future__ import annotations

import errno
import select
import socket
import time

MAX_HEADER_BYTES = 64 * 1024


class HttpError(Exception):
    """The server's answer could not be read as HTTP/1.1 (or the connection broke).

    ``kind`` names the failure for counting: what went wrong, in which phase of the exchange, and
    whether the connection was new or reused, e.g. ``ConnectionResetError [ECONNRESET] awaiting the
    answer on a reused connection`` or ``closed by the server (EOF) awaiting the answer on a reused
    connection``. ``idle_s``: how long a reused connection had been idle before this request (None
    for a new one); a server closes a keep-alive connection idle for longer than its keep-alive timeout.
    """

    def __init__(self, message: str, kind: str | None = None, idle_s: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind or message
        self.idle_s = idle_s


def describe_error(err: BaseException) -> str:
    """The exception's class, with its errno's name when it has one (``ConnectionResetError [ECONNRESET]``)."""
    if isinstance(err, HttpError):
        return err.kind
    code = getattr(err, "errno", None)
    name = errno.errorcode.get(code, str(code)) if code is not None else None
    return f"{type(err).__name__} [{name}]" if name else type(err).__name__


def encode_request(
    method: str, path: str, host: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    """One HTTP/1.1 request as bytes, ready to send as often as wanted."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Connection:
    """One keep-alive connection; reconnects by itself after the server closed it.

    A server may close a keep-alive connection between requests (gunicorn after ``keepalive`` idle
    seconds): as urllib3 does, a connection that turned readable while idle (the server's FIN, or an
    answer nobody asked for) is reopened before sending, and counted in ``reopened``. A close after
    the request was sent is a failed request.
    """

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self._addr = (host, port)
        self._timeout = timeout
        self._sock: socket.socket | None = None
        self._buf = b""
        self._answer_started = False
        self._last_used = 0.0  # time.monotonic() at the end of the last exchange
        self.reopened = 0  # connections found closed by the server between requests, and reopened

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None
        self._buf = b""

    def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send one encoded request and return (status, body); HttpError (with its ``kind``) on failure."""
        if self._sock is not None and self._closed_while_idle():
            self.close()
            self.reopened += 1
        reused = self._sock is not None
        idle = time.monotonic() - self._last_used if reused else None
        phase = "connecting"
        self._answer_started = False
        try:
            if self._sock is None:
                self._sock = socket.create_connection(self._addr, self._timeout)
                self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            phase = "sending"
            self._sock.sendall(request)
            phase = "awaiting the answer"
            status, body, close = self._read_answer()
        except (OSError, ValueError, HttpError) as err:
            if self._answer_started:
                phase = "reading the answer"
            self.close()
            kind = f"{describe_error(err)} {phase} on a {'reused' if reused else 'new'} connection"
            raise HttpError(str(err) or type(err).__name__, kind, idle) from err
        self._last_used = time.monotonic()
        if close:
            self.close()
        return status, body

    def _closed_while_idle(self) -> bool:
        """True if the idle connection is readable before a request was sent: the server closed it."""
        try:
            return bool(select.select([self._sock], [], [], 0)[0])
        except (OSError, ValueError):
            return True

    def _recv(self) -> bytes:
        assert self._sock is not None
        chunk = self._sock.recv(262144)
        if not chunk:
            raise HttpError("the server closed the connection", "closed by the server (EOF)")
        self._answer_started = True
        return chunk

    def _read_answer(self) -> tuple[int, bytes, bool]:
        buf = self._buf
        while (end := buf.find(b"\r\n\r\n")) < 0:
            if len(buf) > MAX_HEADER_BYTES:
                raise HttpError("answer headers too long", "bad answer (headers too long)")
            buf += self._recv()
        head = buf[:end].decode("latin-1").split("\r\n")
        parts = head[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise HttpError(f"not an HTTP/1.x status line: {head[0][:80]!r}", "bad answer (not HTTP/1.x)")
        status = int(parts[1])
        length, close = None, parts[0] == "HTTP/1.0"
        for line in head[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection":
                close = value.strip().lower() == "close"
            elif name == "transfer-encoding":
                raise HttpError("chunked answers are not supported by the load generator", "bad answer (chunked)")
        buf = buf[end + 4 :]
        if length is None:  # the body runs to the close
            try:
                while True:
                    buf += self._recv()
            except HttpError:
                pass
            self._buf = b""
            return status, buf, True
        while len(buf) < length:
            buf += self._recv()
        self._buf = buf[length:]
        return status, buf[:length], close
