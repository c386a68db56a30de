"""systemd's notify protocol (Type=notify, WatchdogSec): READY=1, WATCHDOG=1, STOPPING=1 over $NOTIFY_SOCKET.

A few lines with the socket module instead of a dependency. Without $NOTIFY_SOCKET every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


def notify(state: str, env: dict[str, str] | None = None) -> bool:
    """Send ``state`` (e.g. "READY=1") to $NOTIFY_SOCKET; False when not run by systemd or on error."""
    address = (env if env is not None else os.environ).get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
        return True
    except OSError as err:
        log.warning("sd_notify %s failed: %s", state, err)
        return False


def watchdog_interval(env: dict[str, str] | None = None) -> float | None:
    """Seconds between WATCHDOG=1 pings (half of $WATCHDOG_USEC), or None without a watchdog."""
    env = env if env is not None else os.environ
    usec = env.get("WATCHDOG_USEC")
    pid = env.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2e6
    except ValueError:
        return None


class Watchdog:
    """Pings WATCHDOG=1 every ``interval`` seconds while ``healthy()`` is true, so a stuck client gets restarted."""

    def __init__(self, healthy: Callable[[], bool], interval: float, stop: threading.Event) -> None:
        self.healthy, self.interval, self.stop = healthy, interval, stop
        self.pings = 0
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            if self.healthy():
                self.pings += notify("WATCHDOG=1")
            else:
                log.warning("pipeline stalled: not pinging the systemd watchdog")

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float = 1.0) -> None:
        self._thread.join(timeout)
