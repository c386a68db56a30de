"""Assembling and running the edge client from its settings: the one place that wires the parts.

``build_kiosk(settings)`` makes every part (each also usable alone); ``Kiosk.run()`` starts
them, stops them all on SIGTERM/SIGINT or at the end of a file, and returns the final counters.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_client.answering import Answerer, LocalModel, ModelSlot
from edge_client.control import AnswerRelay, KioskControl
from edge_client.display.access import AccessPolicy, exposure_warning
from edge_client.display.hub import DisplayHub
from edge_client.display.web import WebDisplay, create_app
from edge_client.pipeline import Pipeline, PipelineOptions
from edge_client.preflight import check_something_answers
from edge_client.settings import EdgeSettings, EdgeSettingsError, is_camera
from edge_client.smoothing import Smoother
from edge_client.stage_times import StageTimes
from edge_client.systemd import Watchdog, notify, watchdog_interval
from edge_client.teach import Teacher
from edge_client.transport import Backoff, CircuitBreaker, CloudClient
from edge_client.window import FrameSampler, Windower
from shared.contract.spec import FeatureSpec
from shared.registry.preflight import check_store
from shared.registry.registry import Registry
from shared.registry.store import open_store
from shared.registry.sync import ModelSync

log = logging.getLogger(__name__)
STATUS_INTERVAL_S = 1.0  # how often the page's event stream gets the status


def read_display_names(path: Path | None) -> dict[str, str]:
    """The {label: display name} JSON file (for translations); {} without one."""
    if path is None:
        return {}
    try:
        names = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise EdgeSettingsError(f"{path}: cannot read display names ({err})") from err
    if not isinstance(names, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in names.items()):
        raise EdgeSettingsError(f'{path}: display names must be a JSON object {{"label": "name shown", ...}}')
    return names


def make_source(settings: EdgeSettings, spec: FeatureSpec):
    """The frame source the ``source`` setting names (see EdgeSettings.source)."""
    from edge_client.sources import CameraSource, PiCameraSource, ReplaySource, SourceError, VideoFileSource

    s = settings
    if s.source.endswith(".npz"):
        from shared.datasets.dataset import load_dataset

        if not Path(s.source).is_file():
            raise SourceError(f"{s.source}: no such dataset file")
        return ReplaySource(load_dataset(s.source), fps=spec.fps, speed=s.replay_speed, limit=s.replay_limit)
    if s.source in ("picamera", "picamera2"):
        return PiCameraSource(s.width, s.height, s.camera_fps, s.frame_max_side, s.mirror)
    if is_camera(s.source):
        return CameraSource(s.source, s.width, s.height, s.camera_fps, s.frame_max_side, s.mirror, s.reopen_delay)
    return VideoFileSource(s.source, realtime=s.realtime, max_side=s.frame_max_side, mirror=s.mirror)


def make_cloud(settings: EdgeSettings, stop: threading.Event) -> CloudClient | None:
    """The server client, or None when there is no server or the client is local-only."""
    s = settings
    if not s.server or s.local_only:
        return None
    return CloudClient(
        s.server, api_key=s.api_key.get_secret_value() if s.api_key else None, timeout=s.timeout,
        binary=s.wire == "binary", verify=str(s.ca_bundle) if s.ca_bundle else True, device_id=s.device_id,
        retries=s.retries, backoff=Backoff(s.backoff, s.backoff_max),
        breaker=CircuitBreaker(s.breaker_failures, s.breaker_reset), sleep=stop.wait, pool_size=s.max_in_flight,
    )  # fmt: skip


@dataclass
class Kiosk:
    """Every part of a running edge client, built by ``build_kiosk``; ``run`` starts and stops them."""

    settings: EdgeSettings
    pipeline: Pipeline
    hub: DisplayHub
    control: KioskControl
    web: WebDisplay
    stop: threading.Event
    cloud: CloudClient | None = None
    sync: ModelSync | None = None
    owned_landmarker: Any = None
    teacher: Teacher | None = None
    out: Callable[[str], None] = field(default=lambda line: print(line, flush=True))

    @property
    def slot(self) -> ModelSlot:
        return self.control.slot

    def _report(self) -> None:
        """Status to the page's event stream every second; the counters to the log now and then."""
        next_log = time.monotonic() + self.settings.counters_interval
        while not self.stop.wait(STATUS_INTERVAL_S):
            try:
                status = self.control.status()
            except Exception:  # the status thread must outlive any one failure
                log.exception("status failed")
                continue
            self.hub.publish_status(status)
            if time.monotonic() >= next_log:
                next_log = time.monotonic() + self.settings.counters_interval
                log.info("counters %s", json.dumps(status["counters"]))

    def run(self, install_signals: bool = True) -> dict[str, Any]:
        """Run until the source ends or a signal/stop; return the final counters."""
        s = self.settings
        if s.json_events:
            self.hub.add_sink(lambda ev: self.out(json.dumps(ev.as_dict())))  # sinks get answers and labels only
        previous = {}
        if install_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, lambda *_: self.stop.set())
        threads = []
        try:
            self.hub.start()
            if self.sync is not None:
                self.sync.start(wait_first=True)  # build_kiosk primed it
            self.web.start()
            self.pipeline.start()
            reporter = threading.Thread(target=self._report, name="status", daemon=True)
            reporter.start()
            threads.append(reporter)
            interval = watchdog_interval()
            if interval:
                dog = Watchdog(self.pipeline.healthy, interval, self.stop)
                dog.start()
                threads.append(dog)
            notify("READY=1")
            log.info("edge client running: source %s, server %s, local model %s", s.source, s.server,
                     self.slot.current.manifest.version if self.slot.current else None)  # fmt: skip
            if s.display == "opencv":
                from edge_client.display import window

                window.run(self.hub, self.stop, s.mirror)
            self.pipeline.wait()
        finally:
            notify("STOPPING=1")
            self.stop.set()
            self.pipeline.close()
            if self.sync is not None:
                self.sync.stop(5.0)
            for t in reversed(threads):
                t.join(1.0)
            self.hub.stop()
            self.web.stop()
            if self.cloud is not None:
                self.cloud.close()
            if self.owned_landmarker is not None:
                self.owned_landmarker.close()  # MediaPipe's graph threads end here, not in a GC finaliser
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        summary = self.control.status()["counters"]  # the same counts as /api/status and /metrics
        log.info("counters %s", json.dumps(summary))
        return summary


