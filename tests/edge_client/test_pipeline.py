"""The threaded pipeline with fakes: dropping and counting, never waiting on slower stages, fallback both
ways, end-of-video flushing, pausing, privacy and clean shutdown."""

import logging
import threading

import numpy as np
import pytest

from edge_client.answering import CLOUD, LOCAL, Answer, Answerer, NoAnswerError
from edge_client.pipeline import Pipeline, PipelineOptions, put_drop_oldest
from edge_client.smoothing import Smoother
from edge_client.transport import CircuitBreaker, CloudClient
from edge_client.window import FrameSampler, Windower

from .conftest import FakeFrameSource, FakeLandmarker, FakeLocalModel, FakeSlot, frames_from, pictures

SIGN = "." * 3 + "h" * 30 + "." * 8  # one 2 s sign at 15 fps


class BlockingAnswerer:
    """Answers only once ``release`` is set (a server that hangs); counts calls."""

    def __init__(self, label: str = "hello") -> None:
        self.release = threading.Event()
        self.calls = 0
        self.label = label

    def answer(self, window: np.ndarray) -> Answer:
        self.calls += 1
        self.release.wait(30)
        return Answer(self.label, 0.9, False, 0.5, "m", "1", CLOUD)


class FixedAnswerer:
    def __init__(self, label: str = "hello", by: str = CLOUD) -> None:
        self.label, self.by = label, by
        self.windows: list[np.ndarray] = []

    def answer(self, window: np.ndarray) -> Answer:
        self.windows.append(window)
        return Answer(self.label, 0.9, False, 0.5, "m", "1", self.by)


def run(source, answerer, options=None, **kw):
    labels, answers = [], []
    kw.setdefault("smoother", Smoother(2, 3, 1.5))
    p = Pipeline(source, kw.pop("windower", Windower(30, 5, 6, 4)), answerer, options, on_label=labels.append,
                 on_answer=answers.append, **kw)  # fmt: skip
    counters = p.run()
    return p, counters, labels, answers


def test_put_drop_oldest_counts():
    import queue

    q = queue.Queue(maxsize=2)
    assert [put_drop_oldest(q, i) for i in range(5)] == [0, 0, 1, 1, 1]
    assert [q.get_nowait() for _ in range(2)] == [3, 4]


def test_a_live_source_never_waits_on_slow_landmarks_drops_the_oldest_and_counts():
    lm = FakeLandmarker(delay=0.01)
    source = FakeFrameSource(pictures("h" * 200), live=True)
    _p, c, _, _ = run(source, FixedAnswerer(), PipelineOptions(frame_queue=2), landmarker=lm)
    assert c.frames_captured == 200
    assert c.frames_dropped > 0
    assert c.frames_processed + c.frames_dropped == c.frames_captured == 200
    assert lm.calls == c.frames_processed


def test_a_file_loses_no_frame():
    lm = FakeLandmarker(delay=0.002)
    _p, c, _, _ = run(FakeFrameSource(pictures(SIGN * 3), live=False), FixedAnswerer(), PipelineOptions(frame_queue=1),
                      landmarker=lm)  # fmt: skip
    assert c.frames_dropped == 0 and c.frames_processed == len(SIGN) * 3 == lm.calls
    assert lm.timestamps == sorted(lm.timestamps)


def test_landmarks_never_wait_on_the_network():
    """A hung server: every frame is still processed; windows beyond the queue are dropped and counted."""
    answerer = BlockingAnswerer()
    source = FakeFrameSource(frames_from(SIGN * 10), live=False)
    p = Pipeline(source, Windower(30, 5, 6, 4), answerer,
                 PipelineOptions(window_queue=2, max_in_flight=1, flush_timeout=0.2))  # fmt: skip
    p.start()
    p.wait()  # returns: the source ended and the flush wait is bounded although no answer came
    answerer.release.set()
    c = p.counters
    assert c.frames_processed == len(SIGN) * 10
    assert c.windows_sent > 3 and c.windows_dropped > 0
    assert c.answers_cloud + c.answers_local == 0


def test_end_of_video_flush_answers_the_last_partial_window():
    answerer = FixedAnswerer("yo")
    # the file ends while the hand is still there: 20 frames, fewer than a full window
    _p, _c, labels, answers = run(FakeFrameSource(frames_from("..." + "h" * 20), live=False), answerer)
    assert [len(w) for w in answerer.windows] == [20]
    assert [a.window for a in answers] == [22]
    assert [ev.label for ev in labels] == ["yo"]  # a 1-window sign is named once it is over


def test_windows_with_too_few_hands_are_not_sent():
    answerer = FixedAnswerer()
    _, c, labels, _ = run(FakeFrameSource(frames_from("hhh....." * 5 + "h...h...")), answerer)
    assert c.windows_sent == 0 and answerer.windows == [] and labels == []


def test_sampler_puts_a_30fps_stream_on_the_models_15fps_grid():
    answerer = FixedAnswerer()
    frames = frames_from("h" * 60 + "." * 12, fps=30)
    run(FakeFrameSource(frames), answerer, sampler=FrameSampler(15.0))
    assert answerer.windows and all(len(w) <= 30 for w in answerer.windows)
    assert answerer.windows[0].shape == (30, 126)


