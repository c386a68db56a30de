"""Spread keep-alive connections evenly over the gunicorn workers.

The kernel gives a new connection to whichever worker is first in ``accept``, and a keep-alive client
then stays on that worker. 16 clients over 2 workers split 8 + 8 only about 1 time in 5 at random
(9 + 7, 10 + 6, 11 + 5 and 12 + 4 were all seen), and the clients of the fuller worker wait longer.
Measured with ``bench server``'s load (16 clients, 15 s, 4 interleaved rounds, docs/benchmarks.md,
"a lean generator"): p99 33.0-39.4 ms balanced against 38.6-42.5 ms with plain gthread.

Each worker publishes how many connections it holds in a table every worker shares (an anonymous
shared mmap made when the arbiter imports this module, before it forks the workers), and accepts new
ones only while it holds no more than the least loaded of the others (beyond 8, a lead of 1 in 8 is
allowed: see ``may_accept``), so one always accepts. A worker
that has not published for ``STALE_S`` (still booting, stuck) does not count, and the arbiter clears
a dead worker's row at once (``forget``), so one bad worker cannot stop the rest from accepting.
While it is not accepting, a worker looks again every ``RECHECK_S`` instead of gunicorn's 1 s, so a
connection never waits long for a worker to take it. Imported only in a worker (no table shared), it
behaves as plain gthread.
"""

from __future__ import annotations

import mmap
import os
import time

import numpy as np
from gunicorn.workers.gthread import ThreadWorker

SLOTS = 128
STALE_S = 3.0
RECHECK_S = 0.01
EVERY_S = 0.01  # a look at the table costs ~30 us: at most one per 10 ms unless this worker's count changed
_ROW = np.dtype([("pid", "i8"), ("connections", "i8"), ("stamp", "f8")])  # stamp: time.monotonic()


def may_accept(mine: int, others: np.ndarray) -> bool:
    """Accept while holding no more connections than the least loaded other live worker (+1 in 8 beyond 8).

    Strict turns cost the worker whose turn it is up to ``RECHECK_S`` to notice: with 1024 connections
    opened at once the workers took them at about 30 a second, each waiting in the kernel's queue for
    up to 17 s (docs/server.md, "Slow and flooding clients"). Leading by 1 in 8 lets a turn take many;
    16 kiosks still split 8 + 8.
    """
    if not others.size:
        return True
    lowest = int(others.min())
    return mine <= lowest + lowest // 8


class ConnectionTable:
    """Each worker's open connections, in memory shared across ``fork``."""

    def __init__(self, slots: int = SLOTS) -> None:
        self.slots = slots
        self._mem = mmap.mmap(-1, slots * _ROW.itemsize)  # anonymous and shared: forked workers see each other
        self._rows = np.frombuffer(self._mem, _ROW)

    def publish(self, slot: int, pid: int, connections: int, now: float) -> None:
        self._rows[slot] = (pid, connections, now)

    def forget(self, pid: int) -> None:
        """Clear the rows of a worker that exited (the arbiter's ``child_exit``)."""
        self._rows["pid"][self._rows["pid"] == pid] = 0

    def live_pids(self, now: float) -> set[int]:
        """Workers that published within ``STALE_S``: booted (their app loaded) and serving."""
        live = (self._rows["pid"] != 0) & (now - self._rows["stamp"] < STALE_S)
        return {int(pid) for pid in self._rows["pid"][live]}

    def others(self, slot: int, now: float) -> np.ndarray:
        """Connections of every other worker that published within ``STALE_S``."""
        live = (self._rows["pid"] != 0) & (now - self._rows["stamp"] < STALE_S)
        live[slot] = False
        return self._rows["connections"][live]


TABLE = ConnectionTable()


class BalancedThreadWorker(ThreadWorker):
    """gunicorn's threaded worker, accepting only while it is among the least loaded (see the module)."""

    _accept_allowed = True
    _looked = (-1, 0.0)  # (own connections, time) at the last look at the table

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._slot = self.age % TABLE.slots

    @property
    def worker_connections(self) -> int:
        """gunicorn's loop accepts while ``nr_conns < worker_connections``: the cap, or none while loaded."""
        return self._cap if self._accept_allowed else self.nr_conns

    @worker_connections.setter
    def worker_connections(self, value: int) -> None:
        self._cap = value

    def notify(self) -> None:
        """Called by the loop once per pass: heartbeat, publish, decide whether to accept."""
        super().notify()
        now = time.monotonic()
        if self.nr_conns == self._looked[0] and now - self._looked[1] < EVERY_S:
            return
        self._looked = (self.nr_conns, now)
        TABLE.publish(self._slot, os.getpid(), self.nr_conns, now)
        self._accept_allowed = may_accept(self.nr_conns, TABLE.others(self._slot, now))

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        super().wait_for_and_dispatch_events(timeout if self._accept_allowed else min(timeout, RECHECK_S))
