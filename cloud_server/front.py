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
from gunicorn.workers.gthread import TConn

from cloud_server.balance import BalancedThreadWorker

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024
DRAIN_LIMIT = 64 * 1024 * 1024  # as the app's: a too-large body is read and discarded up to this much
SWEEP_S = 0.1
STOP_LINGER_S = 2.0  # a stopping worker keeps idle connections this long at most (as gunicorn's gthread)
RECV_BYTES = 65536
ACCEPT_BATCH = 32

# reading phases of a connection
IDLE, HEAD, BODY, CHUNKED, DISCARD, BUSY, CLOSING = "idle", "head", "body", "chunked", "discard", "busy", "closing"
# states of the chunked-body scanner
SIZE, DATA, DATA_END, TRAILER = range(4)


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
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Framing:
    """Where a request's body ends, read from its header block.

    ``length``: the body's declared size (0 if none); ``chunked``: chunked transfer coding;
    ``unknown``: framing this reader does not trust (conflicting or malformed lengths, a coding other
    than chunked): the request is handed over as it is, gunicorn's parser answers it (400 or 501) and
    the connection closes. ``expect``: the client waits for ``100 Continue`` before sending its body.
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
            elif key == b"transfer-encoding":
                codings += [c.strip().lower() for c in value.split(b",")]
            elif key == b"expect" and value.strip().lower() == b"100-continue" and self.http11:
                self.expect = True
                continue  # answered here: the app must not send a second 100 Continue after the body
            kept.append(line)
        self.head = b"\r\n".join(kept)
        self.length, self.chunked, self.unknown = 0, False, False
        if codings:
            self.chunked = codings[-1] == b"chunked" and not lengths
            self.unknown = not self.chunked
        elif lengths:
            value = lengths.pop()
            if lengths or not value.isdigit():
                self.unknown = True
            else:
                self.length = int(value)


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
        self.over_limit = False
        self.chunk_state, self.chunk_left, self.scan, self.decoded = SIZE, 0, 0, 0

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
        conn.must_close = conn.over_limit = False
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
            self._scan_chunks(conn)

    def _start_body(self, conn: FrontConn, framing: Framing, now: float) -> None:
        self.evictable.pop(conn, None)
        conn.head = framing.head + b"\r\n\r\n"
        conn.since, conn.deadline = now, now + LIMITS.body_timeout
        if framing.unknown:
            conn.must_close = True
            self._hand_over(conn, conn.head + bytes(conn.buf))
            conn.buf.clear()
        elif framing.chunked:
            conn.phase, conn.chunk_state, conn.scan, conn.decoded = CHUNKED, SIZE, 0, 0
            self._send_continue(conn, framing)
            self._scan_chunks(conn)
        elif framing.length > LIMITS.max_body_bytes:  # the app answers 413 from the declared length alone
            conn.must_close = True
            if framing.expect:  # the body has not been sent: answer at once
                self._hand_over(conn, conn.head)
                return
            conn.phase, conn.need = DISCARD, min(framing.length, DRAIN_LIMIT) - len(conn.buf)
            conn.buf.clear()
            if conn.need <= 0:
                self._hand_over(conn, conn.head)
        elif framing.length:
            conn.phase, conn.need = BODY, framing.length
            self._send_continue(conn, framing)
            self._advance(conn, now)
        else:
            self._hand_over(conn, conn.head)

    def _send_continue(self, conn: FrontConn, framing: Framing) -> None:
        if framing.expect and not conn.buf:
            with contextlib.suppress(OSError):
                conn.sock.send(CONTINUE)

    def _scan_chunks(self, conn: FrontConn) -> None:
        """Follow the chunked framing through what has arrived; hand the request over at its end.

        A body that grows past ``max_body_bytes`` is discarded as it arrives (up to ``DRAIN_LIMIT``)
        and the app is handed a stand-in one byte over the limit, so it answers its 413.
        """
        buf, pos = conn.buf, conn.scan
        while True:
            if conn.chunk_state == SIZE or conn.chunk_state == TRAILER:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    if len(buf) - pos > 4096:  # no sane size or trailer line is this long
                        conn.must_close = True
                        self._hand_over(conn, conn.head + bytes(buf))
                        return
                    break
                line = bytes(buf[pos:eol])
                pos = eol + 2
                if conn.chunk_state == TRAILER:
                    if not line:
                        self._chunks_done(conn, pos)
                        return
                    continue
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    conn.must_close = True
                    self._hand_over(conn, conn.head + bytes(buf))
                    return
                if size == 0:
                    conn.chunk_state = TRAILER
                else:
                    conn.chunk_state, conn.chunk_left = DATA, size
                    conn.decoded += size
            elif conn.chunk_state == DATA:
                take = min(conn.chunk_left, len(buf) - pos)
                pos += take
                conn.chunk_left -= take
                if conn.chunk_left:
                    break
                conn.chunk_state = DATA_END
            else:  # DATA_END
                if len(buf) - pos < 2:
                    break
                pos += 2
                conn.chunk_state = SIZE
        if conn.decoded > LIMITS.max_body_bytes or conn.over_limit:
            conn.over_limit = True
            del buf[:pos]
            pos = 0
            if conn.decoded > DRAIN_LIMIT:
                self._chunks_done(conn, 0)
                return
        conn.scan = pos

    def _chunks_done(self, conn: FrontConn, end: int) -> None:
        if conn.over_limit:
            conn.must_close = True
            over = LIMITS.max_body_bytes + 1
            body = f"{over:x}\r\n".encode() + bytes(over) + b"\r\n0\r\n\r\n"
            del conn.buf[:end]
        else:
            body = bytes(conn.buf[:end])
            del conn.buf[:end]
        conn.scan = 0
        self._hand_over(conn, conn.head + body)

    # --- to a thread and back -----------------------------------------------------------------------
    def _hand_over(self, conn: FrontConn, request: bytes) -> None:
        self._forget(conn)
        conn.phase, conn.served = BUSY, True
        if conn.must_close:
            conn.buf.clear()
        conn.parser = http.get_parser(self.cfg, iter([request]), conn.client)
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
