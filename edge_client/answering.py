"""Who answers a window: the cloud server, or the bundle's TFLite model on this device.

The local model sits in a ``ModelSlot`` (``shared.model.hot_swap``): a new bundle is loaded, verified and
warmed first, then swapped in, so a bad bundle leaves the old model answering. ``Answerer`` asks the
cloud while its circuit breaker lets it and falls back to the local model otherwise (or always,
with ``local_only``); every answer says who gave it.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_client.transport import AuthError, CircuitOpenError, CloudClient, TransportError
from shared.app.errors import SignstreamError
from shared.model.bundle import TFLITE_FLOAT, TFLITE_INT8, Manifest
from shared.model.enroll import with_enrolled
from shared.model.hot_swap import HotSwap
from shared.model.open_bundle import open_bundle
from shared.model.predictor import LogitsRunner, predict_windows
from shared.model.tflite import TFLiteRunner

log = logging.getLogger(__name__)

CLOUD, LOCAL = "cloud", "local"
# What /api/status's "problem" (the page's status bar) says about the answers.
ANSWERING_LOCALLY = "server unreachable, answering locally"
NOTHING_ANSWERS = "server unreachable and no local model: nothing answers"
KEY_REFUSED = "the server refused the API key"


class NoAnswerError(SignstreamError):
    """Neither the server nor a local model could answer a window."""


@dataclass(frozen=True)
class Answer:
    """One window's answer, whoever gave it."""

    label: str
    confidence: float
    below_threshold: bool
    threshold: float
    model_name: str
    model_version: str
    answered_by: str  # CLOUD or LOCAL
    no_sign: bool = False  # nobody signs: never shown as a label


class LocalModel:
    """A verified bundle and its TFLite interpreter; ``predict`` is serialised (interpreters are not thread-safe)."""

    def __init__(
        self, folder: Path, manifest: Manifest, runner: LogitsRunner,
        timing: Callable[[str, float], None] | None = None,
    ) -> None:  # fmt: skip
        self.folder, self.manifest, self.runner, self.timing = folder, manifest, runner, timing
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls, folder: str | Path, tflite: str = "float", public_key: Path | None = None,
        timing: Callable[[str, float], None] | None = None,
    ) -> LocalModel:  # fmt: skip
        """Verify the bundle (checksums; the signature too with ``public_key``), load and warm its TFLite model.

        ``timing`` is told each answer's features and model seconds (``edge_client.stage_times``).
        """
        folder = Path(folder)
        manifest = open_bundle(folder, public_key)
        name = TFLITE_INT8 if tflite == "int8" else TFLITE_FLOAT
        if name not in manifest.files:
            raise SignstreamError(f"{folder}: the bundle has no {name}")
        model = cls(folder, manifest, with_enrolled(TFLiteRunner(folder / name), folder, manifest))
        model.predict(np.zeros((manifest.spec.frames, manifest.spec.raw_dim), np.float32))  # warm up, untimed
        model.timing = timing
        return model

    def predict(self, window: np.ndarray) -> Answer:
        """Answer one (T, 126) raw window through the shared normalisation and calibration."""
        with self._lock:
            window = np.asarray(window, np.float32)
            pred = predict_windows(self.runner, self.manifest, [window], k=1, timing=self.timing)[0]
        m = self.manifest
        return Answer(pred.label, pred.confidence, pred.below_threshold, m.threshold, m.name, m.version, LOCAL,
                      pred.no_sign)  # fmt: skip


class ModelSlot(HotSwap[LocalModel]):
    """The kiosk's local model (``shared.model.hot_swap.HotSwap`` of ``LocalModel``).

    Args:
        tflite: "float" or "int8", the bundle's TFLite file to run.
        public_key: refuse bundles not signed by this key.
        on_loaded: told ``(new, previous)`` after each swap (the cloud client's version header).
        timing: told each local answer's features and model seconds (``edge_client.stage_times``).
    """

    def __init__(
        self, tflite: str = "float", public_key: Path | None = None, *,
        on_loaded: Callable[[LocalModel, LocalModel | None], None] | None = None,
        timing: Callable[[str, float], None] | None = None,
    ) -> None:  # fmt: skip
        loader = functools.partial(LocalModel.load, tflite=tflite, public_key=public_key, timing=timing)
        super().__init__(loader, on_loaded=on_loaded, what="local model", logger=log)


class Answerer:
    """Cloud first while the breaker allows it, else the local model; counts fallbacks.

    Signs enrolled into the local model (taught at this kiosk) are answered locally until the server
    serves that version: when the server answers with another version, a window the local model names
    as one of its enrolled signs (above its threshold) gets the local answer.

    Args:
        cloud: the server client, or None (local only).
        slot: the local model slot, or None (no offline answers).
        local_only: never call the cloud.
    """

    def __init__(self, cloud: CloudClient | None, slot: ModelSlot | None, local_only: bool = False) -> None:
        self.cloud, self.slot, self.local_only = cloud, slot, local_only
        self.fallbacks = 0
        self.cloud_errors = 0
        self.auth_errors = 0  # 401/403 answers: the key is wrong or revoked
        self.enrolled_local = 0  # windows the server answered but the local model named as a sign enrolled here
        self.problem: str | None = None  # what the status bar shows until the server answers again
        self._lock = threading.Lock()

    def answer(self, window: np.ndarray) -> Answer:
        """Answer one (T, 126) window; raise NoAnswerError if nobody can."""
        if self.cloud is None or self.local_only:
            return self._local(window, "no server and no local model", cloud_down=False)
        try:
            r = self.cloud.predict(window)
        except CircuitOpenError as err:  # still down: the breaker waits before the next trial
            return self._local(window, str(err), cloud_down=self.problem != KEY_REFUSED)
        except AuthError as err:  # an operator must act: an error, counted and shown, not a warning
            with self._lock:
                self.cloud_errors += 1
                self.auth_errors += 1
                self.problem = KEY_REFUSED
            log.error("API key refused: %s", err)
            return self._local(window, str(err), cloud_down=False)
        except TransportError as err:
            with self._lock:
                self.cloud_errors += 1
            log.warning("server did not answer: %s", err)
            return self._local(window, str(err), cloud_down=True)
        self.problem = None
        taught = self._taught_here(window, r.model.version)
        if taught is not None:
            return taught
        return Answer(r.label, r.confidence, r.below_threshold, r.threshold, r.model.name, r.model.version,
                      CLOUD, r.no_sign)  # fmt: skip

    def _taught_here(self, window: np.ndarray, server_version: str) -> Answer | None:
        """The local answer when the local model has enrolled signs, the server answers with another
        version (which may lack them) and the local model names this window one of them, confidently."""
        local = self.slot.current if self.slot is not None else None
        if local is None or not local.manifest.enrolled or local.manifest.version == server_version:
            return None
        answer = local.predict(window)
        if answer.no_sign or answer.below_threshold or answer.label not in local.manifest.enrolled:
            return None
        with self._lock:
            self.enrolled_local += 1
        return answer

    def _local(self, window: np.ndarray, why: str, cloud_down: bool) -> Answer:
        """The local model's answer (counted as a fallback when a server was asked first)."""
        local = self.slot.current if self.slot is not None else None
        if cloud_down:  # what the status bar says until the server answers again
            self.problem = ANSWERING_LOCALLY if local is not None else NOTHING_ANSWERS
        if local is None:
            raise NoAnswerError(why)
        if self.cloud is not None and not self.local_only:
            with self._lock:
                self.fallbacks += 1
        return local.predict(window)
