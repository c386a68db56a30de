"""The kiosk's Prometheus metrics: the runner's counters, breaker state and models, in valid text format."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from edge_client.counters import Counters
from edge_client.metrics import COUNTERS, GAUGES, render
from edge_client.stage_times import StageTimes
from edge_client.transport import CircuitBreaker


def samples(text: bytes) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def status(counters: Counters, fallbacks: int, breaker: str, **extra) -> dict:
    return {
        "running": True,
        "breaker": breaker,
        "model": {"answered_by": "local", "name": "signs", "version": "3"},
        "local_model": {"name": "signs", "version": "3"},
        "counters": counters.snapshot() | {"fallbacks": fallbacks},
        **extra,
    }


def test_every_counter_of_the_pipeline_is_exported():
    answerer = {"fallbacks", "cloud_errors", "auth_errors", "enrolled_local"}
    known = set(Counters().snapshot()) | answerer
    assert set(COUNTERS) <= known and set(GAUGES) <= known
    assert set(Counters().snapshot()) <= set(COUNTERS) | set(GAUGES)  # a new counter must be exported too


def test_render_reports_the_counts_breaker_and_models():
    c = Counters()
    c.frames_processed, c.answers_cloud, c.answers_local, c.frames_dropped = 120, 7, 4, 2
    c.answer_latency_ms.extend([10.0, 20.0, 30.0])
    got = samples(render(lambda: status(c, fallbacks=4, breaker=CircuitBreaker.HALF_OPEN)))
    assert got[("signstream_edge_fallback_total", ())] == 4
    assert got[("signstream_edge_answers_local_total", ())] == 4
    assert got[("signstream_edge_answers_cloud_total", ())] == 7
    assert got[("signstream_edge_frames_processed_total", ())] == 120
    assert got[("signstream_edge_frames_dropped_total", ())] == 2
    assert got[("signstream_edge_answer_latency_p50_ms", ())] == 20.0
    assert ("signstream_edge_label_latency_p50_ms", ()) not in got  # unknown until a label was shown
    states = {dict(k[1])["state"]: v for k, v in got.items() if k[0] == "signstream_edge_breaker_state"}
    assert states == {"closed": 0, "open": 0, "half-open": 1}
    assert got[("signstream_edge_running", ())] == 1
    info = {dict(k[1])["role"]: dict(k[1])["version"] for k in got if k[0] == "signstream_edge_model_info"}
    assert info == {"local": "3", "on_device": "3"}


def test_render_before_anything_happened():
    got = samples(render(lambda: {"running": False, "breaker": None, "model": {}, "local_model": None,
                                  "counters": Counters().snapshot() | {"fallbacks": 0}}))  # fmt: skip
    assert got[("signstream_edge_fallback_total", ())] == 0
    assert got[("signstream_edge_running", ())] == 0
    assert not [k for k in got if k[0] == "signstream_edge_model_info"]


def test_render_reports_the_stage_times_by_stage_and_quantile():
    times = StageTimes()
    for ms in (10, 20, 30):
        times.add("landmarks", ms / 1000)
    times.add("answer", 0.005)
    got = samples(render(lambda: status(Counters(), fallbacks=0, breaker=None, stage_ms=times.summary())))
    stage = {
        (dict(k[1])["stage"], dict(k[1])["quantile"]): v for k, v in got.items() if k[0] == "signstream_edge_stage_ms"
    }
    assert stage == {("landmarks", "0.5"): 20.0, ("landmarks", "0.9"): 28.0, ("answer", "0.5"): 5.0,
                     ("answer", "0.9"): 5.0}  # fmt: skip
