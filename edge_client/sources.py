"""Frame sources: a USB camera (OpenCV), the Camera Module (picamera2), a video file, a replayed dataset.

Every source has ``frames(stop)``, an iterator that ends when the source does or ``stop`` is set,
and ``live``: True when frames arrive in real time (a full queue then drops the oldest frame),
False for files played as fast as they can be processed (nothing is dropped).
Picture sources yield ``Image``; the replay source yields landmark ``Frame`` directly.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from edge_client.frames import Frame, Image
from shared.app.errors import SignstreamError
from shared.contract.spec import RAW_DIM
from shared.datasets.dataset import Dataset
from shared.hands.video import shrink, to_rgb

log = logging.getLogger(__name__)


class SourceError(SignstreamError):
    """A frame source could not be opened."""


class ReplaySource:
    """Plays each sequence of a dataset followed by ``gap`` frames with no hand (the sign ends).

    Args:
        dataset: sequences to replay, in order (or shuffled with ``seed``).
        fps: frame rate to report in timestamps (and to pace at, with ``speed``).
        speed: 1.0 paces like a live camera, 0 replays as fast as possible.
        limit: replay at most this many sequences.
    """

    def __init__(
        self, dataset: Dataset, fps: float = 15.0, speed: float = 0.0, gap: int = 8,
        limit: int | None = None, seed: int | None = None,
    ) -> None:  # fmt: skip
        self.dataset = dataset
        self.fps = fps
        self.speed = speed
        self.gap = gap
        self.live = speed > 0
        order = np.arange(len(dataset))
        if seed is not None:
            order = np.random.default_rng(seed).permutation(order)
        self.order = order[:limit] if limit else order

    def frames(self, stop: threading.Event | None = None) -> Iterator[Frame]:
        """The replayed frames; pacing waits end early when ``stop`` is set."""
        stop = stop or threading.Event()
        empty = np.zeros(RAW_DIM, np.float32)
        i = 0
        start = time.monotonic()
        for seq in self.order:
            truth = self.dataset.classes[int(self.dataset.y[seq])]
            frames = self.dataset.X[seq, : self.dataset.length[seq]]
            for lm in [*frames, *([empty] * self.gap)]:
                ts = i / self.fps
                if self.speed > 0:
                    delay = start + ts / self.speed - time.monotonic()
                    if delay > 0 and stop.wait(delay):
                        return
                if stop.is_set():
                    return
                yield Frame(i, ts, lm, truth if lm is not empty else None)
                i += 1

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    def close(self) -> None:
        pass


class VideoFileSource:
    """Every frame of a video file, in order; with ``realtime`` paced at the file's frame rate."""

    def __init__(self, path: str | Path, realtime: bool = False, max_side: int | None = None, mirror: bool = False):
        import cv2

        self.path = Path(path)
        if not self.path.is_file():
            raise SourceError(f"{path}: no such video file")
        cap = cv2.VideoCapture(str(self.path))
        ok = cap.isOpened()
        self.fps = (cap.get(cv2.CAP_PROP_FPS) or 30.0) if ok else 30.0
        cap.release()
        if not ok:
            raise SourceError(f"{path}: cannot open as a video")
        self.realtime, self.max_side, self.mirror = realtime, max_side, mirror
        self.live = realtime

    def frames(self, stop: threading.Event | None = None) -> Iterator[Image]:
        import cv2

        stop = stop or threading.Event()
        cap = cv2.VideoCapture(str(self.path))
        start = time.monotonic()
        i = 0
        try:
            while not stop.is_set():
                t0 = time.perf_counter()
                ok, bgr = cap.read()
                if not ok:
                    return
                rgb = to_rgb(shrink(bgr, self.max_side), self.mirror)
                decode_s = time.perf_counter() - t0
                ts = i / self.fps
                if self.realtime:
                    delay = start + ts - time.monotonic()
                    if delay > 0 and stop.wait(delay):
                        return
                yield Image(i, ts, rgb, decode_s=decode_s)
                i += 1
        finally:
            cap.release()

    def close(self) -> None:
        pass


MAX_REOPEN_DELAY = 10.0  # seconds between attempts to reopen a camera that keeps failing


