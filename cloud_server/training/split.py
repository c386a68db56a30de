"""Validation splits by session or sequence group, never by random window."""

from __future__ import annotations

import numpy as np

from shared.dataset import Dataset, sequence_groups

# Whole sessions are held out only while that keeps validation near the fraction asked for: with
# two or three sessions one of them is 33-50% of the data, and holding it out made the KSL models
# train on a single session (measured: docs/benchmarks.md).
MAX_SESSION_HOLDOUT = 1.5


def holdout_sessions(ds: Dataset, fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (N,) train and validation masks holding out whole sessions, else sequence blocks.

    Sessions are drawn at random until about ``fraction`` of the sequences are held out. With a
    single session, or so few that this would hold out more than ``MAX_SESSION_HOLDOUT * fraction``
    (two sessions: half the data), every session is split into blocks of consecutive recordings
    (shared.dataset.sequence_groups) and the same blocks of every session are held out instead, so
    training keeps every session.
    """
    sessions = np.unique(ds.session)
    cap = MAX_SESSION_HOLDOUT * fraction
    if len(sessions) >= 2:
        val = _draw(ds.session, fraction, seed, cap)
        if val.any() and val.mean() <= cap:
            return ~val, val
    groups = np.zeros(len(ds), np.int64)
    for s in sessions:
        mask = ds.session == s
        groups[mask] = sequence_groups(ds.subset(mask))
    val = _draw(np.array([f"g{g}" for g in groups]), fraction, seed)
    return ~val, val


def _draw(keys: np.ndarray, fraction: float, seed: int, cap: float | None = None) -> np.ndarray:
    """(N,) bool: whole keys, in a seeded random order, until ``fraction`` is reached (never all
    keys); with ``cap``, a key that would take the share above it is not added to a non-empty draw."""
    names = np.unique(keys)
    rng = np.random.default_rng(seed)
    rng.shuffle(names)
    val = np.zeros(len(keys), bool)
    for name in names[:-1]:
        if val.mean() >= fraction:
            break
        more = val | (keys == name)
        if cap is not None and val.any() and more.mean() > cap:
            break
        val = more
    return val
