"""The display hub: the pipeline publishes events and frames without waiting; one thread fans them out.

Consumers are subscribers (a bounded queue each: the web page's server-sent events; a slow one loses
its oldest events, counted) and sinks (callables: Socket.IO, JSON lines on stdout). The hub keeps
the latest frame for the preview, the latest label and the last few labels. The kiosk's status is
pushed in (``publish_status``, every second by the runner) and goes to subscribers only.

Events stay typed (``edge_client/events.py``) all the way through; consumers turn them into their
wire form (``as_dict()``) where they leave the process.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from edge_client.events import AnswerEvent, Event, LabelEvent, StatusEvent
from edge_client.frames import Frame, Image

log = logging.getLogger(__name__)


Sink = Callable[[AnswerEvent | LabelEvent], None]


class Subscription:
    """One consumer's bounded event queue, and what the hub showed when it subscribed.

    ``latest_label`` and ``history`` (newest first) are taken with the subscription, atomically:
    every label in the queue came after them, none is in both.
    """

    def __init__(self, size: int = 64, latest_label: LabelEvent | None = None,
                 history: tuple[LabelEvent, ...] = ()) -> None:  # fmt: skip
        self.queue: queue.Queue[Event] = queue.Queue(maxsize=size)
        self.dropped = 0
        self.latest_label, self.history = latest_label, history

    def offer(self, event: Event) -> None:
        while True:
            try:
                self.queue.put_nowait(event)
                return
            except queue.Full:
                try:
                    self.queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def get(self, timeout: float) -> Event | None:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None


class DisplayHub:
    """Fan-out of events to subscribers and sinks; holds the latest frame, label and history.

    Args:
        history: how many past labels to keep.
        queue_size: events waiting for the hub's thread; when full the oldest is dropped (counted).
    """

    def __init__(self, history: int = 5, queue_size: int = 256) -> None:
        self._events: queue.Queue[AnswerEvent | LabelEvent] = queue.Queue(maxsize=queue_size)
        self._subs: set[Subscription] = set()
        self._sinks: list[Sink] = []
        self._lock = threading.Lock()
        self.stopped = threading.Event()
        self.history: deque[LabelEvent] = deque(maxlen=history)
        self.latest_label: LabelEvent | None = None
        self.frame: tuple[Image | None, Frame] | None = None
        self.frame_seq = 0
        self.dropped = 0
        self._thread: threading.Thread | None = None

    # --- producers (never block) ---------------------------------------------------------------------

    def publish(self, event: AnswerEvent | LabelEvent) -> None:
        """Queue an event for every consumer; if the hub is behind, the oldest queued event is dropped."""
        while True:
            try:
                self._events.put_nowait(event)
                return
            except queue.Full:
                try:
                    self._events.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def publish_status(self, status: dict[str, Any]) -> None:
        """Offer a "status" event to every subscriber now (not to the sinks: it is not a prediction)."""
        event = StatusEvent(status)
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            sub.offer(event)

    def set_frame(self, image: Image | None, frame: Frame) -> None:
        """The newest picture (None for a replay) and its landmarks; only a reference is kept."""
        self.frame = (image, frame)
        self.frame_seq += 1

    # --- consumers -----------------------------------------------------------------------------------

    def subscribe(self, size: int = 64) -> Subscription:
        """A new consumer's queue, with the label shown now and the recent ones (see ``Subscription``)."""
        with self._lock:
            sub = Subscription(size, self.latest_label, tuple(self.history))
            self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    def add_sink(self, sink: Sink) -> None:
        """A callable run on the hub's thread for every event (keep it quick)."""
        self._sinks.append(sink)

    def _deliver(self, event: AnswerEvent | LabelEvent) -> None:
        with self._lock:  # one step with the subscriber list: a new subscriber gets each label once
            if isinstance(event, LabelEvent):
                self.latest_label = event
                if event.label is not None:
                    self.history.appendleft(event)
            subs = list(self._subs)
        for sub in subs:
            sub.offer(event)
        for sink in self._sinks:
            try:
                sink(event)
            except Exception:
                log.exception("display sink %s failed", getattr(sink, "__name__", sink))

    def _run(self) -> None:
        while not self.stopped.is_set():
            try:
                event = self._events.get(timeout=0.1)
            except queue.Empty:
                continue
            self._deliver(event)
        while True:  # deliver what is left (the last labels)
            try:
                self._deliver(self._events.get_nowait())
            except queue.Empty:
                break

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="display-hub", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Deliver queued events, then stop the hub thread."""
        self.stopped.set()
        if self._thread is not None:
            self._thread.join(timeout)
