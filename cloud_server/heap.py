"""The worker's Python heap: keep the garbage collector's full passes off the request path.

A worker holds about 400 000 long-lived objects (TensorFlow, the loaded model, the app). CPython's
cyclic collector walks them all in a full (generation 2) pass: 190-240 ms here, during which the
worker answers nothing. ``settle`` collects once, then freezes what is alive out of the collector's
view (``gc.freeze``), so later passes see only new objects (0.4-0.5 ms measured under load).

A model swap leaves the old model to be collected; its objects were frozen, so the next settle, a
few seconds after the swap (when requests still using the old model are done), unfreezes, collects
and freezes again.
"""

from __future__ import annotations

import gc
import logging
import threading
import time

log = logging.getLogger(__name__)
AFTER_SWAP_S = 5.0


def settle() -> float:
    """Collect everything collectable, then freeze the survivors; returns the seconds it took."""
    t0 = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    seconds = time.perf_counter() - t0
    log.info("heap settled in %.0f ms: %d objects frozen", seconds * 1000, gc.get_freeze_count())
    return seconds


def settle_later(delay: float = AFTER_SWAP_S) -> threading.Timer:
    """``settle`` on a daemon timer ``delay`` seconds from now (after a model swap)."""
    timer = threading.Timer(delay, settle)
    timer.daemon = True
    timer.name = "heap-settle"
    timer.start()
    return timer
