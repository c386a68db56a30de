"""Log hygiene for long-running processes: a filter that lets a repeated line through once a minute.

A kiosk without its camera or with a revoked key meets the same problem many times a second; the
journal should say so once, then how often it went on, not fill the SD card.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

MAX_LINES = 1024  # distinct lines remembered: lines with ever-new values must not grow memory for months


class RepeatFilter(logging.Filter):
    """Pass the first record of each (logger, level, message as written), then at most one per ``every`` s.

    Lines are compared with their values filled in: a promotion to v2 and a rollback to v1 are two
    lines, both logged; only the very same line again is held back.

    The one let through after a quiet spell says how many like it were held back. Attach it to a
    handler (handler filters see the records of every logger below it).
    """

    def __init__(
        self, every: float = 60.0, clock: Callable[[], float] = time.monotonic, max_lines: int = MAX_LINES
    ) -> None:
        super().__init__()
        self.every, self._clock, self.max_lines = every, clock, max_lines
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, int, str], list] = {}  # key -> [time passed, suppressed since]

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, record.getMessage())
        now = self._clock()
        with self._lock:
            entry = self._seen.get(key)
            if entry is not None and now - entry[0] < self.every:
                entry[1] += 1
                return False
            held = entry[1] if entry is not None else 0
            self._seen.pop(key, None)
            self._seen[key] = [now, 0]  # newest last: the oldest lines are forgotten first
            if len(self._seen) > self.max_lines:
                self._forget(now)
        if held:
            record.msg = f"{record.getMessage()} ({held} more like this in the last {now - entry[0]:.0f} s)"
            record.args = None
        return True

    def _forget(self, now: float) -> None:
        """Drop lines quiet for ``every`` (their next one passes anyway), then the oldest beyond the cap."""
        for old in [k for k, (t, held) in self._seen.items() if now - t >= self.every and not held]:
            del self._seen[old]
        while len(self._seen) > self.max_lines:
            del self._seen[next(iter(self._seen))]


def install_repeat_filter(every: float = 60.0) -> RepeatFilter:
    """Add one RepeatFilter to every handler of the root logger; return it."""
    flt = RepeatFilter(every)
    for handler in logging.getLogger().handlers:
        handler.addFilter(flt)
    return flt
