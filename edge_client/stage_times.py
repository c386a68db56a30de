"""Where a frame's time goes in the running pipeline: one ``perf_counter`` delta per stage and item.

The pipeline's threads record their own stages as they run them (the kiosk's numbers, not a
benchmark's copy of the pipeline):

- ``decode``: the source reading and converting one picture (a file: read + resize + colour; a
  camera: resize + colour, since its read waits for the next frame), per frame;
- ``landmarks``: the hand landmarker on one picture, per frame;
- ``window``: frame-rate sampling, buffering and cutting windows, per frame;
- ``answer``: answering one window, whoever answers (the server's round trip, or the local model), per window;
- ``features`` and ``model``: inside a local answer, the normalisation/features and the TFLite model
  itself, per window.

Bounded: the last ``keep`` values per stage (for percentiles) and a running count and total. Adding
is an append under a lock, cheap enough for the camera loop.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

import numpy as np

STAGES = ("decode", "landmarks", "window", "answer", "features", "model")
PER_FRAME = ("decode", "landmarks", "window")


class StageTimes:
    """Seconds per item for each stage in ``STAGES``; written by several threads, read by the status."""

    def __init__(self, keep: int = 1000) -> None:
        self._recent: dict[str, deque[float]] = {s: deque(maxlen=keep) for s in STAGES}
        self._count = dict.fromkeys(STAGES, 0)
        self._total = dict.fromkeys(STAGES, 0.0)
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float) -> None:
        """Record one item's time in ``stage`` (one of ``STAGES``)."""
        with self._lock:
            self._recent[stage].append(seconds)
            self._count[stage] += 1
            self._total[stage] += seconds

    def values_ms(self, stage: str) -> list[float]:
        """The recent times of ``stage`` in milliseconds, oldest first."""
        with self._lock:
            return [v * 1000 for v in self._recent[stage]]

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per stage with at least one item: count, total seconds, and the recent p50/p90/mean in ms."""
        out: dict[str, dict[str, Any]] = {}
        with self._lock:
            recent = {s: np.asarray(v, np.float64) * 1000 for s, v in self._recent.items()}
            counts, totals = dict(self._count), dict(self._total)
        for stage in STAGES:
            ms = recent[stage]
            if not len(ms):
                continue
            out[stage] = {
                "n": counts[stage],
                "total_s": round(totals[stage], 6),
                "p50_ms": round(float(np.percentile(ms, 50)), 3),
                "p90_ms": round(float(np.percentile(ms, 90)), 3),
                "mean_ms": round(float(ms.mean()), 3),
                "per": "frame" if stage in PER_FRAME else "window",
            }
        return out
