"""Evaluate a bundle on a dataset: accuracy, macro F1, per-class precision/recall, confusion matrix,
calibration (ECE), accuracy against coverage as the confidence threshold rises, and what the kiosk
would show (shown accuracy, false labels on no-sign sequences, per-session accuracy and its worst decile)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from shared.app.errors import BundleError, DatasetError
from shared.contract.normalize import clip_windows, features_batch
from shared.datasets.dataset import Dataset
from shared.model.bundle import TFLITE_FLOAT, TFLITE_INT8, Manifest
from shared.model.calibration import coverage_curve, expected_calibration_error, softmax
from shared.model.enroll import with_enrolled
from shared.model.open_bundle import open_bundle
from shared.model.predictor import NO_HAND_MAX_FRACTION, hand_fraction


def runner_for(bundle: Path, runtime: str):
    """A logits runner for ``runtime``: the SavedModel, the float32 TFLite or the int8 TFLite file."""
    if runtime == "savedmodel":
        from cloud_server.inference import SavedModelRunner

        return SavedModelRunner(bundle)
    from shared.model.tflite import TFLiteRunner

    return TFLiteRunner(bundle / (TFLITE_FLOAT if runtime == "tflite" else TFLITE_INT8))


def clip_probabilities(runner, manifest: Manifest, ds: Dataset, indices: np.ndarray) -> np.ndarray:
    """(len(indices), C) calibrated probabilities per sequence.

    A recording longer than the model's window (at the dataset's frame rate) is cut into the
    windows a live client would send, and their probabilities are averaged.
    """
    groups = [clip_windows(ds.X[i, : ds.length[i]], ds.fps, manifest.spec) for i in indices]
    flat = [w for g in groups for w in g]
    owner = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
    logits = runner.logits(features_batch(flat, manifest.spec))
    if logits.shape[1] != len(
        manifest.labels
    ):  # a runner without the enrolled signs (shared.model.enroll.with_enrolled)
        raise BundleError(f"the model gives {logits.shape[1]} scores for {len(manifest.labels)} labels")
    probs = softmax(logits, manifest.temperature)
    return np.stack([probs[owner == k].mean(axis=0) for k in range(len(groups))])


def match_classes(manifest: Manifest, ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Map dataset labels onto the model's by name: (kept mask (N,), model label index per kept)."""
    names = ds.labels
    keep = np.isin(names, manifest.labels)
    lookup = {n: i for i, n in enumerate(manifest.labels)}
    return keep, np.array([lookup[n] for n in names[keep]], np.int64)


NO_SIGN = -1  # a shown "label" meaning nothing is shown
MIN_SESSION_SIGNS = 10  # sessions with fewer sign sequences are left out of the worst decile


def shown_labels(
    probs: np.ndarray, threshold: float | np.ndarray, no_sign: int | None, no_hand: np.ndarray
) -> np.ndarray:
    """(N,) what the kiosk shows per sequence: a label index, or NO_SIGN (no hand, the no-sign class, or
    under the threshold).

    Args:
        probs: (N, C) calibrated probabilities; threshold: one for every label, or (C,) each label's
            own (``Manifest.thresholds``); no_sign: the no-sign class's index or None;
        no_hand: (N,) bool, sequences without a hand in (almost) any frame (answered without the model).
    """
    top = probs.argmax(1)
    per_label = np.asarray(threshold, np.float64)
    shown = np.where(probs.max(1) >= (per_label[top] if per_label.ndim else per_label), top, NO_SIGN)
    if no_sign is not None:
        shown = np.where(top == no_sign, NO_SIGN, shown)
    return np.where(no_hand, NO_SIGN, shown)


