"""Read each request whole in the worker's event loop, so no thread ever waits on a slow socket.

gunicorn's gthread worker hands a connection to a thread as soon as its first byte arrives, and the
thread then blocks until the request's headers and body are in. Eight clients trickling their headers
(or a declared body) one byte a second held every thread of a 2 x 4 server, and ``/health`` timed out.
Here the worker's main loop, which already waits on every socket with a selector, reads
each connection without blocking into a buffer until it holds one complete request (headers, and the
body by ``Content-Length`` or chunked framing), and only then hands the request, as bytes, to a thread.
The thread parses it with gunicorn's own parser (nothing left to wait for) and writes the answer.

Bounds, each one checked by a sweep every ``SWEEP_S``:
- the headers must be complete ``header_timeout`` seconds after the connection was accepted (its
  first request) or the request's first byte arrived (later ones), the body ``body_timeout`` seconds
  after the headers: else a 408 (and close);
- an idle connection (new, or kept alive between requests) is closed after gunicorn's ``keepalive``;
  it costs a socket and a few hundred bytes, never a thread;
- at most ``worker_connections`` per worker: when full, the worker still accepts and closes its
  longest-idle (or longest-reading-headers) connection to make room, so a flood of idle connections
  cannot lock out a new client;
- headers over ``MAX_HEAD_BYTES``: 431; a declared body over ``max_body_bytes`` is read and discarded
  (up to the app's drain limit) and the app answers its usual 413 with nothing to wait for.

A thread writing an answer to a client that does not read waits at most ``send_timeout`` seconds.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import selectors
import socket
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial

from gunicorn import http
from gunicorn.http import errors as parse_errors
from gunicorn.workers.gthread import TConn

from cloud_server.balance import BalancedThreadWorker
from cloud_server.chunked import ChunkedDecoder, State

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024
DRAIN_LIMIT = 64 * 1024 * 1024  # as the app's: a too-large body is read and discarded up to this much
SWEEP_S = 0.1
STOP_LINGER_S = 2.0  # a stopping worker keeps idle connections this long at most (as gunicorn's gthread)
RECV_BYTES = 65536
ACCEPT_BATCH = 32

# reading phases of a connection
IDLE, HEAD, BODY, CHUNKED, DISCARD, BUSY, CLOSING = "idle", "head", "body", "chunked", "discard", "busy", "closing"


@dataclass(frozen=True)
class FrontLimits:
    """How long a request may take to arrive, and how large its body may be."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    send_timeout: float = 30.0
    max_body_bytes: int = 4_000_000


LIMITS = FrontLimits()


def configure(limits: FrontLimits) -> None:
    """Set the limits in the arbiter, before it forks the workers (they inherit them)."""
    global LIMITS
    LIMITS = limits


def _status(code: int, reason: str, message: str) -> bytes:
    body = b'{"error": "' + message.encode() + b'", "reason": "' + reason.encode() + b'"}'
    head = f"HTTP/1.1 {code} {reason.replace('_', ' ').title()}\r\nContent-Type: application/json\r\n"
    return head.encode() + b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body


