"""Slow and idle clients held open against a server, and a steady client measuring latency meanwhile.

``SlowClients`` opens connections that trickle their headers one line a second (``headers``), send
complete headers and then a declared body one byte a second (``body``), or send nothing (``idle``).
One thread trickles every socket and notes when the server closes each (EOF, reset, or an answer
such as 408). ``Prober`` runs requests in a loop on one keep-alive connection and keeps each
latency with its start time.
"""

from __future__ import annotations

import contextlib
import resource
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

HEADERS, BODY, IDLE = "headers", "body", "idle"


def raise_fd_limit(needed: int) -> None:
    """Raise the soft open-file limit to ``needed`` (tests hold hundreds of sockets)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise RuntimeError(f"the hard open-file limit {hard} is under the {needed} this test needs")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


@dataclass
class SlowConn:
    kind: str
    sock: socket.socket
    opened: float
    closed: float | None = None  # time.monotonic() when the server closed it
    answer: bytes = b""


@dataclass
class SlowClients:
    """Connections held open against ``port`` on 127.0.0.1, trickled once a ``period``."""

    port: int
    path: str = "/predict"
    period: float = 1.0
    body_length: int = 100000  # the Content-Length a BODY client announces (and never sends)
    conns: list[SlowConn] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._sel = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)
        self._thread.start()

    def open(self, kind: str, n: int) -> None:
        """Open ``n`` connections of ``kind`` and send their first bytes."""
        if kind == HEADERS:
            first = f"POST {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
        elif kind == BODY:
            first = (f"POST {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {self.body_length}\r\n\r\n{{").encode()  # fmt: skip
        else:
            first = b""
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=10)  # not under the lock: may wait
            s.setblocking(False)
            if first:
                s.send(first)
            conn = SlowConn(kind, s, time.monotonic())
            with self._lock:
                self.conns.append(conn)
                self._sel.register(s, selectors.EVENT_READ, conn)

    def _run(self) -> None:
        next_trickle = time.monotonic() + self.period
        while not self._stop.is_set():
            events = self._sel.select(timeout=0.02) if self._sel.get_map() else []
            with self._lock:
                for key, _ in events:
                    self._readable(key.data)
                if time.monotonic() >= next_trickle:
                    next_trickle += self.period
                    for conn in self.conns:
                        if conn.closed is None and conn.kind != IDLE:
                            try:
                                conn.sock.send(b"X-Slow: 1\r\n" if conn.kind == HEADERS else b"1")
                            except BlockingIOError:
                                pass
                            except OSError:
                                self._mark_closed(conn)
            if not events:
                time.sleep(0.02)

    def _readable(self, conn: SlowConn) -> None:
        try:
            data = conn.sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            conn.answer += data
        self._mark_closed(conn)  # these clients never finish a request: any answer ends them

    def _mark_closed(self, conn: SlowConn) -> None:
        if conn.closed is None:
            conn.closed = time.monotonic()
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(conn.sock)

    def open_count(self, kind: str | None = None) -> int:
        with self._lock:
            return sum(1 for c in self.conns if c.closed is None and kind in (None, c.kind))

    def lifetimes(self, kind: str) -> np.ndarray:
        """Seconds from opening to the server's close, for the closed connections of ``kind``."""
        with self._lock:
            return np.array([c.closed - c.opened for c in self.conns if c.kind == kind and c.closed is not None])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.sock.close()
        self._sel.close()


class Prober:
    """Calls ``request`` in a loop in a thread; keeps (start time, latency ms, ok) for each call."""

    def __init__(self, request: Callable[[], bool], pause: float = 0.0) -> None:
        self.samples: list[tuple[float, float, bool]] = []
        self._request, self._pause = request, pause
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prober", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                ok = self._request()
            except Exception:
                ok = False
            self.samples.append((t0, (time.monotonic() - t0) * 1000, ok))
            if self._pause:
                time.sleep(self._pause)

    def between(self, start: float, end: float) -> tuple[np.ndarray, int]:
        """Latencies (ms) of the calls started in [start, end), and how many of them failed."""
        picked = [(ms, ok) for t, ms, ok in list(self.samples) if start <= t < end]
        return np.array([ms for ms, _ in picked]), sum(1 for _, ok in picked if not ok)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
