"""What the pipeline and the kiosk tell the display: the raw ``AnswerEvent`` of each window, the
``LabelEvent`` of each change of the shown label and the kiosk's ``StatusEvent``. The display hub
carries these objects; they become dicts (``as_dict()``) only where they leave the process: the
page's event stream, Socket.IO, JSON lines and the local API's JSON."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


@dataclass
class AnswerEvent:
    """The raw answer for one window (before smoothing)."""

    kind: ClassVar[str] = "answer"

    label: str
    confidence: float
    confident: bool
    answered_by: str
    model_name: str
    model_version: str
    threshold: float
    truth: str | None
    latency_ms: float
    window: int
    sign: int

    def as_dict(self) -> dict:
        return {"event": self.kind, **asdict(self)}


@dataclass
class LabelEvent:
    """What the display shows from now on (``label`` None: nothing); the smoothed label."""

    kind: ClassVar[str] = "label"

    label: str | None
    display_name: str | None
    confidence: float
    answered_by: str
    model_name: str
    model_version: str
    latency_ms: float
    truth: str | None
    time: float = field(default_factory=time.time)

    def as_dict(self) -> dict:
        return {"event": self.kind, **asdict(self)}


@dataclass
class StatusEvent:
    """The kiosk's status as the local API's ``/api/status`` reads it (``KioskControl.status()``)."""

    kind: ClassVar[str] = "status"

    status: dict[str, Any]

    def as_dict(self) -> dict:
        return {"event": self.kind, **self.status}


Event = AnswerEvent | LabelEvent | StatusEvent
"""Anything the display hub carries."""
