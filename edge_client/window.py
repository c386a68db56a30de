"""Cutting the frame stream into windows for the model.

Frames first go through a ``FrameSampler`` that puts them on the model's frame-rate grid (a 30 fps
camera keeps every other frame, a 7 fps one repeats frames), so a window always spans
``frames / fps`` seconds. A sign starts when a hand appears and ends after ``end_after`` frames
without one. While a sign goes on, a window of the last ``frames`` frames is emitted every
``stride`` frames; when it ends, the frames not yet covered are emitted once more, followed by a
``SignEnd``. Windows with fewer than ``min_hand_frames`` frames holding a hand are never emitted.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

import numpy as np

from edge_client.frames import Frame


@dataclass(frozen=True)
class Window:
    """Frames to classify: ``frames`` (T, 126) float32, the last frame's index, the majority truth.

    ``sign`` numbers the sign (hands-present run) it belongs to; ``captured`` is the monotonic time
    its last frame was captured (for label latency), ``began`` when its first one was.
    """

    frames: np.ndarray
    last_index: int
    truth: str | None
    final: bool
    sign: int = 0
    captured: float = 0.0
    began: float = 0.0


@dataclass(frozen=True)
class SignEnd:
    """The hands left (or the stream ended): sign number ``sign`` is over."""

    sign: int
    last_index: int


class FrameSampler:
    """Frames on a fixed ``fps`` grid by their timestamps: faster input is thinned, slower is repeated."""

    def __init__(self, fps: float, max_repeat: int = 4) -> None:
        if fps <= 0:
            raise ValueError("fps must be positive")
        self.period = 1.0 / fps
        self.max_repeat = max_repeat
        self._next: float | None = None

    def push(self, frame: Frame) -> list[Frame]:
        """The frame as many times (0, 1 or more) as grid ticks it covers."""
        if self._next is None or frame.timestamp - self._next > self.max_repeat * self.period:
            self._next = frame.timestamp  # start, or a long gap: restart the grid here
        n = 0
        eps = self.period * 1e-3
        while self._next <= frame.timestamp + eps and n < self.max_repeat:
            self._next += self.period
            n += 1
        return [frame] * n


class Windower:
    """Stateful: feed frames with ``push``, get the windows (and sign ends) they complete."""

    def __init__(self, frames: int = 30, stride: int = 10, min_hand_frames: int = 6, end_after: int = 4) -> None:
        if stride < 1 or frames < 2 or min_hand_frames < 1 or end_after < 1:
            raise ValueError("bad windowing settings")
        self.frames, self.stride = frames, stride
        self.min_hand_frames, self.end_after = min_hand_frames, end_after
        self._buf: deque[Frame] = deque(maxlen=frames)
        self._since_emit = 0
        self._empty_run = 0
        self._active = False
        self.sign = 0

    def _window(self, final: bool) -> Window | None:
        frames = list(self._buf)
        while frames and not frames[-1].has_hand:
            frames.pop()
        if sum(f.has_hand for f in frames) < self.min_hand_frames:
            return None
        truths = Counter(f.truth for f in frames if f.truth is not None)
        truth = truths.most_common(1)[0][0] if truths else None
        last = frames[-1]
        return Window(np.stack([f.landmarks for f in frames]), last.index, truth, final, self.sign, last.captured,
                      frames[0].captured)  # fmt: skip

    def _end(self, last_index: int) -> list[Window | SignEnd]:
        out: list[Window | SignEnd] = []
        if self._since_emit > self._empty_run and (w := self._window(final=True)):
            out.append(w)
        out.append(SignEnd(self.sign, last_index))
        self._buf.clear()
        self._since_emit = 0
        self._active = False
        self._empty_run = 0
        return out

    def push(self, frame: Frame) -> list[Window | SignEnd]:
        """Add a frame; return what it completes: a window, or a sign's last window and its end."""
        if frame.has_hand:
            if not self._active:
                self.sign += 1
            self._active = True
            self._empty_run = 0
        elif self._active:
            self._empty_run += 1
        if not self._active:
            return []
        self._buf.append(frame)
        self._since_emit += 1
        if self._empty_run >= self.end_after:
            return self._end(frame.index)
        if len(self._buf) == self.frames and self._since_emit >= self.stride and frame.has_hand:
            self._since_emit = 0
            if w := self._window(final=False):
                return [w]
        return []

    def flush(self) -> list[Window | SignEnd]:
        """End of stream: the last partial window by the same rules, and the sign's end."""
        if not self._active:
            return []
        return self._end(self._buf[-1].index if self._buf else -1)

    def reset(self) -> None:
        """Forget the current sign (inference paused)."""
        self._buf.clear()
        self._since_emit = self._empty_run = 0
        self._active = False
