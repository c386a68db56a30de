"""The edge pipeline: frames -> landmarks -> windows -> answers -> shown labels, in threads.

Threads joined by bounded queues, one stop event:

    capture --frame queue--> landmarks --window queue--> dispatch --(<= max_in_flight)--> results

- capture never waits on landmarks when the source is live: a full frame queue drops the oldest
  frame and counts it (files wait instead: every frame is processed);
- landmarks never wait on the network: a full window queue drops the oldest window and counts it;
- dispatch hands up to ``max_in_flight`` windows to worker threads; results takes the answers in
  window order, smooths them and calls the callbacks (which must not block: the display hub queues).
At the end of a file the last partial window is handled like any other and in-flight answers are
awaited for at most ``flush_timeout`` seconds.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from edge_client.answering import Answer, Answerer, NoAnswerError
from edge_client.smoothing import Shown, Smoother
from edge_client.sources import Frame, Image
from edge_client.window import FrameSampler, SignEnd, Window, Windower

log = logging.getLogger(__name__)

_END = object()  # end of stream, passed down every queue


class Landmarker(Protocol):
    """Anything that turns an RGB picture into a (126,) landmark vector (shared.hands.landmarker.HandLandmarks)."""

    def detect(self, rgb: np.ndarray, timestamp_ms: int) -> np.ndarray: ...


@dataclass
class AnswerEvent:
    """The raw answer for one window (before smoothing)."""

    label: str
    confidence: float
    confident: bool
    answered_by: str
    model_name: str
    model_version: str
    threshold: float
    truth: str | None
    latency_ms: float
    window: int
    sign: int

    def as_dict(self) -> dict:
        return {"event": "answer", **asdict(self)}


@dataclass
class LabelEvent:
    """What the display shows from now on (``label`` None: nothing); the smoothed label."""

    label: str | None
    display_name: str | None
    confidence: float
    answered_by: str
    model_name: str
    model_version: str
    latency_ms: float
    truth: str | None
    time: float = field(default_factory=time.time)

    def as_dict(self) -> dict:
        return {"event": "label", **asdict(self)}


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


def put_drop_oldest(q: queue.Queue, item: object) -> int:
    """Put without waiting; drop the oldest items to make room. Returns how many were dropped."""
    dropped = 0
    while True:
        try:
            q.put_nowait(item)
            return dropped
        except queue.Full:
            try:
                if q.get_nowait() is not _END:
                    dropped += 1
            except queue.Empty:
                pass


class Pipeline:
    """Runs a source through landmarks, windowing, answering and smoothing; see the module docstring.

    Args:
        source: has ``frames(stop)`` (or is iterable) yielding ``Image`` (needs ``landmarker``) or ``Frame``.
        windower: cuts frames into windows.
        answerer: answers windows (cloud, local fallback).
        landmarker: turns Images into landmarks.
        sampler: puts frames on the model's frame-rate grid (None: every frame is used as is).
        smoother: turns answers into shown labels (None: a default Smoother).
        on_answer, on_label: called (from the results thread) per answer / per change of the shown label.
        on_frame: called (from the landmarks thread) with (Image or None, Frame) for the preview; must not block.
        live: drop frames when the landmarker falls behind (default: the source's ``live``).
        names: display name per label.
        recorder: called with (window, answer) for each answered window (privacy: None stores nothing).
    """

    def __init__(
        self, source: Any, windower: Windower, answerer: Answerer, *, landmarker: Landmarker | None = None,
        sampler: FrameSampler | None = None, smoother: Smoother | None = None,
        on_answer: Callable[[AnswerEvent], None] | None = None, on_label: Callable[[LabelEvent], None] | None = None,
        on_frame: Callable[[Image | None, Frame], None] | None = None, frame_queue: int = 2, window_queue: int = 16,
        max_in_flight: int = 2, flush_timeout: float = 5.0, live: bool | None = None,
        stop: threading.Event | None = None, names: dict[str, str] | None = None,
        recorder: Callable[[Window, Answer], None] | None = None,
    ) -> None:  # fmt: skip
        self.source, self.windower, self.answerer, self.landmarker = source, windower, answerer, landmarker
        self.sampler, self.smoother = sampler, smoother or Smoother()
        self.on_answer, self.on_label, self.on_frame = on_answer, on_label, on_frame
        self.live = bool(getattr(source, "live", False)) if live is None else live
        self.max_in_flight, self.flush_timeout = max_in_flight, flush_timeout
        self.names, self.recorder = names or {}, recorder
        self.stop = stop or threading.Event()
        self.inference = threading.Event()
        self.inference.set()
        self.counters = Counters()
        self.frames_q: queue.Queue = queue.Queue(maxsize=frame_queue)
        self.windows_q: queue.Queue = queue.Queue(maxsize=window_queue)
        self.results_q: queue.Queue = queue.Queue()
        self._slots = threading.Semaphore(max_in_flight)
        self._executor = ThreadPoolExecutor(max_in_flight, thread_name_prefix="answer")
        self._threads: list[threading.Thread] = []
        self._beats: dict[str, float] = {}
        self._closed = False
        self._last_window: Window | None = None
        self.last_frame_done = 0.0  # monotonic time the last frame left the landmarks stage
        self.shown: Shown | None = None
        self.last_label: LabelEvent | None = None

    # --- stages -------------------------------------------------------------------------------------

    def _beat(self, name: str) -> None:
        self._beats[name] = time.monotonic()

    def _frames(self) -> Iterable:
        frames = getattr(self.source, "frames", None)
        return frames(self.stop) if frames else iter(self.source)

    def _capture(self) -> None:
        try:
            for item in self._frames():
                self._beat("capture")
                if self.stop.is_set():
                    break
                self.counters.frames_captured += 1
                if self.live:
                    self.counters.frames_dropped += put_drop_oldest(self.frames_q, item)
                else:
                    while not self.stop.is_set():
                        try:
                            self.frames_q.put(item, timeout=0.1)
                            break
                        except queue.Full:
                            self._beat("capture")
                            if self._landmarks_gone():  # nobody will ever take it
                                log.error("the landmarks stage is gone; stopping")
                                self.stop.set()
        except Exception:  # a source that breaks ends the run, logged, instead of hanging it
            log.exception("the frame source failed")
        finally:
            self._put_end(self.frames_q)  # the source is over: waiting here costs nothing

    def _landmarks_gone(self) -> bool:
        t = self._threads[1]
        return t.ident is not None and not t.is_alive()  # started, then ended

    def _put_end(self, q: queue.Queue) -> None:
        while not self.stop.is_set() and not self._landmarks_gone():
            try:
                q.put(_END, timeout=0.1)
                return
            except queue.Full:
                continue

    def _to_frame(self, item: Image | Frame) -> Frame:
        if isinstance(item, Frame):
            return item
        if self.landmarker is None:
            raise RuntimeError("a picture source needs a landmarker")
        lm = self.landmarker.detect(item.rgb, round(item.timestamp * 1000))
        return Frame(item.index, item.timestamp, lm, None, item.captured)

    def _enqueue(self, out: Window | SignEnd) -> None:
        if isinstance(out, Window):
            self.counters.windows_sent += 1
        self.counters.windows_dropped += put_drop_oldest(self.windows_q, out)

    def _landmarks(self) -> None:
        paused = False
        while not self.stop.is_set():
            self._beat("landmarks")
            try:
                item = self.frames_q.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is _END:
                for out in self.windower.flush():
                    self._enqueue(out)
                break
            try:
                paused = self._process(item, paused)
            except Exception:  # log, count and go on: this thread must never die silently
                self.counters.errors += 1
                log.exception("landmarks stage failed on frame %s", getattr(item, "index", "?"))
        self.counters.windows_dropped += put_drop_oldest(self.windows_q, _END)  # never wait on the network

    def _process(self, item: Image | Frame, paused: bool) -> bool:
        """Landmarks, preview, windows for one item; returns whether inference is paused."""
        frame = self._to_frame(item)
        self.counters.frames_processed += 1
        self.counters.frames_with_hands += frame.has_hand
        self.last_frame_done = time.monotonic()
        if self.on_frame is not None:
            self.on_frame(item if isinstance(item, Image) else None, frame)
        if not self.inference.is_set():
            if not paused:
                self.windower.reset()
            return True
        for f in self.sampler.push(frame) if self.sampler else [frame]:
            for out in self.windower.push(f):
                self._enqueue(out)
        return False

    def _answer(self, window: Window) -> Answer:
        try:
            return self.answerer.answer(window.frames)
        finally:
            self._slots.release()

    def _dispatch(self) -> None:
        while not self.stop.is_set():
            try:
                item = self.windows_q.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is _END:
                break
            if isinstance(item, SignEnd):
                self.results_q.put((item, None))
                continue
            while not self._slots.acquire(timeout=0.1):
                if self.stop.is_set():
                    return
            self.results_q.put((item, self._executor.submit(self._answer, item)))
        self.results_q.put((_END, None))

    def _results(self) -> None:
        while not self.stop.is_set():
            self._beat("results")
            try:
                item, future = self.results_q.get(timeout=0.1)
            except queue.Empty:
                self._shown(self.smoother.tick(), None, None)
                continue
            if item is _END:
                break
            if isinstance(item, SignEnd):
                last = self._last_window if self._last_window and self._last_window.sign == item.sign else None
                latency = (time.monotonic() - last.captured) * 1000 if last else None
                self._shown(self.smoother.end_sign(item.sign), last, latency)
                continue
            answer = self._wait(future)
            self._last_window = item
            if answer is not None:
                self._handle(item, answer)

    def _wait(self, future: Future) -> Answer | None:
        while not self.stop.is_set():
            try:
                return future.result(timeout=0.1)
            except TimeoutError:
                continue
            except NoAnswerError as err:
                self.counters.unanswered += 1
                log.debug("window not answered: %s", err)
                return None
            except Exception:
                self.counters.unanswered += 1
                log.exception("answering a window failed")
                return None
        return None

    def _handle(self, window: Window, answer: Answer) -> None:
        latency = (time.monotonic() - window.captured) * 1000
        if answer.answered_by == "cloud":
            self.counters.answers_cloud += 1
        else:
            self.counters.answers_local += 1
        self.counters.answer_latency_ms.append(latency)
        confident = not answer.no_sign and (not answer.below_threshold if self.smoother.threshold is None else (
            answer.confidence >= self.smoother.threshold))  # fmt: skip
        if self.on_answer is not None:
            self.on_answer(AnswerEvent(answer.label, round(answer.confidence, 4), confident, answer.answered_by,
                                       answer.model_name, answer.model_version, answer.threshold, window.truth,
                                       round(latency, 1), window.last_index, window.sign))  # fmt: skip
        if self.recorder is not None:
            self.recorder(window, answer)
        self._shown(self.smoother.update(answer, window.sign), window, latency)

    def _shown(self, shown: Shown | None, window: Window | None, latency: float | None) -> None:
        if shown is None:
            return
        if latency is None:
            latency = self.counters.answer_latency_ms[-1] if self.counters.answer_latency_ms else 0.0
        if shown.label is not None:
            self.counters.labels_shown += 1
            self.counters.label_latency_ms.append(latency)
        ev = LabelEvent(
            label=shown.label,
            display_name=self.names.get(shown.label, shown.label) if shown.label else None,
            confidence=round(shown.confidence, 4),
            answered_by=shown.answered_by,
            model_name=shown.model_name,
            model_version=shown.model_version,
            latency_ms=round(latency, 1),
            truth=window.truth if window is not None else None,
        )
        self.shown, self.last_label = shown, ev
        if self.on_label is not None:
            self.on_label(ev)

    # --- running ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the four threads."""
        self.counters.started = time.monotonic()
        self._threads = [
            threading.Thread(target=f, name=n, daemon=True)
            for f, n in (
                (self._capture, "capture"),
                (self._landmarks, "landmarks"),
                (self._dispatch, "dispatch"),
                (self._results, "results"),
            )
        ]
        for t in self._threads:
            self._beat(t.name)
            t.start()

    def wait(self) -> Counters:
        """Until the source ends (then answers are awaited up to ``flush_timeout``) or ``stop`` is set."""
        capture, landmarks, dispatch, results = self._threads
        for t in (capture, landmarks):
            while t.is_alive() and not self.stop.is_set():
                t.join(0.1)
        deadline = time.monotonic() + self.flush_timeout
        for t in (dispatch, results):
            while t.is_alive() and not self.stop.is_set() and time.monotonic() < deadline:
                t.join(0.1)
        if results.is_alive() and not self.stop.is_set():
            log.warning("answers still missing after %.1f s at the end of the stream; not waiting longer",
                        self.flush_timeout)  # fmt: skip
        self.close()
        return self.counters

    def close(self, timeout: float = 5.0) -> None:
        """Stop every thread and join them, last started first (once)."""
        self.stop.set()
        if self._closed:
            return
        self._closed = True
        for t in reversed(self._threads):
            t.join(timeout)
            if t.is_alive():
                log.warning("thread %s did not stop within %.1f s", t.name, timeout)
        self._executor.shutdown(wait=False, cancel_futures=True)
        close = getattr(self.source, "close", None)
        if close:
            close()

    def run(self) -> Counters:
        """``start`` then ``wait``; Ctrl-C stops it cleanly."""
        self.start()
        try:
            return self.wait()
        except KeyboardInterrupt:
            self.close()
            raise

    def healthy(self, max_age: float = 10.0) -> bool:
        """True while every running stage has looped within ``max_age`` seconds (for the systemd watchdog)."""
        now = time.monotonic()
        return all(now - self._beats.get(t.name, now) < max_age for t in self._threads if t.is_alive())
