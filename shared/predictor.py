"""From raw windows to answers with any runtime: shared normalisation, temperature, one softmax."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from shared.bundle import Manifest
from shared.calibration import softmax, top_k
from shared.errors import ProtocolError
from shared.normalize import features_batch
from shared.protocol import LabelScore, Prediction


class LogitsRunner(Protocol):
    """Anything that maps (N, frames, F) float32 features to (N, C) logits."""

    def logits(self, features: np.ndarray) -> np.ndarray: ...


def predict_windows(
    runner: LogitsRunner, manifest: Manifest, windows: list[np.ndarray], k: int | None = None
) -> list[Prediction]:
    """Answer each raw window (T_i, 126) with label, index, calibrated confidence and top-k."""
    n_labels = len(manifest.labels)
    k = min(k or 3, n_labels)
    if k < 1:
        raise ProtocolError(f"top_k must be 1..{n_labels}")
    feats = features_batch(windows, manifest.spec)
    probs = softmax(runner.logits(feats), manifest.temperature)
    idx, conf = top_k(probs, k)
    labels = manifest.labels
    return [
        Prediction(
            label=labels[int(row[0])],
            index=int(row[0]),
            confidence=float(c[0]),
            top_k=[LabelScore(label=labels[int(i)], confidence=float(p)) for i, p in zip(row, c, strict=True)],
            below_threshold=bool(c[0] < manifest.threshold),
        )
        for row, c in zip(idx, conf, strict=True)
    ]