class CameraSource:
    """A USB camera through OpenCV (index or /dev/videoN), reopened whenever it stops giving frames.

    Args:
        device: "0", "1", ... or a device path.
        opener: makes a cv2.VideoCapture-like object (tests pass a fake camera).
    """

    live = True

    def __init__(
        self, device: str, width: int = 640, height: int = 480, fps: float = 30.0, max_side: int | None = None,
        mirror: bool = False, reopen_delay: float = 1.0, opener: Callable | None = None,
    ) -> None:  # fmt: skip
        self.device = int(device) if device.isdigit() else device
        self.width, self.height, self.fps = width, height, fps
        self.max_side, self.mirror, self.reopen_delay = max_side, mirror, reopen_delay
        self._opener = opener
        self.reopens = 0
        self.failures = 0
        self.problem: str | None = None  # what the status bar shows while the camera gives no picture

    def _open(self):
        import cv2

        if self._opener is not None:
            cap = self._opener(self.device)
        else:
            # OpenCV writes 8 lines of its own for every failed open (every backend it tries); the
            # loop below says it once, in the log. V4L2 is the one backend for a USB camera on Linux.
            level = cv2.utils.logging.getLogLevel()
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
            try:
                backend = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
                cap = cv2.VideoCapture(self.device, backend)
            finally:
                cv2.utils.logging.setLogLevel(level)
        if cap.isOpened():
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            cap.set(cv2.CAP_PROP_FPS, self.fps)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not a stale one
        return cap

    def frames(self, stop: threading.Event | None = None) -> Iterator[Image]:
        stop = stop or threading.Event()
        start = time.monotonic()
        i = failing = 0
        cap = self._open()
        try:
            while not stop.is_set():
                ok, bgr = cap.read() if cap.isOpened() else (False, None)
                if not ok:
                    self.failures += 1
                    failing += 1
                    delay = min(MAX_REOPEN_DELAY, self.reopen_delay * 2 ** min(failing - 1, 8))  # backoff
                    self.problem = f"no camera: {self.device} gives no picture"
                    # The same words each time (the delay is not in them): said once, then counted.
                    log.warning("camera %s gave no frame; reopening it (up to %.0f s apart)", self.device,
                                MAX_REOPEN_DELAY)  # fmt: skip
                    cap.release()
                    if stop.wait(delay):
                        return
                    cap = self._open()
                    self.reopens += 1
                    continue
                if failing:
                    log.info("camera %s gives frames again", self.device)
                    failing, self.problem = 0, None
                now, t0 = time.monotonic(), time.perf_counter()  # the read waited for the frame: not counted
                rgb = to_rgb(shrink(bgr, self.max_side), self.mirror)
                yield Image(i, now - start, rgb, now, time.perf_counter() - t0)
                i += 1
        finally:
            cap.release()

    def close(self) -> None:
        pass


class PiCameraSource:
    """The Raspberry Pi Camera Module through picamera2 (from apt: python3-picamera2), imported only here."""

    live = True

    def __init__(self, width: int = 640, height: int = 480, fps: float = 30.0, max_side: int | None = None,
                 mirror: bool = False) -> None:  # fmt: skip
        try:
            from picamera2 import Picamera2
        except ImportError as err:
            raise SourceError(
                "picamera2 is not installed: apt install python3-picamera2 and make the venv with "
                "--system-site-packages (docs/edge.md)"
            ) from err
        self._cam = Picamera2()
        config = self._cam.create_video_configuration(
            main={"size": (width, height), "format": "RGB888"}, controls={"FrameRate": float(fps)}
        )
        self._cam.configure(config)
        self.max_side, self.mirror = max_side, mirror

    def frames(self, stop: threading.Event | None = None) -> Iterator[Image]:
        stop = stop or threading.Event()
        self._cam.start()
        start = time.monotonic()
        i = 0
        try:
            while not stop.is_set():
                bgr = self._cam.capture_array("main")  # libcamera's RGB888 is B, G, R in memory
                now, t0 = time.monotonic(), time.perf_counter()
                rgb = to_rgb(shrink(bgr[..., :3], self.max_side), self.mirror)
                yield Image(i, now - start, rgb, now, time.perf_counter() - t0)
                i += 1
        finally:
            self._cam.stop()

    def close(self) -> None:
        self._cam.close()
