"""What the pipeline tells the rest of the kiosk: the raw ``AnswerEvent`` of each window and the
``LabelEvent`` of each change of the shown label (the display hub, Socket.IO and JSON lines carry
them as ``as_dict()``)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field


@dataclass
class AnswerEvent:
    """The raw answer for one window (before smoothing)."""

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
        return {"event": "answer", **asdict(self)}


@dataclass
class LabelEvent:
    """What the display shows from now on (``label`` None: nothing); the smoothed label."""

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
        return {"event": "label", **asdict(self)}
