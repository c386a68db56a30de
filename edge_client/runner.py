"""Assembling and running the edge client from its settings: the one place that wires the parts.

``build_runner(settings)`` makes every part (each also usable alone); ``EdgeRunner.run()`` starts
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

from edge_client.display.hub import DisplayHub
from edge_client.fallback import Answerer, LocalModel, ModelSlot
from edge_client.pipeline import AnswerEvent, LabelEvent, Pipeline
from edge_client.settings import EdgeSettings, EdgeSettingsError, is_camera
from edge_client.smoothing import Smoother
from edge_client.systemd import Watchdog, notify, watchdog_interval
from edge_client.transport import Backoff, CircuitBreaker, CloudClient
from edge_client.window import FrameSampler, Windower
from shared.spec import FeatureSpec

log = logging.getLogger(__name__)


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
        from shared.dataset import load_dataset

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


def server_model(cloud: CloudClient, timeout: float) -> dict[str, Any] | None:
    """The server's GET /models (name, version, labels, spec, threshold), or None if it does not answer."""
    try:
        resp = cloud.session.get(cloud.url.removesuffix("/predict") + "/models", timeout=timeout, verify=cloud.verify)
        return resp.json() if resp.status_code == 200 else None
    except (OSError, ValueError) as err:
        log.warning("could not ask the server for its model: %s", err)
        return None


def make_sync(settings: EdgeSettings, slot: ModelSlot):
    """A registry ModelSync that swaps each new promoted version into ``slot`` (None without --store)."""
    if not settings.store:
        return None
    from shared.registry.registry import Registry
    from shared.registry.store import open_store
    from shared.registry.sync import ModelSync

    return ModelSync(
        Registry(open_store(settings.store)), settings.model_name, settings.cache_dir, slot.swap,
        interval=settings.sync_interval, public_key=settings.public_key,
    )  # fmt: skip


@dataclass
class EdgeRunner:
    """Every part of a running edge client; see ``build_runner``."""

    settings: EdgeSettings
    pipeline: Pipeline
    hub: DisplayHub
    slot: ModelSlot
    cloud: CloudClient | None
    answerer: Answerer
    stop: threading.Event
    names: dict[str, str]
    sync: Any = None
    server_info: dict | None = None
    web: Any = None
    owned_landmarker: Any = None
    out: Callable[[str], None] = field(default=lambda line: print(line, flush=True))
    last_answer: dict = field(default_factory=dict)

    # --- what the local API shows and changes ------------------------------------------------------

    def model_info(self) -> dict[str, Any]:
        local = self.slot.current
        info: dict[str, Any] = {"answered_by": self.last_answer.get("answered_by")}
        if self.last_answer:
            info |= {"name": self.last_answer.get("model_name"), "version": self.last_answer.get("model_version")}
        elif local is not None and (self.cloud is None or self.settings.local_only):
            info |= {"name": local.manifest.name, "version": local.manifest.version}
        elif self.server_info:
            info |= {"name": self.server_info.get("name"), "version": self.server_info.get("version")}
        return info

    def threshold(self) -> float | None:
        if self.pipeline.smoother.threshold is not None:  # the setting, or what POST /api/config set
            return self.pipeline.smoother.threshold
        if self.last_answer.get("threshold") is not None:
            return self.last_answer["threshold"]
        local = self.slot.current
        if local is not None:
            return local.manifest.threshold
        return self.server_info.get("threshold") if self.server_info else None

    def status(self) -> dict[str, Any]:
        p = self.pipeline
        p.counters.update_fps()
        local = self.slot.current
        return {
            "running": p.inference.is_set() and not p.stop.is_set(),
            "source": self.settings.source,
            "model": self.model_info(),
            "threshold": self.threshold(),
            "local_model": {"name": local.manifest.name, "version": local.manifest.version} if local else None,
            "server": self.settings.server if not self.settings.local_only else None,
            "breaker": self.cloud.breaker.state if self.cloud else None,
            "latest_label": self.hub.latest_label,
            "problem": self.answerer.problem,
            "counters": p.counters.snapshot()
            | {
                "fallbacks": self.answerer.fallbacks,
                "cloud_errors": self.answerer.cloud_errors,
                "auth_errors": self.answerer.auth_errors,
            },
            "history_size": self.settings.history,
        }

    def labels(self) -> dict[str, Any]:
        local = self.slot.current
        labels = list(local.manifest.labels) if local else list((self.server_info or {}).get("labels", []))
        return {"labels": [{"label": x, "display_name": self.names.get(x, x)} for x in labels]}

    def config(self) -> dict[str, Any]:
        """What the bridge API's /api/config and /api/status show: threshold, window length, model path."""
        local = self.slot.current
        if local is not None:
            model_path = str(local.folder)
        else:
            model_path = f"{self.settings.server.rstrip('/')}/predict" if self.settings.server else None
        return {
            "confidence_threshold": self.threshold(),
            "threshold_source": "kiosk" if self.pipeline.smoother.threshold is not None else "model",
            "sequence_length": self.pipeline.windower.frames,
            "model_path": model_path,
        }

    def set_threshold(self, threshold: float | None) -> None:
        """Confidence a window needs to vote for its label from now on (None: the model's own)."""
        self.pipeline.smoother.threshold = threshold
        log.info("threshold set to %s", "the model's" if threshold is None else threshold)

    def set_inference(self, running: bool) -> None:
        if running:
            self.pipeline.inference.set()
        else:
            self.pipeline.inference.clear()
        log.info("inference %s", "started" if running else "stopped")

    # --- running -----------------------------------------------------------------------------------

    def _on_answer(self, ev: AnswerEvent) -> None:
        self.last_answer = {
            "answered_by": ev.answered_by,
            "model_name": ev.model_name,
            "model_version": ev.model_version,
            "threshold": ev.threshold,
        }
        if self.settings.json_events:
            self.hub.publish(ev.as_dict())

    def _on_label(self, ev: LabelEvent) -> None:
        self.hub.publish(ev.as_dict())

    def _log_counters(self) -> None:
        while not self.stop.wait(self.settings.counters_interval):
            log.info("counters %s", json.dumps(self.status()["counters"]))

    def run(self, install_signals: bool = True) -> dict[str, Any]:
        """Run until the source ends or a signal/stop; return the final counters."""
        s = self.settings
        if s.json_events:
            self.hub.add_sink(lambda ev: self.out(json.dumps(ev)) if ev.get("event") != "status" else None)
        previous = {}
        if install_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, lambda *_: self.stop.set())
        threads = []
        try:
            self.hub.start()
            if self.sync is not None:
                self.sync.start(load_cached=False)
            if self.web is not None:
                self.web.start()
            self.pipeline.start()
            counters_thread = threading.Thread(target=self._log_counters, name="counters", daemon=True)
            counters_thread.start()
            threads.append(counters_thread)
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
            if self.web is not None:
                self.web.stop()
            if self.cloud is not None:
                self.cloud.close()
            if self.owned_landmarker is not None:
                self.owned_landmarker.close()  # MediaPipe's graph threads end here, not in a GC finaliser
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        summary = self.status()["counters"]  # the same counts as /api/status and /metrics
        log.info("counters %s", json.dumps(summary))
        return summary


