"""The model in use, swapped only once its successor is loaded, verified and warm: the server's
``ModelHolder`` and the kiosk's local ``ModelSlot`` are both this.

Readers take ``current`` once per request and never wait; one load runs at a time. A load that
fails leaves the old model in use and raises. ``on_loaded(new, previous)`` and
``on_failed(path, error)`` are given at construction (metrics, the kiosk's version header, the
server's heap settling) and told about every attempt.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, Protocol, TypeVar

log = logging.getLogger(__name__)


class HasManifest(Protocol):
    manifest: object  # shared.model.bundle.Manifest: its name and version are logged


M = TypeVar("M", bound=HasManifest)


class HotSwap(Generic[M]):
    """Holds the current model of type M, made by ``loader(path)``.

    Args:
        loader: loads, verifies and warms up the model in a bundle folder; raises if it cannot.
        what: how the log names it: "serving <what> NAME VERSION from PATH" ("model", "local model").
        logger: where loads and failures are logged (the owner's module logger: operators grep it).
    """

    def __init__(
        self,
        loader: Callable[[Path], M],
        *,
        on_loaded: Callable[[M, M | None], None] | None = None,
        on_failed: Callable[[Path, Exception], None] | None = None,
        what: str = "model",
        logger: logging.Logger = log,
    ) -> None:
        self._loader, self._what, self._log = loader, what, logger
        self._on_loaded, self._on_failed = on_loaded, on_failed
        self._current: M | None = None
        self._lock = threading.Lock()  # one load at a time; readers never wait

    @property
    def current(self) -> M | None:
        """The model to use for one whole request (read once, so a swap cannot split an answer)."""
        return self._current

    def load(self, path: str | Path) -> M:
        """Load ``path`` and make it current; on failure the old one stays in use and it raises."""
        with self._lock:
            try:
                candidate = self._loader(Path(path))
            except Exception as err:
                if self._current is None:
                    self._log.error("%s load from %s failed (no model loaded yet): %s", self._what, path, err)
                else:
                    self._log.error("%s load from %s failed, the current one stays in use: %s", self._what, path, err)
                if self._on_failed is not None:
                    self._on_failed(Path(path), err)
                raise
            previous, self._current = self._current, candidate
        m = candidate.manifest
        self._log.info("serving %s %s %s from %s", self._what, m.name, m.version, path)
        if self._on_loaded is not None:
            self._on_loaded(candidate, previous)
        return candidate
