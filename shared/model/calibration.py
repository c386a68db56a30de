"""Turning logits into calibrated answers: temperature, one softmax, top-k, thresholds."""

from __future__ import annotations

import itertools

import numpy as np


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """(N, C) logits -> (N, C) probabilities, after dividing by ``temperature``; applied once."""
    z = np.asarray(logits, np.float64) / temperature
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def nll(logits: np.ndarray, y: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of labels ``y`` (N,) under tempered logits (N, C)."""
    p = softmax(logits, temperature)[np.arange(len(y)), y]
    return float(-np.log(np.maximum(p, 1e-12)).mean())


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature (0.25..10) that minimises validation NLL, by a log-spaced search."""
    if len(y) == 0:
        return 1.0
    grid = np.exp(np.linspace(np.log(0.25), np.log(10.0), 200))
    return float(grid[int(np.argmin([nll(logits, y, t) for t in grid]))])


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """ECE: mean |accuracy - confidence| over equal-width confidence bins, weighted by count."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in itertools.pairwise(edges):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def coverage_curve(probs: np.ndarray, y: np.ndarray, thresholds: np.ndarray) -> list[dict[str, float]]:
    """Accuracy on the answers kept, and the share kept, as the confidence threshold rises."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    out = []
    for t in thresholds:
        keep = conf >= t
        out.append(
            {
                "threshold": float(t),
                "coverage": float(keep.mean()) if len(y) else 0.0,
                "accuracy": float(correct[keep].mean()) if keep.any() else 1.0,
            }
        )
    return out


def kiosk_threshold(
    probs: np.ndarray, y: np.ndarray, no_sign: int | None = None, max_false: float = 0.05, cap: float = 0.9
) -> float:
    """Recommended threshold for what a kiosk shows, from held-out people's windows.

    A window shows its top label when that is not the no-sign class and its probability reaches the
    threshold. Chosen: the threshold (0.00..``cap`` by 0.01, the lowest of equals) with the most right
    labels shown minus wrong ones (a sign named wrong, or a sign shown for a no-sign window), among
    those that show a sign for at most ``max_false`` of the no-sign windows (when there are any; ``cap``
    if none does). A wrong label costs as much as a missed right one, so the threshold rises only as
    far as it hides more wrong labels than right ones.

    Args:
        probs: (N, C) calibrated probabilities of windows the model answers (not those without a hand).
        y: (N,) true classes; no_sign: the no-sign class's index, or None.
    """
    if len(y) == 0:
        return 0.0
    top, conf = probs.argmax(1), probs.max(1)
    idle = y == no_sign if no_sign is not None else np.zeros(len(y), bool)
    best, best_net = cap, -np.inf
    for t in np.round(np.arange(0.0, cap + 1e-9, 0.01), 2):
        shown = (conf >= t) & (top != no_sign if no_sign is not None else True)
        false = (shown & idle).sum()
        if idle.any() and false > max_false * idle.sum():
            continue
        right = (shown & ~idle & (top == y)).sum()
        wrong = (shown & ~idle & (top != y)).sum() + false
        if right - wrong > best_net:
            best, best_net = float(t), right - wrong
    return best


def top_k(probs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, C) probabilities -> (N, k) indices and (N, k) probabilities, best first."""
    idx = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(probs, idx, axis=1)
