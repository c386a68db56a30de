"""The model stage of a worker: a bounded queue in front of one model thread, with micro-batching.

Request threads ``submit`` their windows and wait. One thread takes everything queued (up to
``max_batch`` windows), waits up to ``window_s`` for more while the worker is busy (recent batches
had company) or, for a lone client, only while another request is being served (inside
``serving()``), reads the current model once and runs the whole batch through it: every answer in a
batch comes from one model version. A lone client is never held back for company that cannot come. A
full queue refuses at once (the caller answers 503 with Retry-After) instead of piling up latency.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import numpy as np

from cloud_server.model_holder import LoadedModel, ModelHolder
from shared.app.errors import NotReadyError, OverloadedError
from shared.contract.protocol import Prediction

log = logging.getLogger(__name__)

POLL_S = 0.0005  # how often a batch waiting for company looks again whether any can still come
COMPANY_WEIGHT = 0.1  # weight of the latest batch in the moving share of batches with company
LONE = 0.05  # below this share of batches with company, a batch with nobody else being served runs at once


@dataclass
class _Job:
    windows: list[np.ndarray]
    k: int
    done: threading.Event = field(default_factory=threading.Event)
    model: LoadedModel | None = None
    result: list[Prediction] | None = None
    error: BaseException | None = None


class Batcher:
    """Runs submitted windows through the holder's current model in batches."""

    def __init__(
        self,
        holder: ModelHolder,
        max_batch: int = 32,
        window_s: float = 0.0,
        max_queue: int = 64,
        timeout_s: float = 10.0,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._holder = holder
        self._max_batch = max_batch
        self._window_s = window_s
        self._timeout_s = timeout_s
        self._queue: queue.Queue[_Job] = queue.Queue(maxsize=max_queue)
        self._on_batch = on_batch
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._serving = 0  # requests inside serving()
        self._serving_lock = threading.Lock()
        self._company = 0.0  # moving share of recent batches that held more than one request

    @contextmanager
    def serving(self) -> Iterator[None]:
        """Marks a request being served, from its body to its answer. When the worker is not busy, a
        batch waits (up to the window) only while such a request is not in it, so a lone client never
        waits; a busy worker's batch waits the whole window regardless (``_collect``)."""
        with self._serving_lock:
            self._serving += 1
        try:
            yield
        finally:
            with self._serving_lock:
                self._serving -= 1

    def submit(self, windows: list[np.ndarray], k: int) -> tuple[LoadedModel, list[Prediction]]:
        """Answers for ``windows`` (each (T, 126)) and the model that gave them; blocks until done."""
        self._ensure_started()
        job = _Job(windows, k)
        try:
            self._queue.put_nowait(job)
        except queue.Full as err:
            raise OverloadedError("the server is busy") from err
        if not job.done.wait(self._timeout_s):
            raise OverloadedError("the model did not answer in time")
        if job.error is not None:
            raise job.error
        assert job.model is not None and job.result is not None
        return job.model, job.result

    def _ensure_started(self) -> None:
        # Started on first use, so the thread lives in the gunicorn worker, never the arbiter.
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, name="model-batcher", daemon=True)
                    self._thread.start()

    def _collect(self) -> list[_Job]:
        jobs = [self._queue.get()]
        n = len(jobs[0].windows)
        deadline = time.monotonic() + self._window_s
        while n < self._max_batch:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                # Busy (recent batches had company): the whole window, one wait. Under load a request
                # is mostly outside the route (read, queued for a thread, written); with CPU hogs,
                # waiting only for requests in the route halved the batches and doubled p99
                # (docs/benchmarks.md). A lone client: wait only while someone else is being served.
                if self._company >= LONE:
                    wait = remaining
                elif self._serving > len(jobs):
                    wait = min(remaining, POLL_S)
                else:
                    break
                try:
                    job = self._queue.get(timeout=wait)
                except queue.Empty:
                    continue
            jobs.append(job)
            n += len(job.windows)
        self._company = (1 - COMPANY_WEIGHT) * self._company + COMPANY_WEIGHT * (len(jobs) > 1)
        return jobs

    def _loop(self) -> None:
        while True:
            jobs = self._collect()
            self._run(jobs)

    def _run(self, jobs: list[_Job]) -> None:
        model = self._holder.current  # one read: the whole batch is answered by this version
        if len(jobs) > 1 and model is not None:
            try:
                self._run_batch(model, jobs)
                return
            except Exception:  # answer each request on its own, so one cannot fail the others
                log.exception("a batch of %d requests failed; answering them one by one", len(jobs))
        for job in jobs:
            self._run_batch(model, [job], finish=True)

    def _run_batch(self, model: LoadedModel | None, jobs: list[_Job], finish: bool = False) -> None:
        try:
            if model is None:
                raise NotReadyError("model not loaded yet")
            windows = [w for job in jobs for w in job.windows]
            k = min(max(job.k for job in jobs), len(model.manifest.labels))
            preds = model.predict(windows, k)
            if self._on_batch is not None:
                self._on_batch(len(windows))
            start = 0
            for job in jobs:
                part = preds[start : start + len(job.windows)]
                start += len(job.windows)
                job.model = model
                job.result = [p if len(p.top_k) <= job.k else p.model_copy(update={"top_k": p.top_k[: job.k]})
                              for p in part]  # fmt: skip
        except Exception as err:
            if not finish:
                raise
            for job in jobs:  # handed to the waiting request thread, which answers for it
                job.error = err
        for job in jobs:
            job.done.set()


class Unbatched:
    """No batching: each request thread calls the model itself; at most ``max_queue`` at once, the rest shed."""

    def __init__(self, holder: ModelHolder, max_queue: int = 64, on_batch: Callable[[int], None] | None = None):
        self._holder = holder
        self._slots = threading.BoundedSemaphore(max_queue)
        self._on_batch = on_batch

    def serving(self):
        """Nothing to wait for: each request runs the model itself."""
        return nullcontext()

    def submit(self, windows: list[np.ndarray], k: int) -> tuple[LoadedModel, list[Prediction]]:
        if not self._slots.acquire(blocking=False):
            raise OverloadedError("the server is busy")
        try:
            model = self._holder.current
            if model is None:
                raise NotReadyError("model not loaded yet")
            preds = model.predict(windows, min(k, len(model.manifest.labels)))
            if self._on_batch is not None:
                self._on_batch(len(windows))
            return model, preds
        finally:
            self._slots.release()
