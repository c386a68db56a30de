"""Follow a model's ``current`` pointer: poll, pull into a local cache, hand the new bundle over.

The server runs one ModelSync per gunicorn worker (``on_update`` = ModelHolder.load; the worker's
ModelWatcher calls ``check_once`` when ``next_delay`` says) and the kiosk one for its TFLite
fallback (its own thread: ``start``); both build it with ``ModelSync.follow`` from the same
settings (``shared.registry.settings.FollowSettings``) and start it the same way (``prime``: the
store first, within a deadline, then the cached last good model). A store that cannot be reached,
a version that fails verification and a bundle that ``on_update`` refuses all leave the last good
model in use; every check ends in one outcome that is logged and counted. Errors back off
exponentially (with jitter, so a fleet does not poll in step); the last applied version is
remembered in the cache so a restart with the store down still finds a verified model
(``latest_cached``).
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.app.atomic import atomic_file
from shared.app.deadline import call_within
from shared.app.errors import BundleError, SignstreamError
from shared.model.open_bundle import open_bundle
from shared.model.signing import load_public_key
from shared.registry.registry import LocalDiskError, Registry, RegistryError, check_name
from shared.registry.store import StoreError, open_store

if TYPE_CHECKING:
    from shared.registry.settings import FollowSettings

log = logging.getLogger(__name__)

UNCHANGED = "unchanged"
UPDATED = "updated"
STORE_ERROR = "store_error"
CACHE_ERROR = "cache_error"  # this machine cannot write its cache (disk full): the store is fine
BAD_VERSION = "bad_version"
REJECTED = "rejected"
ERROR = "error"  # a bug or an unexpected exception: logged with its traceback, the loop goes on
OUTCOMES = (UNCHANGED, UPDATED, STORE_ERROR, CACHE_ERROR, BAD_VERSION, REJECTED, ERROR)
FAILURES = (STORE_ERROR, CACHE_ERROR, BAD_VERSION, ERROR)
MARKER = ".last_good.json"


class ModelSync:
    """Keep ``cache_dir/<name>/<version>`` in step with the registry's current pointer.

    Args:
        registry: where the pointer and the bundles are.
        name: the model to follow.
        cache_dir: local cache; several processes may share it (pulls lock and rename atomically).
        on_update: called with the verified bundle folder; raising refuses that version until the
            pointer changes.
        interval: seconds between polls while all is well.
        max_backoff: longest wait between polls after repeated errors.
        public_key: refuse bundles and pointers not signed by this ed25519 key (PEM file), and a
            signed pointer whose serial is lower than the last one applied here (an old pointer
            written again).
        rng: random.Random for the jitter (tests pass a seeded one).
        clock: monotonic seconds (time.monotonic); sleep: wait between polls (default: interruptible by stop()).
        jitter: each delay is multiplied by a uniform factor in [1 - jitter, 1 + jitter].
        on_check: told the outcome of every check (the server's metrics).
    """

    def __init__(
        self,
        registry: Registry,
        name: str,
        cache_dir: str | Path,
        on_update: Callable[[Path], Any],
        *,
        interval: float = 30.0,
        max_backoff: float = 300.0,
        public_key: str | Path | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] | None = None,
        jitter: float = 0.2,
        on_check: Callable[[str], Any] | None = None,
    ):
        if interval <= 0 or max_backoff < interval:
            raise ValueError("need 0 < interval <= max_backoff")
        if not 0 <= jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        self.registry = registry
        self.name = check_name(name, "model name")
        self.folder = Path(cache_dir) / name
        self.on_update = on_update
        self.interval = interval
        self.max_backoff = max_backoff
        self.public_key = public_key
        if public_key is not None:
            load_public_key(public_key)  # a wrong key path is a start-up error, not a bad version later
        self.rng = rng or random.Random()
        self.clock = clock
        self.jitter = jitter
        self._on_check = on_check
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        self._thread: threading.Thread | None = None
        self._check_lock = threading.Lock()  # one check at a time (held over the network calls)
        self._apply_lock = threading.Lock()  # one hand-over at a time (a check's, or the cached model's)
        self._rejected: set[tuple[str, str]] = set()
        self.counters: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        self.failures = 0
        self.applied_version: str | None = None
        self.applied_serial = self._cached_serial()
        self.last_outcome: str | None = None
        self.last_good: Path | None = self.latest_cached()

    @classmethod
    def follow(
        cls, settings: FollowSettings, on_update: Callable[[Path], Any], *, on_check: Callable[[str], Any] | None = None
    ) -> ModelSync | None:
        """The sync ``settings`` ask for (None without a store): their store, name, cache, key and interval."""
        if not settings.store:
            return None
        return cls(
            Registry(open_store(settings.store)), settings.model_name, settings.cache_dir, on_update,
            interval=settings.poll_interval, max_backoff=max(300.0, settings.poll_interval * 10),
            public_key=settings.public_key, on_check=on_check,
        )  # fmt: skip

    # --- the cache -------------------------------------------------------------------------------

    def _verified(self, folder: Path) -> bool:
        try:
            manifest = open_bundle(folder, self.public_key, check_spec=False)
        except BundleError as err:
            log.warning("cached %s is not usable: %s", folder, err)
            return False
        return manifest.name == self.name and manifest.version == folder.name

    def latest_cached(self) -> Path | None:
        """The last version applied (by any process sharing the cache), if it is still there and verifies."""
        try:
            version = json.loads((self.folder / MARKER).read_text())["version"]
            folder = self.folder / check_name(version, "version")
        except (OSError, ValueError, KeyError, TypeError, RegistryError):
            return None
        return folder if folder.is_dir() and self._verified(folder) else None

    def _cached_serial(self) -> int:
        """The serial of the last pointer applied with this cache (0 if unknown)."""
        try:
            serial = json.loads((self.folder / MARKER).read_text()).get("serial", 0)
        except (OSError, ValueError, AttributeError):
            return 0
        return serial if isinstance(serial, int) and serial >= 0 else 0

    def _remember(self, folder: Path, serial: int) -> None:
        serial = max(serial, self._cached_serial())  # another process sharing the cache may have seen a later one
        try:
            with atomic_file(self.folder / MARKER, "w") as fh:
                json.dump({"version": folder.name, "serial": serial}, fh)
        except OSError as err:  # the model serves; only a restart during an outage would miss it
            log.warning("%s: cannot record the last good version in %s: %s", self.name, self.folder, err)

    def _pull(self, version: str) -> Path:
        target = self.folder / check_name(version, "version")  # a path part: never one the store chose freely
        if target.exists() and not self._verified(target):
            aside = self.folder / f".{version}.broken-{time.time_ns()}"
            os.replace(target, aside)  # keep it for inspection, never delete
            log.warning("moved the unverifiable cached copy %s to %s", target, aside)
        return self.registry.pull(self.name, version, target, self.public_key)

    # --- one check -------------------------------------------------------------------------------

    def apply_cached(self) -> bool:
        """Hand the cached last good model to ``on_update`` if nothing was applied yet; True if it was."""
        with self._apply_lock:
            path = self.last_good
            if path is None or self.applied_version is not None:
                return False
            try:
                self.on_update(path)
            except Exception as err:
                log.warning("%s: the cached model %s was refused: %s", self.name, path, err)
                return False
            self.applied_version = path.name
        log.info("%s: serving the cached model %s until the store answers", self.name, path)
        return True

    def prime(self, deadline: float, *, use_cache: bool = True) -> str | None:
        """Start-up: ask the store first, for up to ``deadline`` seconds; if that applies no model, hand
        over the cached last good one (if ``use_cache``: not when another model already serves).

        A check that outlasts the deadline goes on in the background and applies what it finds, so a
        slow or unreachable store delays a start by at most ``deadline``. Returns the first check's
        outcome, or None while it is still running.
        """
        done, outcome = call_within(deadline, self.check_once, f"model-sync-{self.name}-start")
        if not done:
            log.warning("%s: the registry did not answer within %.3g s; the check goes on", self.name, deadline)
        if use_cache and self.applied_version is None:
            self.apply_cached()
        return outcome

    def check_once(self) -> str:
        """Poll the pointer once and act on it; return the outcome (never raises)."""
        with self._check_lock:
            try:
                outcome, message, args = self._check()
            except Exception as err:
                log.exception("%s: sync check failed unexpectedly", self.name)
                outcome, message, args = ERROR, "unexpected %s: %s", (type(err).__name__, err)
            self.counters[outcome] += 1
            self.last_outcome = outcome
            self.failures = self.failures + 1 if outcome in FAILURES else 0
            level = logging.DEBUG if outcome == UNCHANGED else logging.INFO if outcome == UPDATED else logging.WARNING
            log.log(level, "%s sync %s: " + message, self.name, outcome, *args)
        if self._on_check is not None:
            self._on_check(outcome)
        return outcome

    def _check(self) -> tuple[str, str, tuple]:
        try:
            pointer = self.registry.current(self.name, self.public_key)
        except StoreError as err:
            return STORE_ERROR, "cannot read the pointer (%s); keeping %s", (err, self.last_good)
        except SignstreamError as err:
            return BAD_VERSION, "%s; keeping %s", (err, self.last_good)
        if pointer is None:
            return UNCHANGED, "nothing promoted yet", ()
        if self.public_key is not None and pointer.serial < self.applied_serial:
            message = "refusing the pointer to %s: its serial %d is below %d, applied here before (an old " \
                "pointer written again; if the store was recreated, remove %s); keeping %s"  # fmt: skip
            return BAD_VERSION, message, (pointer.version, pointer.serial, self.applied_serial, self.folder / MARKER,
                                          self.last_good)  # fmt: skip
        if pointer.version == self.applied_version:
            return UNCHANGED, "%s is current", (pointer.version,)
        return self._take(pointer)

    def _take(self, pointer) -> tuple[str, str, tuple]:
        """Pull the version ``pointer`` names and hand it over, unless it was refused before."""
        if (pointer.version, pointer.promoted_at) in self._rejected:
            return UNCHANGED, "%s was refused before; waiting for the pointer to change", (pointer.version,)
        try:
            path = self._pull(pointer.version)
        except LocalDiskError as err:
            return CACHE_ERROR, "cannot pull %s: %s; keeping %s", (pointer.version, err, self.last_good)
        except StoreError as err:
            return STORE_ERROR, "cannot pull %s (%s); keeping %s", (pointer.version, err, self.last_good)
        except SignstreamError as err:  # BundleError, SignatureError, RegistryError: the version is bad
            return BAD_VERSION, "refusing %s: %s; keeping %s", (pointer.version, err, self.last_good)
        with self._apply_lock:
            if pointer.version == self.applied_version:  # the cached copy was handed over meanwhile
                return UNCHANGED, "%s is current", (pointer.version,)
            try:
                self.on_update(path)
            except Exception as err:
                self._rejected.add((pointer.version, pointer.promoted_at))
                return REJECTED, "on_update refused %s (%s); keeping %s", (path, err, self.last_good)
            self.applied_version = pointer.version
            self.applied_serial = max(self.applied_serial, pointer.serial)
            self.last_good = path
        self._remember(path, self.applied_serial)
        done = "rolled back" if pointer.action == "rollback" else "promoted"
        return UPDATED, "now %s (%s by %s at %s)", (path, done, pointer.promoted_by, pointer.promoted_at)

    def next_delay(self) -> float:
        """Seconds to the next poll: ``interval``, doubled per consecutive failure up to ``max_backoff``, jittered."""
        base = self.interval * 2 ** max(0, self.failures - 1) if self.failures else self.interval
        base = min(base, self.max_backoff)
        return min(self.max_backoff, base * self.rng.uniform(1 - self.jitter, 1 + self.jitter))

    # --- the thread ------------------------------------------------------------------------------

    def start(self, *, wait_first: bool = False) -> None:
        """Poll in a daemon thread: at once, or (``wait_first``, after ``prime``) one interval from now."""
        if self._thread is not None:
            raise RuntimeError("already started")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(wait_first,), name=f"model-sync-{self.name}", daemon=True
        )
        self._thread.start()

    def _run(self, wait_first: bool) -> None:
        if wait_first:
            self._sleep(self.next_delay())
        while not self._stop.is_set():
            self.check_once()
            if self._stop.is_set():
                break
            self._sleep(self.next_delay())

    def stop(self, timeout: float | None = 10.0) -> None:
        """Ask the thread to stop and wait for it up to ``timeout`` seconds."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("%s: sync thread still busy after %s s", self.name, timeout)
            self._thread = None

    def status(self) -> dict[str, Any]:
        """A snapshot for health endpoints: applied version, last good folder, last outcome, counters."""
        return {
            "name": self.name,
            "applied_version": self.applied_version,
            "last_good": str(self.last_good) if self.last_good else None,
            "last_outcome": self.last_outcome,
            "failures": self.failures,
            "counters": dict(self.counters),
        }
