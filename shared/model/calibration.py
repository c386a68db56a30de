"""Turning logits into calibrated answers: temperature, one softmax, top-k, thresholds."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

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
    """The best net threshold on held-out windows pooled over people (``choose_threshold`` chooses for strangers).

    Kept for comparison (the manifest's ``threshold_choice.pooled``): on the word vocabulary its rise
    came from a few of fifteen validation people and hid about as many of strangers' right answers
    as wrong ones (docs/benchmarks.md).

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


THRESHOLDS = np.round(np.arange(0.0, 0.9 + 1e-9, 0.01), 2)  # the thresholds a kiosk may be given


@dataclass(frozen=True)
class PeopleCounts:
    """What a kiosk would show each person at every candidate threshold, counted per person.

    ``signs``/``idle`` (P,): the person's sign and no-sign windows; ``right``/``wrong``/``false``
    (P, G): sign windows shown their true label, sign windows shown another one, no-sign windows
    shown a sign, at each threshold of ``grid`` (G,). A window without a hand is never shown a sign
    (the kiosk answers it without the model), so it counts in ``signs``/``idle`` as the evaluation does.
    """

    people: list[str]
    grid: np.ndarray
    signs: np.ndarray
    idle: np.ndarray
    right: np.ndarray
    wrong: np.ndarray
    false: np.ndarray


def people_counts(
    probs: np.ndarray,
    y: np.ndarray,
    sessions: np.ndarray,
    no_sign: int | None,
    no_hand: np.ndarray | None = None,
    grid: np.ndarray = THRESHOLDS,
) -> PeopleCounts:
    """Count, per person (session) and threshold, what a kiosk shows of held-out windows.

    Args:
        probs: (N, C) calibrated probabilities; y: (N,) true classes; sessions: (N,) people;
        no_sign: the no-sign class's index or None; no_hand: (N,) bool, windows without a hand.
    """
    no_hand = np.zeros(len(y), bool) if no_hand is None else np.asarray(no_hand, bool)
    top, conf = probs.argmax(1), probs.max(1)
    shown = (conf[:, None] >= grid[None, :]) & ~no_hand[:, None]
    if no_sign is not None:
        shown &= (top != no_sign)[:, None]
    idle = y == no_sign if no_sign is not None else np.zeros(len(y), bool)
    people = sorted(set(np.asarray(sessions).tolist()))
    rows = [np.asarray(sessions) == p for p in people]

    def per_person(mask: np.ndarray) -> np.ndarray:
        return np.stack([(shown & (m & mask)[:, None]).sum(0) for m in rows]) if rows else np.zeros((0, len(grid)))

    return PeopleCounts(
        people=[str(p) for p in people],
        grid=grid,
        signs=np.array([(m & ~idle).sum() for m in rows]),
        idle=np.array([(m & idle).sum() for m in rows]),
        right=per_person(~idle & (top == y)),
        wrong=per_person(~idle & (top != y)),
        false=per_person(idle),
    )


def people_threshold(
    counts: PeopleCounts,
    keep: np.ndarray | None = None,
    max_false: float = 0.05,
    quantile: float = 0.9,
    draws: int = 200,
    seed: int = 0,
) -> int:
    """Index into ``counts.grid`` of the threshold chosen to hold for people never seen.

    People, not windows, are what varies between the validation set and a stranger, so the choice is
    made over ``draws`` bootstrap samples of the people (those ``keep`` (P,) bool marks; default all):
    1. the floor: the lowest threshold at which the share of no-sign windows shown a sign stays within
       ``max_false`` in ``quantile`` of the samples that hold no-sign windows (none: 0);
    2. above it, the threshold rises only where showing fewer labels hides more wrong ones than right
       ones in ``quantile`` of the samples (the lowest of equals): a gain that a few people make and
       the others pay for is not taken.
    """
    members = np.arange(len(counts.people)) if keep is None else np.flatnonzero(keep)
    if len(members) == 0:
        return 0
    rng = np.random.default_rng(seed)
    samples = rng.multinomial(len(members), np.full(len(members), 1 / len(members)), size=draws)  # (draws, people)
    idle, false = samples @ counts.idle[members], samples @ counts.false[members]  # (draws,), (draws, G)
    floor = 0
    has_idle = idle > 0
    if has_idle.any():
        rate = false[has_idle] / idle[has_idle, None]
        ok = np.flatnonzero(np.quantile(rate, quantile, axis=0) <= max_false)
        floor = int(ok[0]) if len(ok) else len(counts.grid) - 1
    net = samples @ (counts.right[members] - counts.wrong[members] - counts.false[members])  # (draws, G)
    gain = np.quantile(net[:, floor:] - net[:, floor : floor + 1], 1 - quantile, axis=0)
    return floor + int(np.argmax(gain)) if gain.max() > 0 else floor


MIN_PERSON_SIGNS = 10  # a person with fewer sign windows is left out of the spread (as in the evaluation)
RULE = "people: bootstrap over validation people, false labels <= {max_false:.0%} in {quantile:.0%} of draws"


@dataclass(frozen=True)
class ThresholdChoice:
    """The recommended threshold, what it was chosen on, and what it is expected to cost a stranger.

    ``expected``: every validation person held out in turn, the threshold chosen on the others and
    applied to them: ``shown_accuracy`` and ``false_label_rate`` pooled over those people's windows
    (``false_label_rate`` None without no-sign windows), each with ``*_p10``/``*_p90``, the 10th and
    90th percentiles over people (those with >= MIN_PERSON_SIGNS sign windows, and with no-sign ones).
    """

    threshold: float
    rule: str
    people: int
    windows: int
    expected: dict

    def as_dict(self) -> dict:
        """JSON-ready, for the manifest's metrics."""
        return {"threshold": self.threshold, "rule": self.rule, "people": self.people, "windows": self.windows,
                "expected": self.expected}  # fmt: skip


def choose_threshold(
    probs: np.ndarray,
    y: np.ndarray,
    sessions: np.ndarray,
    no_sign: int | None,
    no_hand: np.ndarray | None = None,
    max_false: float = 0.05,
    quantile: float = 0.9,
    seed: int = 0,
) -> ThresholdChoice:
    """The kiosk threshold from held-out people's windows (``people_threshold``), with its expected cost.

    Args:
        probs: (N, C) calibrated probabilities of every held-out window, those without a hand included
            (they are never shown a sign); y, sessions: (N,) true classes and people; no_sign: the
            no-sign class's index or None; no_hand: (N,) bool.
    """
    rule = RULE.format(max_false=max_false, quantile=quantile)
    counts = people_counts(probs, y, sessions, no_sign, no_hand)
    if len(y) == 0:
        return ThresholdChoice(0.0, rule, 0, 0, {})
    g = people_threshold(counts, None, max_false, quantile, seed=seed)
    shown_at = np.zeros(len(counts.people), int)
    for k in range(len(counts.people)):  # every person in turn, as a stranger to a threshold chosen without them
        others = np.arange(len(counts.people)) != k
        shown_at[k] = people_threshold(counts, others, max_false, quantile, seed=seed) if len(counts.people) > 1 else g
    rows = np.arange(len(counts.people))
    right, false = counts.right[rows, shown_at], counts.false[rows, shown_at]
    expected: dict = {}
    for key, hits, totals, least in (("shown_accuracy", right, counts.signs, MIN_PERSON_SIGNS),
                                     ("false_label_rate", false, counts.idle, 1)):  # fmt: skip
        per = hits[totals >= least] / totals[totals >= least]
        expected[key] = round(float(hits.sum() / totals.sum()), 4) if totals.sum() else None
        expected[f"{key}_p10"] = round(float(np.percentile(per, 10)), 4) if len(per) else None
        expected[f"{key}_p90"] = round(float(np.percentile(per, 90)), 4) if len(per) else None
    return ThresholdChoice(float(counts.grid[g]), rule, len(counts.people), len(y), expected)
