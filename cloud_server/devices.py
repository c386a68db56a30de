"""Which devices call the server: last request, the model version they run locally, counts.

Each worker keeps its own table in memory (one dict update per request, under a lock) and, when a
``state_dir`` is given, writes it to ``devices-<pid>.json`` at most once a second from a background
thread; ``/devices`` merges every worker's file, so the answer covers the whole server.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from shared.app.atomic import atomic_file

log = logging.getLogger(__name__)
MAX_DEVICES = 10_000  # a worker forgets the least recently seen device beyond this
MAX_ID_LENGTH = 128


@dataclass
class DeviceRecord:
    device: str
    last_seen: float
    last_status: int
    local_model_version: str | None
    key: str | None
    requests: int = 0
    errors: int = 0


def clean_device_id(value: str | None) -> str:
    """The device id as logged and listed: printable, bounded; ``anonymous`` when absent."""
    if not value:
        return "anonymous"
    text = "".join(ch for ch in value if ch.isprintable())[:MAX_ID_LENGTH]
    return text or "anonymous"


class DeviceTracker:
    """Per-worker device table with an optional periodic flush to ``state_dir``."""

    def __init__(self, state_dir: Path | None = None, flush_interval: float = 1.0) -> None:
        self._devices: dict[str, DeviceRecord] = {}
        self._lock = threading.Lock()
        self._dirty = threading.Event()
        self._state_dir = state_dir
        self._flush_interval = flush_interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self, device: str, status: int, local_version: str | None, key: str | None) -> None:
        """Count one answered request from ``device``."""
        now = time.time()
        with self._lock:
            rec = self._devices.get(device)
            if rec is None:
                if len(self._devices) >= MAX_DEVICES:
                    oldest = min(self._devices.values(), key=lambda r: r.last_seen)
                    del self._devices[oldest.device]
                rec = self._devices[device] = DeviceRecord(device, now, status, local_version, key)
            rec.last_seen, rec.last_status, rec.key = now, status, key
            if local_version:
                rec.local_model_version = local_version[:MAX_ID_LENGTH]
            rec.requests += 1
            rec.errors += status >= 400
        self._dirty.set()

    def snapshot(self) -> list[dict]:
        """This worker's table."""
        with self._lock:
            return [asdict(r) for r in self._devices.values()]

    def all_devices(self) -> list[dict]:
        """Every worker's table merged (newest record wins, counts summed), newest first."""
        rows = [self.snapshot()]
        if self._state_dir is not None:
            self.flush()
            mine = self._file()
            for path in self._state_dir.glob("devices-*.json"):
                if path == mine:
                    continue
                try:
                    rows.append(json.loads(path.read_text()))
                except (OSError, ValueError):
                    continue  # a file being replaced right now; the next call sees it
        merged: dict[str, dict] = {}
        for table in rows:
            for rec in table:
                cur = merged.get(rec["device"])
                if cur is None:
                    merged[rec["device"]] = dict(rec)
                    continue
                newer = rec if rec["last_seen"] > cur["last_seen"] else cur
                merged[rec["device"]] = {
                    **newer,
                    "requests": cur["requests"] + rec["requests"],
                    "errors": cur["errors"] + rec["errors"],
                }
        return sorted(merged.values(), key=lambda r: r["last_seen"], reverse=True)

    def _file(self) -> Path:
        assert self._state_dir is not None
        return self._state_dir / f"devices-{os.getpid()}.json"

    def flush(self) -> None:
        """Write this worker's table to its file (atomically) if it changed."""
        if self._state_dir is None or not self._dirty.is_set():
            return
        self._dirty.clear()
        data = json.dumps(self.snapshot()).encode()
        try:
            with atomic_file(self._file()) as fh:
                fh.write(data)
        except OSError as err:
            log.warning("cannot write the device table: %s", err)

    def start(self) -> None:
        """Flush in the background (call in the worker, after gunicorn's fork)."""
        if self._state_dir is None or self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.wait(self._flush_interval):
                self.flush()

        self._thread = threading.Thread(target=loop, name="device-flush", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.flush()
