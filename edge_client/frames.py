"""What flows from a source into the pipeline: landmark ``Frame``s and camera ``Image``s, and the
``FrameSource`` protocol every source (``sources.py``) and test fake follows."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One frame of landmarks. ``landmarks`` is (126,) float32, zeros for a missing hand.

    ``timestamp`` is the media time in seconds; ``captured`` the monotonic time it was captured.
    """

    index: int
    timestamp: float
    landmarks: np.ndarray
    truth: str | None = None
    captured: float = field(default_factory=time.monotonic)

    @property
    def has_hand(self) -> bool:
        return bool(np.any(self.landmarks != 0))


@dataclass(frozen=True)
class Image:
    """One camera or video picture: ``rgb`` (H, W, 3) uint8, already flipped when mirroring.

    ``decode_s``: seconds the source spent making it (reading and converting; see ``stage_times``).
    """

    index: int
    timestamp: float
    rgb: np.ndarray
    captured: float = field(default_factory=time.monotonic)
    decode_s: float = 0.0


class FrameSource(Protocol):
    """A source of pictures (``Image``, turned into landmarks by the pipeline) or landmark ``Frame``s.

    ``live``: frames arrive in real time, so a full queue drops the oldest (False: files, nothing dropped).
    ``problem``: what the kiosk's status shows about the source now (None: nothing wrong).
    """

    live: bool

    def frames(self, stop: threading.Event | None = None) -> Iterator[Image | Frame]: ...

    def close(self) -> None: ...
