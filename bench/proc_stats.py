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


def descendants(root: int, proc: Path = PROC) -> list[int]:
    """``root`` and every process below it, ``root`` first."""
    children: dict[int, list[int]] = {}
    for entry in proc.iterdir():
        if entry.name.isdigit() and (st := read_stat(int(entry.name), proc)) is not None:
            children.setdefault(st.ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop(0)
        out.append(pid)
        todo += sorted(children.get(pid, []))
    return out


def tree_cpu(root: int, proc: Path = PROC) -> float:
    """CPU seconds so far of ``root``'s tree (its live members and the children they reaped)."""
    return sum(st.cpu_s for pid in descendants(root, proc) if (st := read_stat(pid, proc)) is not None)


def rss_mb(pid: int, proc: Path = PROC) -> float | None:
    """Resident memory of ``pid`` in MB (VmRSS; pages shared with other processes count in each), or None."""
    try:
        for line in (proc / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def tree_rss_mb(root: int, proc: Path = PROC) -> list[float]:
    """Resident MB of each process in ``root``'s tree, largest first."""
    return sorted((r for pid in descendants(root, proc) if (r := rss_mb(pid, proc)) is not None), reverse=True)
