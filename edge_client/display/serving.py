"""The kiosk page's HTTP server: Werkzeug's threaded server with bounded reads and a connection cap.

Werkzeug gives each connection a thread that waits on the socket with no time limit: a browser on
the LAN that stops halfway through a request (or a script trickling bytes) held its thread forever,
and enough of them would exhaust the kiosk's memory. Here each request must arrive in bounded time
(its request line and headers within ``header_timeout`` of the previous answer or of the accept,
its body within ``body_timeout`` after the headers; else 408, or a close), a thread writing to a
client that does not read gives up after ``send_timeout``, and at most ``max_connections`` are open:
when full, the connection that has waited longest for its next request is closed to make room (a
connection streaming events, the preview or Socket.IO is never taken). The page, its event stream
and the API keep answering while 64 such clients hold connections open (tests/edge_client/test_slow_web.py).
"""

from __future__ import annotations

import contextlib
import io
import logging
import socket
import threading
import time
from dataclasses import dataclass

from simple_websocket import ConnectionClosed
from werkzeug.exceptions import RequestTimeout
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

log = logging.getLogger(__name__)

HEAD, BODY, ANSWERED, CLOSING = "head", "body", "answered", "closing"
REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nContent-Length: 76\r\n"
    b'Connection: close\r\n\r\n{"error": "the request did not arrive in time", "reason": "request_timeout"}'
)


@dataclass(frozen=True)
class WebLimits:
    """Bounds on the kiosk page's connections (seconds, and connections)."""

    header_timeout: float = 10.0
    body_timeout: float = 10.0
    send_timeout: float = 10.0
    drain_timeout: float = 1.0
    max_connections: int = 256


@dataclass
class ConnState:
    """Where a connection is in its current request; read by the server to choose one to close."""

    phase: str
    since: float
    deadline: float
    got_bytes: bool = False
    timed_out: bool = False


class DeadlineReader(io.RawIOBase):
    """The socket's read side, failing once the current phase's deadline has passed.

    Headers late: a 408 is sent (if any byte of the request came) and ``TimeoutError`` ends the
    connection quietly. A body late while the app reads it: ``RequestTimeout``, which the app answers
    as a JSON 408. After the answer (Werkzeug reads what the client still sends): ``TimeoutError``.
    """

    def __init__(self, sock: socket.socket, state: ConnState, send_timeout: float) -> None:
        self._sock, self.state, self._send_timeout = sock, state, send_timeout

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self._sock.fileno() == -1:  # closed under us (evicted, or the server stopping): end of stream
            return 0
        left = self.state.deadline - time.monotonic()
        if left <= 0:
            self._late()
        try:
            self._sock.settimeout(left)
            n = self._sock.recv_into(buf)
        except TimeoutError:
            self._late()
        finally:
            with contextlib.suppress(OSError):
                self._sock.settimeout(self._send_timeout)  # the same socket writes the answers
        if n and self.state.phase == HEAD:
            self.state.got_bytes = True
        return n

    def _late(self):
        self.state.timed_out = True
        if self.state.phase == BODY:
            raise RequestTimeout("the request body did not arrive in time")
        if self.state.phase == HEAD and self.state.got_bytes:
            with contextlib.suppress(OSError):
                self._sock.sendall(REQUEST_TIMEOUT)
        raise TimeoutError("the request did not arrive in time")


class GuardedRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler reading through a ``DeadlineReader``."""

    server: GuardedWSGIServer

    def setup(self) -> None:
        super().setup()
        limits = self.server.limits
        self.state = self.server.state_of(self.connection)
        self.connection.settimeout(limits.send_timeout)
        self.rfile = io.BufferedReader(DeadlineReader(self.connection, self.state, limits.send_timeout))

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Each request at DEBUG, in plain text: the page polls every second, and werkzeug's INFO lines
        (with terminal colours) would fill the kiosk's journal."""
        log.debug('%s "%s" %s %s', self.address_string(), self.requestline, getattr(code, "value", code), size)

    def handle_one_request(self) -> None:
        now = time.monotonic()
        self.state.phase, self.state.since, self.state.got_bytes = HEAD, now, False
        self.state.deadline = now + self.server.limits.header_timeout
        super().handle_one_request()

    def parse_request(self) -> bool:
        ok = super().parse_request()
        now = time.monotonic()
        self.state.phase, self.state.deadline = BODY, now + self.server.limits.body_timeout
        if ok and self.headers.get("Upgrade", "").lower() == "websocket":
            # Socket.IO's websocket reads the socket itself and may hear nothing for its 25 s ping
            # interval: no read deadline, no send timeout (its messages are small). The websocket
            # library closes the socket when it ends: no further request is read from it.
            self.state.phase = ANSWERED
            self.close_connection = True
            self.connection.settimeout(None)
        return ok

    def send_response(self, code, message=None) -> None:
        if self.state.phase != ANSWERED:
            # What the client still sends is read only to be dropped, and only for ``drain_timeout``:
            # a client pushing a refused 300 MB body must not hold the thread (nor 10 MB reads of it).
            self.state.phase = ANSWERED
            self.state.deadline = time.monotonic() + self.server.limits.drain_timeout
        if self.state.timed_out:
            self.close_connection = True
        super().send_response(code, message)

    def log_error(self, format: str, *args) -> None:
        """Quiet about timeouts (a stalled browser is no error of the kiosk's); the rest as Werkzeug."""
        if "timed out" not in format:
            super().log_error(format, *args)


class GuardedWSGIServer(ThreadedWSGIServer):
    """Werkzeug's threaded server with a cap on open connections (see the module)."""

    def __init__(self, host: str, port: int, app, limits: WebLimits | None = None, fd: int | None = None) -> None:
        self.limits = limits or WebLimits()
        self._conns: dict[socket.socket, ConnState] = {}
        self._lock = threading.Lock()
        super().__init__(host, port, app, GuardedRequestHandler, fd=fd)

    def state_of(self, sock: socket.socket) -> ConnState:
        with self._lock:
            return self._conns[sock]

    def process_request(self, request, client_address) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._conns) >= self.limits.max_connections:
                waiting = [(s.since, sock) for sock, s in self._conns.items() if s.phase == HEAD]
                if not waiting:  # every connection is busy answering: refuse this one
                    self.shutdown_request(request)
                    return
                oldest = min(waiting, key=lambda w: w[0])[1]
                self._conns[oldest].phase = CLOSING
                with contextlib.suppress(OSError):  # its thread sees the end of the stream and leaves
                    oldest.shutdown(socket.SHUT_RDWR)
            self._conns[request] = ConnState(HEAD, now, now + self.limits.header_timeout)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._lock:
            self._conns.pop(request, None)
        super().shutdown_request(request)

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._conns)


def quiet_websocket_close(engineio_server) -> None:
    """Make an Engine.IO server (threading mode) close its websockets quietly when the socket is gone.

    When a browser leaves, simple-websocket's reader thread closes the socket while Engine.IO's
    writer thread may be closing the websocket too; the loser's send fails with EBADF and printed a
    thread traceback for a normal disconnect (2-3 in 200 disconnects here).

    Engine.IO has no public way to choose its websocket class: it reads one from the table of its
    async mode (``server._async["websocket"]``). This is the one place that reaches into it, and it
    subclasses the class found there instead of importing the private module that defines it.
    ``python-engineio`` is pinned in pyproject.toml to the release this is tested with;
    tests/edge_client/test_web.py fails on a release where the table or the class is not as expected.
    """
    table = getattr(engineio_server, "_async", None)
    base = table.get("websocket") if isinstance(table, dict) else None
    if not isinstance(base, type) or not callable(getattr(base, "close", None)):
        raise RuntimeError(
            f"python-engineio {_engineio_version()} has no websocket class where the kiosk expects it "
            "(server._async['websocket']); edge_client/display/serving.py is tested with the pinned release"
        )

    class QuietCloseWebSocket(base):
        """Engine.IO's websocket with a close that tolerates a socket already gone."""

        def close(self) -> None:
            with contextlib.suppress(OSError, ConnectionClosed):
                super().close()

    engineio_server._async = {**table, "websocket": QuietCloseWebSocket}


def _engineio_version() -> str:
    from importlib.metadata import version

    return version("python-engineio")
