"""Prometheus metrics of one kiosk, read from the kiosk's counters at each scrape (``GET /metrics``).

A custom collector, not counters updated in the hot path: the pipeline already counts everything
(each count written by one thread), so a scrape turns ``control.status()`` into metric families.
The names are the ones ``deploy/prometheus/alerts.yml`` uses (``signstream_edge_fallback_total``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from edge_client.transport import CircuitBreaker

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BREAKER_STATES = (CircuitBreaker.CLOSED, CircuitBreaker.OPEN, CircuitBreaker.HALF_OPEN)

# counter key in status()["counters"] -> (metric name without _total, help)
COUNTERS = {
    "frames_captured": ("signstream_edge_frames_captured", "Frames read from the source."),
    "frames_dropped": ("signstream_edge_frames_dropped", "Frames dropped because landmark extraction was behind."),
    "frames_processed": ("signstream_edge_frames_processed", "Frames turned into landmarks."),
    "frames_with_hands": ("signstream_edge_frames_with_hands", "Processed frames in which a hand was found."),
    "windows_sent": ("signstream_edge_windows", "Windows handed to the answerer."),
    "windows_dropped": ("signstream_edge_windows_dropped", "Windows dropped because answering was behind."),
    "answers_cloud": ("signstream_edge_answers_cloud", "Windows answered by the server."),
    "answers_local": ("signstream_edge_answers_local", "Windows answered by the on-device model."),
    "unanswered": ("signstream_edge_unanswered", "Windows neither the server nor the local model answered."),
    "errors": ("signstream_edge_errors", "Pipeline errors (source, extraction, answering)."),
    "labels_shown": ("signstream_edge_labels_shown", "Labels shown on the kiosk."),
    "cloud_errors": ("signstream_edge_server_errors", "Windows the server did not answer (unreachable or refused)."),
    "auth_errors": ("signstream_edge_auth_errors", "Windows the server refused because of the API key (401/403)."),
    "enrolled_local": (
        "signstream_edge_enrolled_local",
        "Windows the server answered but the local model named as a sign taught here (answered locally).",
    ),
    "fallbacks": (
        "signstream_edge_fallback",
        "Windows answered by the local model because the server was not reached.",
    ),
}
GAUGES = {
    "fps": ("signstream_edge_fps", "Frames processed per second (recent)."),
    "fps_mean": ("signstream_edge_fps_mean", "Frames processed per second since the start."),
    "uptime_s": ("signstream_edge_uptime_seconds", "Seconds since the pipeline started."),
    "answer_latency_p50_ms": ("signstream_edge_answer_latency_p50_ms", "Median answer latency, last 500 (ms)."),
    "answer_latency_p95_ms": ("signstream_edge_answer_latency_p95_ms", "95th percentile answer latency (ms)."),
    "label_latency_p50_ms": ("signstream_edge_label_latency_p50_ms", "Median frame-to-label latency (ms)."),
    "label_latency_p95_ms": ("signstream_edge_label_latency_p95_ms", "95th percentile frame-to-label latency (ms)."),
}


class EdgeCollector(Collector):
    """Metric families from ``status()``: a dict with ``counters``, ``running``, ``breaker``, models."""

    def __init__(self, status) -> None:
        self._status = status

    def collect(self) -> Iterator[Metric]:
        status: dict[str, Any] = self._status()
        counters = status.get("counters", {})
        for key, (name, doc) in COUNTERS.items():
            yield CounterMetricFamily(name, doc, value=float(counters.get(key) or 0))
        for key, (name, doc) in GAUGES.items():
            if counters.get(key) is not None:  # percentiles are unknown before the first answer
                yield GaugeMetricFamily(name, doc, value=float(counters[key]))
        stages = GaugeMetricFamily(
            "signstream_edge_stage_ms",
            "Recent time per frame (decode, landmarks, window) or per window (answer, features, model), ms.",
            labels=["stage", "quantile"],
        )
        for stage, t in (status.get("stage_ms") or {}).items():
            stages.add_metric([stage, "0.5"], float(t["p50_ms"]))
            stages.add_metric([stage, "0.9"], float(t["p90_ms"]))
        yield stages
        yield GaugeMetricFamily(
            "signstream_edge_running", "1 while windows are answered.", value=float(bool(status.get("running")))
        )
        breaker = GaugeMetricFamily(
            "signstream_edge_breaker_state", "The server circuit breaker: 1 for its current state.", labels=["state"]
        )
        for state in BREAKER_STATES:
            breaker.add_metric([state], float(status.get("breaker") == state))
        yield breaker
        info = GaugeMetricFamily(
            "signstream_edge_model_info",
            "1 for the model that gave the last answer (answered_by: cloud or local) and the local model.",
            labels=["role", "name", "version"],
        )
        model, local = status.get("model") or {}, status.get("local_model") or {}
        if model.get("version") is not None:
            info.add_metric(
                [str(model.get("answered_by") or "server"), str(model.get("name")), str(model["version"])], 1
            )
        if local.get("version") is not None:
            info.add_metric(["on_device", str(local.get("name")), str(local["version"])], 1)
        yield info


def render(status) -> bytes:
    """The Prometheus text for one scrape of ``status`` (a callable returning the kiosk's status)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EdgeCollector(status))
    return generate_latest(registry)
