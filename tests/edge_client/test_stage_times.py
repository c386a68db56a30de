"""Time per stage as the pipeline's own threads record it: sane on a real clip, exact on fakes."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest

from edge_client.answering import Answerer
from edge_client.pipeline import Pipeline
from edge_client.stage_times import STAGES, StageTimes
from edge_client.window import FrameSampler, Windower
from tests.edge_client.conftest import FakeFrameSource, FakeLandmarker, FakeLocalModel, FakeSlot, pictures


def test_summary_gives_percentiles_counts_and_totals_and_keeps_only_the_recent():
    t = StageTimes(keep=10)
    for i in range(1, 21):  # 1..20 ms; only 11..20 are kept for the percentiles
        t.add("landmarks", i / 1000)
    t.add("answer", 0.004)
    s = t.summary()
    assert set(s) == {"landmarks", "answer"}  # a stage with no item is left out
    lm = s["landmarks"]
    assert lm["n"] == 20 and lm["total_s"] == pytest.approx(0.21)
    assert lm["p50_ms"] == pytest.approx(15.5) and lm["p90_ms"] == pytest.approx(19.1)
    assert lm["per"] == "frame" and s["answer"]["per"] == "window"
    assert t.values_ms("landmarks") == pytest.approx(list(range(11, 21)))


def test_the_pipeline_records_what_each_stage_took():
    items = [replace(p, decode_s=0.002) for p in pictures("h" * 40)]
    model = FakeLocalModel()
    p = Pipeline(FakeFrameSource(items), Windower(10, 5, 2, 2), Answerer(None, FakeSlot(model), local_only=True),
                 landmarker=FakeLandmarker(delay=0.003))  # fmt: skip
    p.run()
    s = p.stage_times.summary()
    assert s["decode"]["n"] == 40 and s["decode"]["p50_ms"] == pytest.approx(2.0)  # what the source measured
    assert s["landmarks"]["n"] == 40 and s["landmarks"]["p50_ms"] >= 3.0  # the landmarker sleeps 3 ms
    assert s["window"]["n"] == 40
    assert s["answer"]["n"] == model.calls == p.counters.windows_sent > 0
    assert "features" not in s and "model" not in s  # the fake model runs no TFLite


@pytest.mark.realdata
def test_stage_times_on_a_real_clip_are_positive_and_fit_in_the_wall_time(sign_data):
    from edge_client.sources import VideoFileSource
    from shared.hands.landmarker import HandLandmarks

    source = VideoFileSource(sign_data / "videos" / "hoy_001.mp4", max_side=640)
    with HandLandmarks("lite", backend="litert") as landmarker:  # the quicker to load (no TensorFlow import)
        p = Pipeline(source, Windower(30, 5, 6, 4), Answerer(None, FakeSlot(FakeLocalModel()), local_only=True),
                     landmarker=landmarker, sampler=FrameSampler(15))  # fmt: skip
        t0 = time.monotonic()
        counters = p.run()
        wall = time.monotonic() - t0
    s = p.stage_times.summary()
    frames = counters.frames_processed
    assert frames >= 50 and counters.windows_sent >= 1
    for stage in ("decode", "landmarks", "window", "answer"):
        assert s[stage]["total_s"] > 0 and s[stage]["p50_ms"] > 0, (stage, s)
        assert s[stage]["total_s"] <= wall, (stage, s[stage], wall)
    for stage in ("decode", "landmarks", "window"):
        assert s[stage]["n"] == frames
    # landmarks and windowing run one after the other in one thread: together within the wall time
    assert s["landmarks"]["total_s"] + s["window"]["total_s"] <= wall
    assert s["landmarks"]["p50_ms"] > s["window"]["p50_ms"]  # the hand model, not the buffering, costs


def test_every_stage_is_named_in_stage_times():
    t = StageTimes()
    for stage in STAGES:
        t.add(stage, 0.001)
    assert list(t.summary()) == list(STAGES)
    with pytest.raises(KeyError):
        t.add("nonsense", 0.001)
    assert np.isclose(t.summary()["decode"]["mean_ms"], 1.0)