REQUEST_TIMEOUT = _status(408, "request_timeout", "the request did not arrive in time")
HEAD_TOO_LARGE = _status(431, "request_header_fields_too_large", "the request headers are too large")
BAD_FRAMING_BOTH = _status(400, "bad_request", "the request has both Content-Length and Transfer-Encoding")
BAD_FRAMING_LENGTH = _status(400, "bad_request", "the request's Content-Length is malformed or repeated")
BAD_FRAMING_CODING_10 = _status(400, "bad_request", "an HTTP/1.0 request cannot use Transfer-Encoding")
UNSUPPORTED_CODING = _status(501, "not_implemented", "the only transfer coding accepted is chunked")
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Framing:
    """Where a request's body ends, read from its header block.

    ``length``: the body's declared size (0 if none); ``chunked``: chunked transfer coding (decoded
    here; the thread sees the body with a ``Content-Length``); ``refusal``: framing this reader does
    not accept, already answered (400: conflicting or malformed lengths, a length beside a transfer
    coding, a coding in an HTTP/1.0 request; 501: a coding other than chunked): the connection
    closes without reading a body it cannot delimit. ``expect``: the client waits for
    ``100 Continue`` before sending its body.
    """

    def __init__(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        self.http11 = lines[0].rstrip().endswith(b"HTTP/1.1")
        lengths, codings, kept = set(), [], [lines[0]]
        self.expect = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            key = name.strip().lower()
            if key == b"content-length":
                lengths.add(value.strip())
                continue  # written again by ``head_with_length``
            if key == b"transfer-encoding":
                codings += [c.strip().lower() for c in value.split(b",")]
                continue
            if key == b"expect" and value.strip().lower() == b"100-continue" and self.http11:
                self.expect = True
                continue  # answered here: the app must not send a second 100 Continue after the body
            kept.append(line)
        self._kept = b"\r\n".join(kept)
        self.length, self.chunked, self.refusal = 0, False, None
        if codings and lengths:
            self.refusal = BAD_FRAMING_BOTH
        elif codings:
            if codings != [b"chunked"]:
                self.refusal = UNSUPPORTED_CODING
            elif not self.http11:
                self.refusal = BAD_FRAMING_CODING_10
            else:
                self.chunked = True
        elif lengths:
            value = lengths.pop()
            if lengths or not value.isdigit() or len(value) > 19:
                self.refusal = BAD_FRAMING_LENGTH
            else:
                self.length = int(value)

    def head_with_length(self, length: int | None) -> bytes:
        """The header block for the thread, with ``Content-Length: length`` (none when None), CRLFCRLF-ended."""
        if length is None:
            return self._kept + b"\r\n\r\n"
        return self._kept + b"\r\nContent-Length: " + str(length).encode() + b"\r\n\r\n"


def _closing(parser):
    """The parser's requests, each marked to be answered with ``Connection: close``.

    gunicorn drops a ``Connection`` header the app sets and writes its own from the request; a request
    marked ``must_close`` makes it write ``close``.
    """
    for req in parser:
        req.must_close = True
        yield req


_PARSE_ERRORS: list[tuple[type, int, str, str]] = [
    (parse_errors.LimitRequestLine, 414, "uri_too_long", "the request line is too long"),
    (parse_errors.LimitRequestHeaders, 431, "request_header_fields_too_large", "too many or too large header fields"),
    (parse_errors.UnsupportedTransferCoding, 501, "not_implemented", "the only transfer coding accepted is chunked"),
    (parse_errors.ExpectationFailed, 417, "expectation_failed", "the only expectation accepted is 100-continue"),
    (parse_errors.InvalidRequestLine, 400, "bad_request", "malformed request line"),
    (parse_errors.InvalidRequestMethod, 400, "bad_request", "malformed request method"),
    (parse_errors.InvalidHTTPVersion, 400, "bad_request", "unsupported HTTP version"),
    (parse_errors.ObsoleteFolding, 400, "bad_request", "folded header lines are not accepted"),
    (parse_errors.InvalidHeaderName, 400, "bad_request", "malformed header name"),
    (parse_errors.InvalidHeader, 400, "bad_request", "malformed header line"),
    (parse_errors.ParseException, 400, "bad_request", "malformed request"),
]


def _parse_error(exc: BaseException) -> tuple[int, str, str]:
    """(status, reason, message) for an error gunicorn raised while parsing; 500 for anything else.

    The message never repeats what the client sent (a header line may hold a key).
    """
    if isinstance(exc, (parse_errors.InvalidResponseHeader, parse_errors.InvalidResponseHeaderName)):
        return 500, "internal", "internal error"  # the app's fault, not the client's
    for kind, status, reason, message in _PARSE_ERRORS:
        if isinstance(exc, kind):
            return status, reason, message
    return 500, "internal", "internal error"


class FrontConn(TConn):
    """A connection, with what the front has read of its next request."""

    def __init__(self, cfg, sock, client, server) -> None:
        super().__init__(cfg, sock, client, server)
        self.initialized = True  # the front reads; the thread only parses bytes
        self.buf = bytearray()
        self.phase = IDLE
        self.deadline = 0.0
        self.since = 0.0  # when the current phase began (eviction order)
        self.got_bytes = False  # of the current request: a timeout then answers 408, else just closes
        self.served = False  # a request was handed over (later requests' headers are timed from their first byte)
        self.head = b""
        self.need = 0  # body bytes still to come (BODY) or to discard (DISCARD)
        self.must_close = False
        self.scan = 0  # where the search for the end of the headers goes on
        self.chunks: ChunkedDecoder | None = None

    def init(self) -> None:
        """Called by the thread before it parses: a blocking socket whose writes give up after a while."""
        self.sock.settimeout(LIMITS.send_timeout)


class FrontWorker(BalancedThreadWorker):
    """gthread (balanced) whose main loop reads every request whole before a thread sees it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.reading: dict[FrontConn, None] = {}  # connections the front holds (not in a thread)
        self.evictable: OrderedDict[FrontConn, None] = OrderedDict()  # idle or reading headers, oldest first
        self._next_sweep = 0.0
        self._closed = None  # the app's signstream_connections_closed counter, once the app is loaded

    def _count(self, reason: str) -> None:
        if self._closed is None:
            collaborators = getattr(self.wsgi, "extensions", {}).get("signstream")
            self._closed = getattr(getattr(collaborators, "metrics", None), "connections_closed", False)
        if self._closed:
            self._closed.labels(reason).inc()

    # --- the connection cap -------------------------------------------------------------------------
    @property
    def worker_connections(self) -> int:
        limit = BalancedThreadWorker.worker_connections.fget(self)
        if limit == self._cap and self.nr_conns >= self._cap and self.evictable:
            return self.nr_conns + 1  # full, but an idle connection can make room: keep accepting
        return limit

    @worker_connections.setter
    def worker_connections(self, value: int) -> None:
        self._cap = value

    def accept(self, listener) -> None:
        """Take up to ``ACCEPT_BATCH`` waiting connections (gthread takes one a pass: a burst overflowed
        the backlog and waited for SYN retries)."""
        for _ in range(ACCEPT_BATCH):
            if self.nr_conns >= self.worker_connections:
                return
            try:
                client_sock, client_addr = listener.accept()
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                    raise
                return
            if self.nr_conns >= self._cap and self.evictable:
                oldest = next(iter(self.evictable))
                if oldest.phase != CLOSING:
                    self._count("evicted")
                self._close(oldest)
            self.nr_conns += 1
            client_sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = FrontConn(self.cfg, client_sock, client_addr, listener.getsockname())
            self._wait_for_request(conn, time.monotonic(), LIMITS.header_timeout)
            self.notify()  # publish the count and look again whether this worker is among the least loaded

    # --- reading ------------------------------------------------------------------------------------
    def _wait_for_request(self, conn: FrontConn, now: float, idle_for: float) -> None:
        conn.sock.setblocking(False)
        conn.phase, conn.since, conn.deadline, conn.got_bytes = IDLE, now, now + idle_for, False
        conn.must_close, conn.chunks = False, None
        self.reading[conn] = None
        self.evictable[conn] = None
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))
        if conn.buf:  # a pipelined request arrived with the last one
            self._advance(conn, now)

    def _on_readable(self, conn: FrontConn, _sock) -> None:
        try:
            data = conn.sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        if not data:  # the client closed (or half-closed: nothing more will come)
            self._close(conn)
            return
        if conn.phase == CLOSING:  # read and dropped
            return
        now = time.monotonic()
        if conn.phase == DISCARD:
            conn.need -= len(data)
            if conn.need <= 0:
                self._hand_over(conn, conn.head)
            return
        if conn.phase == CHUNKED:
            self._feed_chunks(conn, data)
            return
        conn.buf += data
        self._advance(conn, now)

    def _advance(self, conn: FrontConn, now: float) -> None:
        if conn.phase == IDLE:
            if conn.served:  # a kept-alive connection's next request: its own time from its first byte
                conn.deadline = now + LIMITS.header_timeout
            # else a new connection's first request keeps the deadline counted from the accept
            conn.phase, conn.since, conn.got_bytes = HEAD, now, True
            self.evictable.move_to_end(conn)
        if conn.phase == HEAD:
            end = conn.buf.find(b"\r\n\r\n", max(0, conn.scan - 3))
            if end < 0:
                conn.scan = len(conn.buf)
                if len(conn.buf) > MAX_HEAD_BYTES:
                    self._count("too_large")
                    self._close(conn, HEAD_TOO_LARGE)
                return
            conn.scan = 0
            head = bytes(conn.buf[: end + 4])
            del conn.buf[: end + 4]
            self._start_body(conn, Framing(head[:-4]), now)
        elif conn.phase == BODY:
            if len(conn.buf) >= conn.need:
                body = bytes(conn.buf[: conn.need])
                del conn.buf[: conn.need]
                self._hand_over(conn, conn.head + body)
        elif conn.phase == CHUNKED:
            data = bytes(conn.buf)
            conn.buf.clear()
            self._feed_chunks(conn, data)

    def _start_body(self, conn: FrontConn, framing: Framing, now: float) -> None:
        self.evictable.pop(conn, None)
        conn.since, conn.deadline = now, now + LIMITS.body_timeout
        if framing.refusal is not None:
            self._count("bad_framing")
            self._close(conn, framing.refusal)
        elif framing.chunked:
            conn.phase, conn.head = CHUNKED, framing.head_with_length(None)
            conn.chunks = ChunkedDecoder(LIMITS.max_body_bytes, DRAIN_LIMIT)
            self._send_continue(conn, framing)
            data = bytes(conn.buf)
            conn.buf.clear()
            self._feed_chunks(conn, data)
        elif framing.length > LIMITS.max_body_bytes:  # the app answers 413 from the declared length alone
            conn.must_close = True
            conn.head = framing.head_with_length(framing.length)
            if framing.expect:  # the body has not been sent: answer at once
                self._hand_over(conn, conn.head)
                return
            conn.phase, conn.need = DISCARD, min(framing.length, DRAIN_LIMIT) - len(conn.buf)
            conn.buf.clear()
            if conn.need <= 0:
                self._hand_over(conn, conn.head)
        elif framing.length:
            conn.phase, conn.need, conn.head = BODY, framing.length, framing.head_with_length(framing.length)
            self._send_continue(conn, framing)
            self._advance(conn, now)
        else:
            self._hand_over(conn, framing.head_with_length(None))

    def _send_continue(self, conn: FrontConn, framing: Framing) -> None:
        if framing.expect and not conn.buf:
            with contextlib.suppress(OSError):
                conn.sock.send(CONTINUE)

    def _feed_chunks(self, conn: FrontConn, data: bytes) -> None:
        """Decode what arrived of a chunked body; at its end hand the request over with a Content-Length.

        Malformed framing is answered 400 and closed here. A body past ``max_body_bytes`` is counted,
        not kept (up to ``DRAIN_LIMIT``), and the app is handed its declared size alone, so it answers
        its 413 and the connection closes.
        """
        chunks = conn.chunks
        state = chunks.feed(data)
        if state is State.ERROR:
            self._count("bad_framing")
            self._close(conn, _status(400, "bad_request", f"malformed chunked body: {chunks.error}"))
        elif state is State.DONE:
            conn.buf += chunks.rest  # a pipelined next request
            if chunks.over_limit:
                conn.must_close = True
                self._hand_over(conn, conn.head[:-2] + b"Content-Length: %d\r\n\r\n" % chunks.decoded)
            else:
                body = bytes(chunks.body)
                self._hand_over(conn, conn.head[:-2] + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            conn.chunks = None

    # --- to a thread and back -----------------------------------------------------------------------
    def _hand_over(self, conn: FrontConn, request: bytes) -> None:
        self._forget(conn)
        conn.phase, conn.served = BUSY, True
        parser = http.get_parser(self.cfg, iter([request]), conn.client)
        if conn.must_close:  # refused before its body was read: the answer says so, then the connection closes
            conn.buf.clear()
            parser = _closing(parser)
        conn.parser = parser
        self.enqueue_req(conn)

    def finish_request(self, conn: FrontConn, fs) -> None:
        """Back from the thread (main thread): read the next request, or close."""
        try:
            keep = bool(fs.result()) if not fs.cancelled() else False
        except Exception:
            keep = False
        if keep and not conn.must_close:
            # stopping: a request the client may be sending now still gets its answer, briefly
            idle = self.cfg.keepalive if self.alive else min(self.cfg.keepalive, STOP_LINGER_S)
            try:
                self._wait_for_request(conn, time.monotonic(), idle)
                return
            except (OSError, ValueError):
                pass
        self._close(conn, linger=True)

    def _forget(self, conn: FrontConn) -> None:
        self.reading.pop(conn, None)
        self.evictable.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)

    def _close(self, conn: FrontConn, answer: bytes | None = None, linger: bool = False) -> None:
        """Close a connection, after sending ``answer`` if given.

        With an answer or ``linger``, the write side is shut and what the client still sends is read
        and dropped for up to ``STOP_LINGER_S`` before the close, in the loop like any read (gunicorn's
        own graceful close waits for that in the loop's thread), so the answer is not lost to a reset.
        """
        self._forget(conn)
        if answer or linger:
            try:
                conn.sock.setblocking(False)
                if answer:
                    conn.sock.send(answer)
                conn.sock.shutdown(socket.SHUT_WR)
                conn.phase, conn.deadline, conn.got_bytes = CLOSING, time.monotonic() + STOP_LINGER_S, False
                self.reading[conn] = None
                self.evictable[conn] = None
                self.evictable.move_to_end(conn, last=False)  # the first to go if room is needed
                self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))
                return
            except (OSError, ValueError):
                self._forget(conn)
        self.nr_conns -= 1
        with contextlib.suppress(OSError):
            conn.sock.close()

    def handle_error(self, req, client, addr, exc) -> None:
        """gunicorn's parser refused a request (or the app failed outside Flask): answer in the API's JSON.

        gunicorn's own answer is HTML and its log line echoes the offending line, an API key included;
        this one names only the client's address and the kind of fault.
        """
        status, reason, message = _parse_error(exc)
        ip = addr[0] if addr else ""
        if status >= 500:
            log.error("error handling a request from ip=%s", ip, exc_info=exc)
        else:
            self._count("bad_request")
            log.warning("invalid request from ip=%s: %s", ip, message)
        with contextlib.suppress(OSError):
            client.sendall(_status(status, reason, message))

    # --- deadlines, replacing gthread's keep-alive and pending queues ------------------------------
    def murder_keepalived(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._next_sweep:
            return
        self._next_sweep = now + SWEEP_S
        due = [c for c in self.reading if force or c.deadline <= now]
        for conn in due:
            if conn.phase == CLOSING or force:
                self._close(conn)
            elif conn.got_bytes:
                self._count("timeout")
                self._close(conn, REQUEST_TIMEOUT)
            else:
                self._count("idle")
                self._close(conn)

    def murder_pending(self) -> None:
        """Nothing pending here: the front holds every connection that is not in a thread."""

    def _cap_keepalive(self, deadline: float) -> None:
        for conn in self.reading:
            if conn.phase == IDLE:
                conn.deadline = min(conn.deadline, deadline)

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        super().wait_for_and_dispatch_events(min(timeout, SWEEP_S) if self.reading else timeout)
