"""The edge pipeline: frames -> windows -> answers, in threads joined by bounded queues.

The source thread never waits on the network: when the window queue is full the oldest window is
dropped and counted. One stop event ends every thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from edge_client.sources import Frame
from edge_client.transport import CloudClient, TransportError
from edge_client.window import Window, Windower

log = logging.getLogger(__name__)


@dataclass
class LabelEvent:
    """An answer for one window, as shown to people (``label`` None = no confident sign)."""

    label: str | None
    confidence: float
    answered_by: str
    model_version: str
    truth: str | None
    latency_ms: float
    raw_label: str

    def as_dict(self) -> dict:
        return {"event": "label", **self.__dict__}


@dataclass
class Counters:
    frames: int = 0
    frames_with_hands: int = 0
    windows: int = 0
    windows_dropped: int = 0
    answers: int = 0
    errors: int = 0
    extra: dict = field(default_factory=dict)


def _put_drop_oldest(q: queue.Queue, item: object, counters: Counters) -> None:
    while True:
        try:
            q.put_nowait(item)
            return
        except queue.Full:
            try:
                q.get_nowait()
                counters.windows_dropped += 1
            except queue.Empty:
                pass


class Pipeline:
    """Runs a frame source through windowing and the cloud client, calling ``on_event`` per answer."""

    def __init__(
        self, source: Iterable[Frame], windower: Windower, client: CloudClient,
        on_event: Callable[[LabelEvent], None], queue_size: int = 8, lossless: bool = False,
    ) -> None:  # fmt: skip
        self.source, self.windower, self.client, self.on_event = source, windower, client, on_event
        self.windows: queue.Queue[Window | None] = queue.Queue(maxsize=queue_size)
        self.stop = threading.Event()
        self.counters = Counters()
        self.lossless = lossless  # files and replays: wait for room instead of dropping

    def _enqueue(self, w: Window) -> None:
        self.counters.windows += 1
        if self.lossless:
            while not self.stop.is_set():
                try:
                    self.windows.put(w, timeout=0.1)
                    return
                except queue.Full:
                    continue
        else:
            _put_drop_oldest(self.windows, w, self.counters)

    def _capture(self) -> None:
        try:
            for frame in self.source:
                if self.stop.is_set():
                    break
                self.counters.frames += 1
                self.counters.frames_with_hands += frame.has_hand
                for w in self.windower.push(frame):
                    self._enqueue(w)
            for w in self.windower.flush():
                self._enqueue(w)
        finally:
            _put_drop_oldest(self.windows, None, self.counters)  # end of stream: the sender drains, then stops

    def _send(self) -> None:
        while not self.stop.is_set():
            w = self.windows.get()
            if w is None:
                return
            t0 = time.monotonic()
            try:
                ans = self.client.predict(w.frames)
            except TransportError as err:
                self.counters.errors += 1
                log.warning("window not answered: %s", err)
                continue
            self.counters.answers += 1
            self.on_event(
                LabelEvent(
                    label=None if ans.below_threshold else ans.label,
                    confidence=ans.confidence,
                    answered_by="cloud",
                    model_version=ans.model.version,
                    truth=w.truth,
                    latency_ms=(time.monotonic() - t0) * 1000,
                    raw_label=ans.label,
                )
            )

    def run(self) -> Counters:
        """Run until the source ends (or ``stop`` is set); threads are joined before returning."""
        threads = [
            threading.Thread(target=f, name=n, daemon=True)
            for f, n in ((self._capture, "capture"), (self._send, "send"))
        ]
        for t in threads:
            t.start()
        try:
            for t in threads:
                while t.is_alive():
                    t.join(0.2)
        except KeyboardInterrupt:
            self.stop.set()
            _put_drop_oldest(self.windows, None, self.counters)
            for t in threads:
                t.join(5)
            raise
        return self.counters
