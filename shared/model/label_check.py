"""Does a recording's label agree with what a model sees? Said at once, so a volunteer can record it again.

The model is the one serving (or any bundle); a clip is judged as ``evaluate`` judges a recording:
cut into the windows a live client would send, their calibrated probabilities averaged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from shared.contract.normalize import clip_windows, features_batch
from shared.model.bundle import TFLITE_FLOAT, Manifest
from shared.model.calibration import softmax
from shared.model.predictor import NO_HAND_MAX_FRACTION, LogitsRunner, hand_fraction

OWN_AT_MOST = 0.2  # the clip's own label gets at most this probability ...
OTHER_AT_LEAST = 0.5  # ... and another sign at least this (and the bundle's threshold)

LabelCheck = Callable[[np.ndarray, float | None, str], str | None]
"""Called with a clip's (T, 126) raw landmarks, its fps and its label; returns the contradiction, or None."""


def label_contradiction(
    frames: np.ndarray, fps: float | None, label: str, manifest: Manifest, runner: LogitsRunner
) -> str | None:
    """A few words when the model confidently names another sign than ``label``, else None.

    Not judged (None): a label the model does not know, a clip with a hand in too few frames (said
    by ``shared.datasets.handshape.recording_problem`` instead).

    Args:
        frames: (T, 126) raw landmarks of one clip recorded at ``fps``.
    """
    if label not in manifest.labels or len(frames) == 0 or hand_fraction(frames) <= NO_HAND_MAX_FRACTION:
        return None
    windows = clip_windows(np.asarray(frames, np.float32), fps, manifest.spec)
    probs = softmax(runner.logits(features_batch(windows, manifest.spec)), manifest.temperature).mean(axis=0)
    own, top = manifest.labels.index(label), int(np.argmax(probs))
    if top == own or probs[own] > OWN_AT_MOST or probs[top] < max(OTHER_AT_LEAST, manifest.threshold):
        return None
    return (
        f"model {manifest.name} {manifest.version} sees '{manifest.labels[top]}' ({probs[top]:.2f}), "
        f"not '{label}' ({probs[own]:.2f})"
    )


def bundle_label_check(bundle: str | Path) -> LabelCheck:
    """A LabelCheck with a bundle's float TFLite model (no TensorFlow needed); the bundle is verified first."""
    from shared.model.enroll import with_enrolled
    from shared.model.open_bundle import open_bundle
    from shared.model.tflite import TFLiteRunner

    manifest = open_bundle(bundle)
    runner = with_enrolled(TFLiteRunner(Path(bundle) / TFLITE_FLOAT), bundle, manifest)

    def check(frames: np.ndarray, fps: float | None, label: str) -> str | None:
        return label_contradiction(frames, fps, label, manifest, runner)

    return check
