"""The pipeline's counts (frames, windows, answers, latencies): kept by its threads, read by the
status, ``/metrics`` and the summary."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import numpy as np


class Counters:
    """Counts kept by the pipeline's threads (each count has one writing thread)."""

    def __init__(self) -> None:
        self.frames_captured = 0
        self.frames_dropped = 0
        self.frames_processed = 0
        self.frames_with_hands = 0
        self.windows_sent = 0
        self.windows_dropped = 0
        self.answers_cloud = 0
        self.answers_local = 0
        self.unanswered = 0
        self.errors = 0
        self.labels_shown = 0
        self.answer_latency_ms: deque[float] = deque(maxlen=500)
        self.label_latency_ms: deque[float] = deque(maxlen=500)
        self.started = time.monotonic()
        self._fps_mark = (self.started, 0)
        self.fps = 0.0

    def update_fps(self) -> float:
        """Frames processed per second since the last call (at least a second apart)."""
        now = time.monotonic()
        t0, n0 = self._fps_mark
        if now - t0 >= 1.0:
            self.fps = (self.frames_processed - n0) / (now - t0)
            self._fps_mark = (now, self.frames_processed)
        return self.fps

    def snapshot(self) -> dict[str, Any]:
        """Every count, latency percentiles (ms) and the processing rate, as plain numbers."""

        def pct(values: deque[float], q: float) -> float | None:
            return round(float(np.percentile(list(values), q)), 1) if values else None

        return {
            "frames_captured": self.frames_captured,
            "frames_dropped": self.frames_dropped,
            "frames_processed": self.frames_processed,
            "frames_with_hands": self.frames_with_hands,
            "windows_sent": self.windows_sent,
            "windows_dropped": self.windows_dropped,
            "answers_cloud": self.answers_cloud,
            "answers_local": self.answers_local,
            "unanswered": self.unanswered,
            "errors": self.errors,
            "labels_shown": self.labels_shown,
            "answer_latency_p50_ms": pct(self.answer_latency_ms, 50),
            "answer_latency_p95_ms": pct(self.answer_latency_ms, 95),
            "label_latency_p50_ms": pct(self.label_latency_ms, 50),
            "label_latency_p95_ms": pct(self.label_latency_ms, 95),
            "fps": round(self.fps, 1),
            "fps_mean": round(self.frames_processed / max(1e-9, time.monotonic() - self.started), 1),
            "uptime_s": round(time.monotonic() - self.started, 1),
        }