def kiosk_metrics(
    probs: np.ndarray,
    y: np.ndarray,
    sessions: np.ndarray,
    threshold: float | np.ndarray,
    no_sign: int | None,
    no_hand: np.ndarray,
) -> dict[str, Any]:
    """What a person in front of the kiosk meets, per sequence (see docs/training.md).

    shown_accuracy: share of sign sequences whose shown label is the true one; false_label_rate: share
    of no-sign sequences for which a sign label would be shown (None without any); per_session:
    top-1 accuracy and shown accuracy of each session's sign sequences; worst_decile_session_accuracy:
    the 10th percentile (numpy's linear) of per-session accuracy over sessions with at least
    MIN_SESSION_SIGNS sign sequences (None without any).
    """
    shown = shown_labels(probs, threshold, no_sign, no_hand)
    top = probs.argmax(1)
    signs = y != no_sign if no_sign is not None else np.ones(len(y), bool)
    idle = ~signs
    per_session = {}
    for s in sorted(set(sessions[signs].tolist())):
        m = signs & (sessions == s)
        per_session[str(s)] = {
            "accuracy": float((top[m] == y[m]).mean()),
            "shown_accuracy": float((shown[m] == y[m]).mean()),
            "n": int(m.sum()),
        }
    counted = [v["accuracy"] for v in per_session.values() if v["n"] >= MIN_SESSION_SIGNS]
    return {
        "shown_accuracy": float((shown[signs] == y[signs]).mean()) if signs.any() else None,
        "false_label_rate": float((shown[idle] != NO_SIGN).mean()) if idle.any() else None,
        "per_session": per_session,
        "worst_decile_session_accuracy": float(np.percentile(counted, 10)) if counted else None,
    }


def evaluate(bundle: str | Path, ds: Dataset, runtime: str = "savedmodel") -> tuple[dict[str, Any], np.ndarray]:
    """Score ``bundle`` on ``ds``.

    Returns:
        (metrics, confusion matrix (C, C) over the model's labels, rows = truth).
    """
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    bundle = Path(bundle)
    manifest = open_bundle(bundle)
    keep, y = match_classes(manifest, ds)
    if not keep.any():
        raise DatasetError("no sequence in the dataset has a class the model knows")
    runner = with_enrolled(runner_for(bundle, runtime), bundle, manifest)
    probs = clip_probabilities(runner, manifest, ds, np.flatnonzero(keep))
    pred = probs.argmax(1)
    labels = list(range(len(manifest.labels)))
    present = sorted(set(y.tolist()))
    precision, recall, _, support = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    per_class = {
        manifest.labels[i]: {"precision": float(precision[i]), "recall": float(recall[i]), "support": int(support[i])}
        for i in labels
    }
    conf = probs.max(1)
    thresholds = manifest.thresholds()
    accepted = conf >= thresholds[pred]
    metrics = {
        "model": {"name": manifest.name, "version": manifest.version},
        "runtime": runtime,
        "n": len(y),
        "n_excluded": int((~keep).sum()),
        "excluded_classes": sorted(set(ds.labels[~keep].tolist())),
        "accuracy": float((pred == y).mean()),
        "macro_f1": float(f1_score(y, pred, labels=present, average="macro", zero_division=0)),
        "per_class": per_class,
        "ece": expected_calibration_error(probs, y),
        "threshold": manifest.threshold,
        "sign_thresholds": dict(manifest.sign_thresholds),
        "coverage_at_threshold": float(accepted.mean()),
        "accuracy_at_threshold": float((pred == y)[accepted].mean()) if accepted.any() else None,
        "coverage_curve": coverage_curve(probs, y, np.round(np.arange(0, 1.0, 0.05), 2)),
    }
    kept = np.flatnonzero(keep)
    no_hand = np.array([hand_fraction(ds.X[i, : ds.length[i]]) <= NO_HAND_MAX_FRACTION for i in kept])
    no_sign = manifest.labels.index(manifest.no_sign_label) if manifest.no_sign_label in manifest.labels else None
    metrics.update(kiosk_metrics(probs, y, ds.session[kept], thresholds, no_sign, no_hand))
    return metrics, confusion_matrix(y, pred, labels=labels)


def plot_confusion(matrix: np.ndarray, labels: list[str], path: Path, title: str) -> None:
    """Write the confusion matrix (rows = truth, normalised per row) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = matrix.sum(1, keepdims=True)
    norm = np.divide(matrix, rows, out=np.zeros_like(matrix, dtype=float), where=rows > 0)
    size = max(4.0, 0.55 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i in range(len(labels)):
        for j in range(len(labels)):
            if matrix[i, j]:
                ax.text(
                    j, i, str(matrix[i, j]), ha="center", va="center", color="white" if norm[i, j] > 0.5 else "black"
                )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_coverage(curve: list[dict], path: Path, threshold: float) -> None:
    """Accuracy and coverage against the confidence threshold, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [p["threshold"] for p in curve]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(t, [p["accuracy"] for p in curve], label="accuracy of answers kept")
    ax.plot(t, [p["coverage"] for p in curve], label="share of answers kept")
    ax.axvline(threshold, color="grey", ls="--", label=f"recommended {threshold:.2f}")
    ax.set_xlabel("confidence threshold")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
