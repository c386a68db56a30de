"""Cutting the frame stream into windows for the model.

A sign starts when a hand appears and ends after ``end_after`` frames without one. While a sign
goes on, a window of the last ``frames`` frames is emitted every ``stride`` frames; when it ends, the
frames not yet covered are emitted once more. Windows with fewer than ``min_hand_frames`` frames
holding a hand are never emitted.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

import numpy as np

from edge_client.sources import Frame


@dataclass(frozen=True)
class Window:
    """Frames to classify: ``frames`` (T, 126) float32, the last frame's index, the majority truth."""

    frames: np.ndarray
    last_index: int
    truth: str | None
    final: bool


class Windower:
    """Stateful: feed frames with ``push``, get the windows they complete."""

    def __init__(self, frames: int = 30, stride: int = 10, min_hand_frames: int = 6, end_after: int = 4) -> None:
        if stride < 1 or frames < 2 or min_hand_frames < 1 or end_after < 1:
            raise ValueError("bad windowing settings")
        self.frames, self.stride, self.min_hand_frames, self.end_after = (
            frames,
            stride,
            min_hand_frames,
            end_after,
        )
        self._buf: deque[Frame] = deque(maxlen=frames)
        self._since_emit = 0
        self._empty_run = 0
        self._active = False

    def _window(self, final: bool) -> Window | None:
        frames = list(self._buf)
        while frames and not frames[-1].has_hand:
            frames.pop()
        if sum(f.has_hand for f in frames) < self.min_hand_frames:
            return None
        truths = Counter(f.truth for f in frames if f.truth is not None)
        truth = truths.most_common(1)[0][0] if truths else None
        return Window(np.stack([f.landmarks for f in frames]), frames[-1].index, truth, final)

    def push(self, frame: Frame) -> list[Window]:
        """Add a frame; return the windows (zero or one) it completes."""
        out: list[Window] = []
        if frame.has_hand:
            self._active = True
            self._empty_run = 0
        elif self._active:
            self._empty_run += 1
        if not self._active:
            return out
        self._buf.append(frame)
        self._since_emit += 1
        if self._empty_run >= self.end_after:
            if self._since_emit > self._empty_run and (w := self._window(final=True)):
                out.append(w)
            self._buf.clear()
            self._since_emit = 0
            self._active = False
            self._empty_run = 0
        elif len(self._buf) == self.frames and self._since_emit >= self.stride and frame.has_hand:
            if w := self._window(final=False):
                out.append(w)
            self._since_emit = 0
        return out

    def flush(self) -> list[Window]:
        """End of stream: the last partial window, by the same rules."""
        if self._active and self._since_emit > self._empty_run and (w := self._window(final=True)):
            self._buf.clear()
            self._active = False
            return [w]
        return []
