"""From raw windows to answers with any runtime: shared normalisation, temperature, one softmax."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import numpy as np

from shared.app.errors import BundleError, ProtocolError
from shared.contract.normalize import features_batch
from shared.contract.protocol import LabelScore, Prediction
from shared.model.bundle import Manifest
from shared.model.calibration import softmax, top_k


class LogitsRunner(Protocol):
    """Anything that maps (N, frames, F) float32 features to (N, C) logits."""

    def logits(self, features: np.ndarray) -> np.ndarray: ...


# A window with a hand in at most this share of its frames is "no sign", answered without the model:
# nobody is signing, and a model asked anyway names a sign at high confidence (seen: `hoy` at 0.998).
NO_HAND_MAX_FRACTION = 0.1


def hand_fraction(window: np.ndarray) -> float:
    """Share of the frames of a (T, 126) raw window in which any hand was found."""
    frames = np.asarray(window).reshape(len(window), -1)
    return float(np.any(frames != 0, axis=1).mean()) if len(frames) else 0.0


def no_hand_answer() -> Prediction:
    """The answer for a window nobody signs in, given without running the model."""
    return Prediction(label="", index=-1, confidence=1.0, top_k=[], below_threshold=False, no_sign=True)


def predict_windows(
    runner: LogitsRunner, manifest: Manifest, windows: list[np.ndarray], k: int | None = None,
    timing: Callable[[str, float], None] | None = None,
) -> list[Prediction]:  # fmt: skip
    """Answer each raw window (T_i, 126) with label, index, calibrated confidence and top-k.

    Windows without a hand in (almost) any frame are answered "no sign" without the model; when the
    model's no-sign class (``manifest.no_sign_label``) wins, the answer is "no sign" too (empty label).
    ``timing`` is told ``("features", seconds)`` and ``("model", seconds)`` for a batch the model runs on.
    """
    n_labels = len(manifest.labels)
    k = min(k or 3, n_labels)
    if k < 1:
        raise ProtocolError(f"top_k must be 1..{n_labels}")
    asked = [i for i, w in enumerate(windows) if hand_fraction(w) > NO_HAND_MAX_FRACTION]
    out: list[Prediction] = [no_hand_answer() for _ in windows]
    if not asked:
        return out
    t0 = time.perf_counter()
    feats = features_batch([windows[i] for i in asked], manifest.spec)
    t1 = time.perf_counter()
    logits = runner.logits(feats)
    if timing is not None:
        timing("features", t1 - t0)
        timing("model", time.perf_counter() - t1)
    if logits.shape[1] != n_labels:  # a loader that forgot the enrolled signs (shared.model.enroll.with_enrolled)
        raise BundleError(f"the model gives {logits.shape[1]} scores for {n_labels} labels")
    probs = softmax(logits, manifest.temperature)
    idx, conf = top_k(probs, k)
    labels = manifest.labels
    no_sign = labels.index(manifest.no_sign_label) if manifest.no_sign_label in labels else None
    thresholds = manifest.thresholds()
    for i, row, c in zip(asked, idx, conf, strict=True):
        best = int(row[0])
        out[i] = Prediction(
            label="" if best == no_sign else labels[best],
            index=best,
            confidence=float(c[0]),
            top_k=[LabelScore(label=labels[int(j)], confidence=float(p)) for j, p in zip(row, c, strict=True)],
            below_threshold=bool(c[0] < thresholds[best]) and best != no_sign,
            no_sign=best == no_sign,
        )
    return out
