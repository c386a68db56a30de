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
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from edge_client.answering import Answer, Answerer, NoAnswerError
from edge_client.counters import Counters
from edge_client.events import AnswerEvent, LabelEvent
from edge_client.frames import Frame, FrameSource, Image
from edge_client.smoothing import Shown, Smoother
from edge_client.stage_times import StageTimes
from edge_client.window import FrameSampler, SignEnd, Window, Windower

log = logging.getLogger(__name__)

_END = object()  # end of stream, passed down every queue


class Landmarker(Protocol):
    """Anything that turns an RGB picture into a (126,) landmark vector (shared.hands.landmarker.HandLandmarks)."""

    def detect(self, rgb: np.ndarray, timestamp_ms: int) -> np.ndarray: ...


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


@dataclass(frozen=True)
class PipelineOptions:
    """How the pipeline's queues and threads are sized (the settings of the same names), and label names.

    Args:
        frame_queue: frames waiting for the landmarker.
        window_queue: windows waiting for an answer.
        max_in_flight: windows being answered at once.
        flush_timeout: at the end of a file, seconds to wait for answers.
        live: drop frames when the landmarker falls behind (None: the source's own ``live``).
        names: display name per label.
    """

    frame_queue: int = 2
    window_queue: int = 16
    max_in_flight: int = 2
    flush_timeout: float = 5.0
    live: bool | None = None
    names: Mapping[str, str] = field(default_factory=dict)


class Pipeline:
    """Runs a source through landmarks, windowing, answering and smoothing; see the module docstring.

    Args:
        source: yields ``Image`` (needs ``landmarker``) or ``Frame`` from ``frames(stop)``.
        windower: cuts frames into windows.
        answerer: answers windows (cloud, local fallback).
        options: queue sizes, answers in flight, the end-of-file wait, label names.
        landmarker: turns Images into landmarks.
        sampler: puts frames on the model's frame-rate grid (None: every frame is used as is).
        smoother: turns answers into shown labels (None: a default Smoother).
        on_answer, on_label: called (from the results thread) per answer / per change of the shown label.
        on_frame: called (from the landmarks thread) with (Image or None, Frame) for the preview; must not block.
        recorder: called with (window, answer) for each answered window (privacy: None stores nothing).
        on_window: called (from the landmarks thread) with each window formed, before it is answered
            (the kiosk's teaching tap); must not block.
        stage_times: where each stage's time per frame or window goes (shared with the local model,
            which adds its own split; None: a new one). Read it as ``pipeline.stage_times``.
    """

    def __init__(
        self, source: FrameSource, windower: Windower, answerer: Answerer, options: PipelineOptions | None = None,
        *, landmarker: Landmarker | None = None, sampler: FrameSampler | None = None,
        smoother: Smoother | None = None, on_answer: Callable[[AnswerEvent], None] | None = None,
        on_label: Callable[[LabelEvent], None] | None = None,
        on_frame: Callable[[Image | None, Frame], None] | None = None, stop: threading.Event | None = None,
        recorder: Callable[[Window, Answer], None] | None = None,
        on_window: Callable[[Window], None] | None = None, stage_times: StageTimes | None = None,
    ) -> None:  # fmt: skip
        o = options or PipelineOptions()
        frame_queue, window_queue, max_in_flight = o.frame_queue, o.window_queue, o.max_in_flight
        live, flush_timeout, names = o.live, o.flush_timeout, o.names
        self.source, self.windower, self.answerer, self.landmarker = source, windower, answerer, landmarker
        self.sampler, self.smoother = sampler, smoother or Smoother()
        self.on_answer, self.on_label, self.on_frame = on_answer, on_label, on_frame
        self.live = source.live if live is None else live
        self.max_in_flight, self.flush_timeout = max_in_flight, flush_timeout
        self.names, self.recorder, self.on_window = dict(names), recorder, on_window
        self.stop = stop or threading.Event()
        self.inference = threading.Event()
        self.inference.set()
        self.counters = Counters()
        self.stage_times = stage_times if stage_times is not None else StageTimes()
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

    # --- controls (what the kiosk's local API reads and changes) ------------------------------------

    @property
    def running(self) -> bool:
        """Windows are being answered (not paused, not stopped)."""
        return self.inference.is_set() and not self.stop.is_set()

    def set_running(self, running: bool) -> None:
        """Resume or pause answering windows (the picture keeps flowing to ``on_frame``)."""
        if running:
            self.inference.set()
        else:
            self.inference.clear()

    @property
    def threshold(self) -> float | None:
        """The confidence a window needs to vote, set on the kiosk (None: the model's own)."""
        return self.smoother.threshold

    @threshold.setter
    def threshold(self, value: float | None) -> None:
        self.smoother.threshold = value

    @property
    def window_frames(self) -> int:
        """Frames in one window (the model's sequence length)."""
        return self.windower.frames

    @property
    def source_problem(self) -> str | None:
        """What is wrong with the source now (a camera giving no picture), or None."""
        return getattr(self.source, "problem", None)

    # --- stages -------------------------------------------------------------------------------------

    def _beat(self, name: str) -> None:
        self._beats[name] = time.monotonic()

    def _frames(self) -> Iterable[Image | Frame]:
        return self.source.frames(self.stop)

    def _capture(self) -> None:
        try:
            for item in self._frames():
                self._beat("capture")
                if self.stop.is_set():
                    break
                self.counters.frames_captured += 1
                if isinstance(item, Image) and item.decode_s > 0:
                    self.stage_times.add("decode", item.decode_s)
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
        t0 = time.perf_counter()
        lm = self.landmarker.detect(item.rgb, round(item.timestamp * 1000))
        self.stage_times.add("landmarks", time.perf_counter() - t0)
        return Frame(item.index, item.timestamp, lm, None, item.captured)

    def _enqueue(self, out: Window | SignEnd) -> None:
        if isinstance(out, Window):
            self.counters.windows_sent += 1
            if self.on_window is not None:
                self.on_window(out)
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
        t0 = time.perf_counter()
        for f in self.sampler.push(frame) if self.sampler else [frame]:
            for out in self.windower.push(f):
                self._enqueue(out)
        self.stage_times.add("window", time.perf_counter() - t0)
        return False

    def _answer(self, window: Window) -> Answer:
        t0 = time.perf_counter()
        try:
            return self.answerer.answer(window.frames)
        finally:
            self.stage_times.add("answer", time.perf_counter() - t0)
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
        self.source.close()

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
