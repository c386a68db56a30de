"""Keeps a worker's model current: a model folder an operator repoints, or the registry's pointer.

The one owner of "keep the served model current": ``ModelWatcher`` runs the worker's only loop,
asking its source when to look next (the folder's interval, or the registry sync's interval with
its backoff and jitter after failures). Sources of a reload: the poll, an admin call
(``POST /admin/reload``, which also touches a request file every worker of the server watches), and
``SIGHUP`` (gunicorn replaces its workers gracefully and each new worker loads the current model
before it accepts a request). A load that fails leaves the old model serving; the same failing
version is not retried until it changes."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import Protocol

from cloud_server.model_holder import ModelHolder
from shared.model.bundle import MANIFEST

log = logging.getLogger(__name__)
RELOAD_FILE = "reload-request"


class ModelSource(Protocol):
    """Where the model comes from; ``check`` loads a new one into the holder when there is one."""

    def prime(self) -> None: ...

    def check(self) -> str: ...

    def next_delay(self) -> float: ...

    def describe(self) -> str: ...


class FolderSource:
    """A bundle folder, usually a symlink (``current -> v7``) that an operator repoints atomically."""

    def __init__(self, folder: Path, holder: ModelHolder, interval: float = 30.0) -> None:
        self._folder = folder
        self._holder = holder
        self._interval = interval
        self._seen: tuple[str, str] | None = None  # (resolved path, manifest sha256) last tried

    def _identity(self) -> tuple[str, str]:
        resolved = os.path.realpath(self._folder)
        digest = hashlib.sha256((Path(resolved) / MANIFEST).read_bytes()).hexdigest()
        return resolved, digest

    def prime(self) -> None:
        """Load the folder's model now; raise if it cannot be loaded (a worker must not start without one)."""
        ident = self._identity()
        self._holder.load(ident[0])
        self._seen = ident

    def check(self) -> str:
        try:
            ident = self._identity()
        except OSError as err:
            log.warning("model folder %s unreadable, keeping the current model: %s", self._folder, err)
            return "unreadable"
        if ident == self._seen:
            return "unchanged"
        self._seen = ident
        try:
            self._holder.load(ident[0])
        except Exception:
            return "rejected"
        return "updated"

    def next_delay(self) -> float:
        return self._interval

    def describe(self) -> str:
        return str(self._folder)


class StoreSource:
    """The registry's ``current`` pointer for one model name, through ``shared.registry.sync.ModelSync``."""

    def __init__(self, sync, startup_wait: float) -> None:  # a ModelSync whose on_update is the holder's load
        self._sync = sync
        self._startup_wait = startup_wait

    def prime(self) -> None:
        """The start-up policy every follower shares (``ModelSync.prime``): the store first, for up to
        ``startup_wait`` seconds, else the cached last good version. Never raises: a worker with
        neither answers 503 on /ready until the store gives a good version."""
        outcome = self._sync.prime(self._startup_wait)
        if self._sync.applied_version is None:
            waiting = "one is promoted" if outcome == "unchanged" else "the store gives a good version (see above)"
            log.error("registry check: %s and no cached version: not ready until %s", outcome, waiting)

    def check(self) -> str:
        return self._sync.check_once()

    def next_delay(self) -> float:
        return self._sync.next_delay()

    def describe(self) -> str:
        return f"registry model {self._sync.name!r}"


class ModelWatcher:
    """Checks ``source`` when it says (``next_delay``) and on reload requests, in a daemon thread."""

    def __init__(self, source: ModelSource, state_dir: Path | None = None, tick: float = 0.5) -> None:
        self.source = source
        self._request_file = state_dir / RELOAD_FILE if state_dir is not None else None
        self._tick = tick
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._request_seen = self._request_stamp()

    def _request_stamp(self) -> int | None:
        if self._request_file is None:
            return None
        try:
            return self._request_file.stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def check_now(self, *, polled: bool = False) -> str:
        """Check the source once (serialised with the poll loop); log the outcome at INFO, except a
        routine poll that found nothing new (DEBUG: one line per worker per interval is noise)."""
        with self._lock:
            outcome = self.source.check()
        level = logging.DEBUG if polled and outcome == "unchanged" else logging.INFO
        log.log(level, "model check (%s): %s", self.source.describe(), outcome)
        return outcome

    def request_reload(self) -> str:
        """Reload here now, and ask the other workers to (they see the request within a tick)."""
        if self._request_file is not None:
            self._request_file.parent.mkdir(parents=True, exist_ok=True)
            self._request_file.write_text(f"{time.time()}\n")
            self._request_seen = self._request_stamp()
        return self.check_now()

    def start(self) -> None:
        """Start polling (in the worker, after gunicorn's fork)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="model-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        next_poll = time.monotonic() + self.source.next_delay()
        while not self._stop.wait(self._tick):
            stamp = self._request_stamp()
            due = time.monotonic() >= next_poll
            requested = stamp != self._request_seen
            if requested or due:
                self._request_seen = stamp
                try:
                    self.check_now(polled=not requested)
                except Exception:  # the loop must outlive any one failure
                    log.exception("model check failed")
                next_poll = time.monotonic() + self.source.next_delay()