def build_runner(settings: EdgeSettings, out: Callable[[str], None] | None = None, landmarker=None) -> EdgeRunner:
    """Make every part from ``settings``; nothing starts yet (``EdgeRunner.run`` starts it all).

    Args:
        out: where JSON event lines go (default: stdout).
        landmarker: a ready landmarker (tests, benchmarks); default: a HandLandmarks for picture sources.
    """
    s = settings
    stop = threading.Event()
    names = read_display_names(s.display_names)
    slot = ModelSlot(s.tflite, s.public_key)
    if s.local_model is not None:
        slot.swap(s.local_model)
    sync = make_sync(s, slot)
    if sync is not None and slot.current is None and not sync.apply_cached():
        sync.check_once()  # no cached model yet: try the registry once before starting
    cloud = make_cloud(s, stop)
    if cloud is not None:
        slot.listeners.append(lambda m: cloud.set_local_version(m.manifest.version))
        if slot.current is not None:
            cloud.set_local_version(slot.current.manifest.version)
    server_info = server_model(cloud, s.timeout) if cloud is not None else None
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
    recorder = None
    if s.record_dir is not None:
        from edge_client.record import WindowRecorder

        recorder = WindowRecorder(s.record_dir)
    pipeline = Pipeline(
        source, Windower(spec.frames, s.stride, s.min_hand_frames, s.end_after), answerer,
        landmarker=landmarker, sampler=FrameSampler(spec.fps),
        smoother=Smoother(s.smooth_k, s.smooth_n, s.hold, s.threshold), on_frame=hub.set_frame,
        frame_queue=s.frame_queue, window_queue=s.window_queue, max_in_flight=s.max_in_flight,
        flush_timeout=s.flush_timeout, stop=stop, names=names, recorder=recorder,
    )  # fmt: skip
    runner = EdgeRunner(s, pipeline, hub, slot, cloud, answerer, stop, names, sync, server_info,
                        owned_landmarker=owned, out=out or (lambda line: print(line, flush=True)))  # fmt: skip
    pipeline.on_answer, pipeline.on_label = runner._on_answer, runner._on_label
    hub.status_fn = runner.status
    # The local API, /metrics and Socket.IO are served whatever the display: a headless kiosk or one
    # with an OpenCV window is still scraped and still feeds its peers (docs/edge.md).
    from edge_client.display.web import WebDisplay, create_app

    app, _ = create_app(hub, runner, mirrored=s.mirror, preview_fps=s.preview_fps, cors_origins=s.cors_origins)
    runner.web = WebDisplay(app, s.web_host, s.web_port)
    return runner


def run_edge_settings(settings: EdgeSettings) -> dict[str, Any]:
    """Build and run; print the summary as a JSON line with --json-events, else one line on stderr."""
    runner = build_runner(settings)
    started = time.monotonic()
    summary = runner.run()
    if settings.json_events:
        runner.out(json.dumps({"event": "summary", **summary}))
    else:
        print(f"signstream edge: stopped after {time.monotonic() - started:.1f} s: {summary}", file=sys.stderr)
    return summary


__all__ = ["EdgeRunner", "LocalModel", "build_runner", "run_edge_settings"]