def test_fallback_both_ways(fake_server):
    """Server up: cloud answers. Server failing: the local model answers and the breaker opens (the server
    is no longer called). Server back after the reset time: the trial succeeds and the cloud answers again."""

    class Clock:
        now = 0.0

        def __call__(self):
            return self.now

    clock = Clock()
    cloud = CloudClient(fake_server.url, retries=0, breaker=CircuitBreaker(2, 30.0, clock), sleep=lambda s: None)
    local = FakeLocalModel()
    answerer = Answerer(cloud, FakeSlot(local))
    w = np.zeros((30, 126), np.float32)
    assert answerer.answer(w).answered_by == CLOUD
    fake_server.mode = "status"
    by = [answerer.answer(w).answered_by for _ in range(5)]
    assert by == [LOCAL] * 5 and answerer.fallbacks == 5
    assert len(fake_server.requests) == 3  # 1 answered + 2 failures opened the breaker
    fake_server.mode = "ok"
    assert answerer.answer(w).answered_by == LOCAL  # still open
    clock.now += 30
    assert answerer.answer(w).answered_by == CLOUD
    assert answerer.answer(w).answered_by == CLOUD and local.calls == 6


def test_fallback_in_a_pipeline_run_says_who_answered(fake_server):
    fake_server.mode = "status"
    cloud = CloudClient(fake_server.url, retries=0, sleep=lambda s: None)
    _, c, labels, answers = run(FakeFrameSource(frames_from(SIGN * 2)), Answerer(cloud, FakeSlot(FakeLocalModel())))
    assert {a.answered_by for a in answers} == {LOCAL} and c.answers_local == len(answers) > 0
    assert labels and labels[0].answered_by == LOCAL and labels[0].label == "local-sign"


def test_local_only_never_calls_the_server(fake_server):
    cloud = CloudClient(fake_server.url)
    _, c, _, answers = run(FakeFrameSource(frames_from(SIGN)), Answerer(cloud, FakeSlot(FakeLocalModel()), True))
    assert answers and fake_server.requests == [] and c.answers_cloud == 0


def test_no_server_and_no_local_model_is_counted_not_fatal(down_url):
    cloud = CloudClient(down_url, retries=0, sleep=lambda s: None)
    with pytest.raises(NoAnswerError):
        Answerer(cloud, None).answer(np.zeros((30, 126), np.float32))
    _, c, labels, _ = run(FakeFrameSource(frames_from(SIGN)), Answerer(cloud, None))
    assert c.unanswered == c.windows_sent > 0 and labels == []


def test_clean_shutdown_joins_every_thread():
    source = FakeFrameSource(pictures("h" * 30 + "." * 10), live=True, delay=0.001, forever=True)
    p = Pipeline(source, Windower(30, 5, 6, 4), FixedAnswerer(), landmarker=FakeLandmarker())
    before = set(threading.enumerate())
    p.start()
    threading.Timer(0.5, p.stop.set).start()
    p.wait()
    assert p.counters.frames_processed > 0 and source.closed
    left = [t for t in set(threading.enumerate()) - before if t.name in ("capture", "landmarks", "dispatch", "results")]
    assert left == []


def test_a_paused_pipeline_keeps_the_picture_but_sends_nothing():
    seen = []
    answerer = FixedAnswerer()
    p = Pipeline(FakeFrameSource(frames_from(SIGN * 2)), Windower(30, 5, 6, 4), answerer,
                 on_frame=lambda img, f: seen.append(f.index))  # fmt: skip
    p.inference.clear()
    p.run()
    assert len(seen) == len(SIGN) * 2 and answerer.windows == []


def test_a_failing_landmarker_frame_is_logged_and_skipped(caplog):
    class Flaky(FakeLandmarker):
        def detect(self, rgb, ts):
            if self.calls == 3:
                self.calls += 1
                raise RuntimeError("boom")
            return super().detect(rgb, ts)

    with caplog.at_level(logging.ERROR):
        _, c, _, _ = run(FakeFrameSource(pictures("h" * 10)), FixedAnswerer(), landmarker=Flaky())
    assert c.frames_processed == 9 and c.errors == 1 and "landmarks stage failed on frame 3" in caplog.text


def test_privacy_nothing_is_stored_unless_asked(tmp_path, monkeypatch):
    from edge_client.record import WindowRecorder

    monkeypatch.chdir(tmp_path)
    run(FakeFrameSource(frames_from(SIGN)), FixedAnswerer())
    assert list(tmp_path.rglob("*")) == []
    rec = WindowRecorder(tmp_path / "rec")
    run(FakeFrameSource(frames_from(SIGN * 2)), FixedAnswerer(), recorder=rec)
    files = sorted((tmp_path / "rec").glob("*.npz"))
    assert len(files) == rec.written >= 2
    with np.load(files[0]) as d:
        assert d["landmarks"].shape[1] == 126 and str(d["label"]) == "hello"
