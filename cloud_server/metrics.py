"""Prometheus metrics, summed correctly over gunicorn workers.

Under ``signstream serve`` every worker writes its values to files in ``PROMETHEUS_MULTIPROC_DIR``
(set by the arbiter before it forks and before anything imports prometheus_client, which picks
its storage at import; see serve.py) and ``/metrics`` adds them up with
prometheus_client's ``MultiProcessCollector``. In one process (tests, the Flask test client) the
metrics live in the registry given to ``Metrics``.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


def multiprocess_dir() -> str | None:
    """The folder shared by the workers' metric files, when running under gunicorn."""
    return os.environ.get(MULTIPROC_ENV) or None


class Metrics:
    """Every metric the server exports. One instance per app."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "signstream_requests", "HTTP requests answered, by endpoint and status.", ["endpoint", "status"], registry=r
        )
        self.errors = Counter("signstream_errors", "Error answers by reason.", ["reason"], registry=r)
        self.latency = Histogram(
            "signstream_request_seconds",
            "Time from request start to answer (POST /predict).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.windows = Counter("signstream_windows", "Windows classified.", registry=r)
        self.batch_size = Histogram(
            "signstream_batch_size", "Windows per model call.", buckets=BATCH_BUCKETS, registry=r
        )
        self.connections_closed = Counter(
            "signstream_connections_closed",
            "Connections closed before a whole request arrived: idle, timeout (408), evicted (worker full), too_large.",
            ["reason"],
            registry=r,
        )
        self.shed = Counter("signstream_shed", "Requests refused with 503 because the queue was full.", registry=r)
        self.rate_limited = Counter("signstream_rate_limited", "Requests refused with 429.", ["key"], registry=r)
        self.model_loads = Counter("signstream_model_loads", "Models loaded and swapped in.", registry=r)
        self.model_load_failures = Counter(
            "signstream_model_load_failures", "Model loads that failed (the old model kept serving).", registry=r
        )
        self.model_sync = Counter(
            "signstream_model_sync",
            "Registry checks by outcome (unchanged, updated, store_error, ...).",
            ["outcome"],
            registry=r,
        )
        # livemax: a version shows 1 while any live worker serves it.
        self.model_info = Gauge(
            "signstream_model_info",
            "The model version each live worker serves (1).",
            ["name", "version"],
            multiprocess_mode="livemax",
            registry=r,
        )
        self.ready = Gauge("signstream_ready", "Workers with a warm model.", multiprocess_mode="livesum", registry=r)

    def model_loaded(self, model, previous) -> None:
        """``ModelHolder``'s ``on_loaded``: a model (``LoadedModel``) was loaded and swapped in."""
        self.model_loads.inc()
        prev = (previous.manifest.name, previous.manifest.version) if previous is not None else None
        self.serving(model.manifest.name, model.manifest.version, prev)

    def model_failed(self, path, error: Exception) -> None:
        """``ModelHolder``'s ``on_failed``: a load failed and the old model kept serving."""
        self.model_load_failures.inc()

    def sync_checked(self, outcome: str) -> None:
        """``ModelSync``'s ``on_check``: one registry check ended in ``outcome``."""
        self.model_sync.labels(outcome).inc()

    def serving(self, name: str, version: str, previous: tuple[str, str] | None) -> None:
        """Record that this worker now serves ``name`` ``version``."""
        if previous is not None and previous != (name, version):
            self.model_info.labels(*previous).set(0)
        self.model_info.labels(name, version).set(1)
        self.ready.set(1)

    def render(self) -> bytes:
        """The Prometheus text exposition: summed over every worker under gunicorn."""
        path = multiprocess_dir()
        if path is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=path)
        return generate_latest(registry)
