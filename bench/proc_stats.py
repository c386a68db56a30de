"""CPU seconds and resident memory of a process and all its descendants, read from /proc (Linux).

A server under test is a tree (gunicorn's arbiter and workers; a framework's HTTP and inference
processes): ``tree_cpu`` sums each member's own and reaped children's CPU (utime, stime, cutime,
cstime), so the difference of two samples counts every process that ran in between, including one
that exited and was reaped by a member of the tree.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from shared.app.memory import descendants, resident_kb

__all__ = ["ProcStat", "descendants", "read_stat", "rss_mb", "tree_cpu", "tree_rss_mb"]

PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK")


class ProcStat(NamedTuple):
    """The fields of ``/proc/PID/stat`` this module uses."""

    ppid: int
    cpu_s: float  # utime + stime + cutime + cstime: its own CPU and that of its reaped children


def read_stat(pid: int, proc: Path = PROC) -> ProcStat | None:
    """``/proc/PID/stat`` of ``pid``, or None if it is gone."""
    try:
        text = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()  # the name in parentheses may hold spaces
    ticks = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return ProcStat(int(fields[1]), ticks / _TICKS)


def tree_cpu(root: int) -> float:
    """CPU seconds so far of ``root``'s tree (its live members and the children they reaped)."""
    return sum(st.cpu_s for pid in descendants(root) if (st := read_stat(pid)) is not None)


def rss_mb(pid: int) -> float | None:
    """Resident memory of ``pid`` in MB (VmRSS; pages shared with other processes count in each), or None."""
    try:
        return resident_kb(pid)[0] / 1024
    except OSError:  # gone, or exiting
        return None


def tree_rss_mb(root: int) -> list[float]:
    """Resident MB of each process in ``root``'s tree, largest first."""
    return sorted((r for pid in descendants(root) if (r := rss_mb(pid)) is not None), reverse=True)
