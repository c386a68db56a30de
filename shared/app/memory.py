"""Resident memory of a process, from Linux's /proc: its RSS now and its peak, and its proportional share.

RSS counts every page a process has in RAM, shared libraries included; PSS divides each shared page
among the processes that map it, so PSS values of several processes (Chromium's) add up to what
they take together.
"""

from __future__ import annotations

from pathlib import Path


def _kb_fields(text: str, names: tuple[str, ...]) -> dict[str, int]:
    """``Name:   1234 kB`` lines of a /proc file -> {name: kB} for the ``names`` found."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key in names:
            out[key] = int(value.split()[0])
    return out


def resident_kb(pid: int | str = "self") -> tuple[int, int]:
    """(RSS now, peak RSS) of process ``pid`` in kB (VmRSS and VmHWM of /proc/<pid>/status).

    Raises:
        OSError if the process is gone or this is not Linux.
    """
    fields = _kb_fields(Path(f"/proc/{pid}/status").read_text(), ("VmRSS", "VmHWM"))
    if "VmRSS" not in fields:
        raise OSError(f"/proc/{pid}/status has no VmRSS (a kernel thread, or a process that is exiting)")
    return fields["VmRSS"], fields.get("VmHWM", fields["VmRSS"])


def resident_parts_kb(pid: int | str = "self") -> dict[str, int]:
    """RSS of ``pid`` split in kB: ``anon`` (heap, stacks, buffers), ``file`` (mapped files: code and
    libraries) and ``shmem`` (RssAnon, RssFile, RssShmem of /proc/<pid>/status)."""
    fields = _kb_fields(Path(f"/proc/{pid}/status").read_text(), ("RssAnon", "RssFile", "RssShmem"))
    if len(fields) < 3:
        raise OSError(f"/proc/{pid}/status has no RssAnon/RssFile/RssShmem (Linux before 4.5)")
    return {"anon": fields["RssAnon"], "file": fields["RssFile"], "shmem": fields["RssShmem"]}


def proportional_kb(pid: int | str = "self") -> int:
    """PSS of process ``pid`` in kB (/proc/<pid>/smaps_rollup): its share of the pages it maps."""
    fields = _kb_fields(Path(f"/proc/{pid}/smaps_rollup").read_text(), ("Pss",))
    if "Pss" not in fields:
        raise OSError(f"/proc/{pid}/smaps_rollup has no Pss")
    return fields["Pss"]


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (children, their children...), read from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # ended while listing
            continue
        ppid = int(text.rsplit(")", 1)[1].split()[1])  # the name in parentheses may hold spaces
        children.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out
