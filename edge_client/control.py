"""The kiosk as its local API sees it: the last answer, status, labels and config, and what the API
changes (the threshold, inference on or off).

``AnswerRelay`` takes the pipeline's events (given to ``Pipeline`` as ``on_answer`` / ``on_label``):
it remembers who answered last and passes the events to the display hub. ``KioskControl`` reads the
running parts; ``edge_client/display/web.py`` serves it (the ``Control`` protocol there).
"""

from __future__ import annotations

import logging
from typing import Any

from edge_client.answering import Answerer, ModelSlot
from edge_client.display.hub import DisplayHub
from edge_client.events import AnswerEvent, LabelEvent
from edge_client.pipeline import Pipeline
from edge_client.settings import EdgeSettings
from edge_client.transport import CloudClient

log = logging.getLogger(__name__)


class AnswerRelay:
    """Pipeline events -> the display hub; remembers the last answer (who gave it, which model).

    Args:
        hub: where label events (and, with ``answers``, every answer) are published.
        answers: publish every answer too (``--json-events``), not only changes of the shown label.
    """

    def __init__(self, hub: DisplayHub, answers: bool = False) -> None:
        self._hub, self._answers = hub, answers
        self.last_answer: AnswerEvent | None = None

    def on_answer(self, ev: AnswerEvent) -> None:
        self.last_answer = ev
        if self._answers:
            self._hub.publish(ev)

    def on_label(self, ev: LabelEvent) -> None:
        self._hub.publish(ev)


class KioskControl:
    """What the local API shows (``status``, ``labels``, ``config``) and changes (threshold, inference)."""

    def __init__(
        self, settings: EdgeSettings, pipeline: Pipeline, hub: DisplayHub, relay: AnswerRelay, slot: ModelSlot,
        answerer: Answerer, cloud: CloudClient | None, server_info: dict | None, names: dict[str, str],
        teacher: Any | None = None,
    ) -> None:  # fmt: skip
        self.teacher = teacher  # edge_client.teach.Teacher: its notice is shown in the status
        self.settings, self.pipeline, self.hub, self.relay = settings, pipeline, hub, relay
        self.slot, self.answerer, self.cloud = slot, answerer, cloud
        self.server_info, self.names = server_info, names

    def model_info(self) -> dict[str, Any]:
        last, local = self.relay.last_answer, self.slot.current
        info: dict[str, Any] = {"answered_by": last.answered_by if last else None}
        if last is not None:
            info |= {"name": last.model_name, "version": last.model_version}
        elif local is not None and (self.cloud is None or self.settings.local_only):
            info |= {"name": local.manifest.name, "version": local.manifest.version}
        elif self.server_info:
            info |= {"name": self.server_info.get("name"), "version": self.server_info.get("version")}
        return info

    def threshold(self) -> float | None:
        if self.pipeline.threshold is not None:  # the setting, or what POST /api/config set
            return self.pipeline.threshold
        last = self.relay.last_answer
        if last is not None and last.threshold is not None:
            return last.threshold
        local = self.slot.current
        if local is not None:
            return local.manifest.threshold
        return self.server_info.get("threshold") if self.server_info else None

    def status(self) -> dict[str, Any]:
        p = self.pipeline
        p.counters.update_fps()
        local, latest = self.slot.current, self.hub.latest_label
        return {
            "running": p.running,
            "source": self.settings.source,
            "model": self.model_info(),
            "threshold": self.threshold(),
            "local_model": {"name": local.manifest.name, "version": local.manifest.version} if local else None,
            "server": self.settings.server if not self.settings.local_only else None,
            "breaker": self.cloud.breaker.state if self.cloud else None,
            "latest_label": latest.as_dict() if latest is not None else None,
            "problem": self.problem(),
            "notice": self.teacher.notice if self.teacher is not None else None,
            "counters": p.counters.snapshot()
            | {
                "fallbacks": self.answerer.fallbacks,
                "cloud_errors": self.answerer.cloud_errors,
                "auth_errors": self.answerer.auth_errors,
                "enrolled_local": self.answerer.enrolled_local,
            },
            "history_size": self.settings.history,
            "stage_ms": p.stage_times.summary(),
        }

    def problem(self) -> str | None:
        """What the operator should know now (the status bar's text): the camera's, then the answers'."""
        problems = [self.pipeline.source_problem, self.answerer.problem]
        return "; ".join(p for p in problems if p) or None

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
            "threshold_source": "kiosk" if self.pipeline.threshold is not None else "model",
            "sequence_length": self.pipeline.window_frames,
            "model_path": model_path,
        }

    def set_threshold(self, threshold: float | None) -> None:
        """Confidence a window needs to vote for its label from now on (None: the model's own)."""
        self.pipeline.threshold = threshold
        log.info("threshold set to %s", "the model's" if threshold is None else threshold)

    def set_inference(self, running: bool) -> None:
        self.pipeline.set_running(running)
        log.info("inference %s", "started" if running else "stopped")