def build_kiosk(settings: EdgeSettings, out: Callable[[str], None] | None = None, landmarker=None) -> Kiosk:
    """Make every part from ``settings``; nothing starts yet (``Kiosk.run`` starts it all).

    Args:
        out: where JSON event lines go (default: stdout).
        landmarker: a ready landmarker (tests, benchmarks); default: a HandLandmarks for picture sources.
    """
    s = settings
    stop = threading.Event()
    names = read_display_names(s.display_names)
    cloud = make_cloud(s, stop)
    stage_times = StageTimes()  # the pipeline's stages and the local model's split, in one place
    slot = ModelSlot(s.tflite, s.public_key, on_loaded=_report_local_version(cloud), timing=stage_times.add)
    if s.local_model is not None:
        slot.load(s.local_model)
    teacher = None
    if s.teach_dir is not None:
        registry = Registry(open_store(s.store)) if s.teach_push and s.store else None
        teacher = Teacher(slot, s.teach_dir, session=s.teach_session, signing_key=s.teach_signing_key,
                          registry=registry)  # fmt: skip
    # A version from the store goes through the teacher: the signs taught here follow a promotion.
    sync = ModelSync.follow(s, teacher.follow if teacher is not None else slot.load)
    if sync is not None:  # the store first, for up to startup_wait; the cache only if no --local-model
        check_store(sync.registry, sync.name, s.startup_wait, EdgeSettingsError)
        sync.prime(s.startup_wait, use_cache=slot.current is None)
    if teacher is not None:  # the version in use after a restart (follow may have loaded it already)
        teacher.restore()
    check_something_answers(cloud is not None, slot.current is not None, s.store, s.model_name)
    server_info = cloud.server_model() if cloud is not None else None
    if slot.current is not None:
        spec = slot.current.manifest.spec
    elif server_info and "spec" in server_info:
        spec = FeatureSpec.model_validate(server_info["spec"])
    else:
        spec = FeatureSpec()
        log.warning("no model known yet: windows of %s frames at %s fps", spec.frames, spec.fps)
    source = make_source(s, spec)
    owned = None
    if landmarker is None and not s.source.endswith(".npz"):
        from shared.hands.landmarker import HandLandmarks

        landmarker = owned = HandLandmarks(s.hand_model, mirrored=s.mirror, backend=s.hand_backend)
        log.info("hand landmarks: %s (%s model)", landmarker.backend, s.hand_model)
    answerer = Answerer(cloud, slot, local_only=s.local_only)
    hub = DisplayHub(history=s.history)
    relay = AnswerRelay(hub, answers=s.json_events)
    recorder = None
    if s.record_dir is not None:
        from edge_client.record import WindowRecorder

        recorder = WindowRecorder(s.record_dir)
    options = PipelineOptions(s.frame_queue, s.window_queue, s.max_in_flight, s.flush_timeout, names=names)
    pipeline = Pipeline(
        source, Windower(spec.frames, s.stride, s.min_hand_frames, s.end_after), answerer, options,
        landmarker=landmarker, sampler=FrameSampler(spec.fps),
        smoother=Smoother(s.smooth_k, s.smooth_n, s.hold, s.threshold), on_frame=hub.set_frame,
        on_answer=relay.on_answer, on_label=relay.on_label, stop=stop, recorder=recorder,
        on_window=teacher.tap if teacher is not None else None, stage_times=stage_times,
    )  # fmt: skip
    control = KioskControl(s, pipeline, hub, relay, slot, answerer, cloud, server_info, names, teacher)
    # The local API, /metrics and Socket.IO are served whatever the display: a headless kiosk or one
    # with an OpenCV window is still scraped and still feeds its peers (docs/edge.md).
    token = s.admin_token.get_secret_value() if s.admin_token else None
    policy = AccessPolicy.for_kiosk(s.web_host, s.allowed_hosts, s.cors_origins, token, s.max_body)
    warning = exposure_warning(s.web_host, token)
    if warning:
        log.warning(warning)
    pin = s.teach_pin.get_secret_value() if s.teach_pin else None
    app, _ = create_app(hub, control, mirrored=s.mirror, preview_fps=s.preview_fps, policy=policy, teacher=teacher,
                        teach_pin=pin)  # fmt: skip
    web = WebDisplay(app, s.web_host, s.web_port)
    return Kiosk(s, pipeline, hub, control, web, stop, cloud, sync, owned, teacher,
                      out or (lambda line: print(line, flush=True)))  # fmt: skip


def _report_local_version(cloud: CloudClient | None):
    """The slot's ``on_loaded``: the cloud client reports the local model's version from then on."""
    if cloud is None:
        return None
    return lambda model, previous: cloud.set_local_version(model.manifest.version)


def run_edge_settings(settings: EdgeSettings) -> dict[str, Any]:
    """Build and run; print the summary as a JSON line with --json-events, else one line on stderr."""
    kiosk = build_kiosk(settings)
    started = time.monotonic()
    summary = kiosk.run()
    if settings.json_events:
        kiosk.out(json.dumps({"event": "summary", **summary}))
    else:
        print(f"signstream edge: stopped after {time.monotonic() - started:.1f} s: {summary}", file=sys.stderr)
    return summary


__all__ = ["Kiosk", "LocalModel", "build_kiosk", "run_edge_settings"]
