"""Validation splits by session or sequence group, never by random window."""

from __future__ import annotations

import numpy as np

from shared.app.errors import DatasetError
from shared.datasets.dataset import Dataset, sequence_groups

MIN_VAL_SESSIONS = 3

# Whole sessions are held out only while that keeps validation near the fraction asked for: with
# two or three sessions one of them is 33-50% of the data, and holding it out made the KSL models
# train on a single session (measured: docs/benchmarks.md).
MAX_SESSION_HOLDOUT = 1.5


def holdout_sessions(ds: Dataset, fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (N,) train and validation masks holding out whole sessions, else sequence blocks.

    Sessions are drawn at random until about ``fraction`` of the sequences are held out, skipping a
    session whose classes would then have no training sequence left (a sign only one or two people
    recorded stays in training). With a
    single session, or so few that this would hold out more than ``MAX_SESSION_HOLDOUT * fraction``
    (two sessions: half the data), every session is split into blocks of consecutive recordings
    (shared.datasets.dataset.sequence_groups) and the same blocks of every session are held out instead, so
    training keeps every session.
    """
    sessions = np.unique(ds.session)
    cap = MAX_SESSION_HOLDOUT * fraction
    if len(sessions) >= 2:
        val = _draw(ds.session, fraction, seed, cap, ds.y)
        if val.any() and val.mean() <= cap:
            return ~val, val
    groups = np.zeros(len(ds), np.int64)
    for s in sessions:
        mask = ds.session == s
        groups[mask] = sequence_groups(ds.subset(mask))
    val = _draw(np.array([f"g{g}" for g in groups]), fraction, seed)
    return ~val, val


def _draw(
    keys: np.ndarray, fraction: float, seed: int, cap: float | None = None, y: np.ndarray | None = None
) -> np.ndarray:
    """(N,) bool: whole keys, in a seeded random order, until ``fraction`` is reached (never all
    keys); with ``cap``, a key that would take the share above it is not added to a non-empty draw;
    with ``y``, a key is skipped when one of its classes would be left without a training sequence."""
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
        if y is not None and not np.isin(np.unique(y[keys == name]), y[~more]).all():
            continue
        val = more
    return val


def check_split(ds: Dataset, train_mask: np.ndarray, val_mask: np.ndarray) -> list[str]:
    """Refuse a split that cannot measure the model on new people; return warnings about a weak one.

    Raises:
        DatasetError (one line) when sessions are classes (every session holds a single class, as when
        the label folder was taken for the session) or a class has no training sequence.
    """
    sessions = np.unique(ds.session)
    classes_per_session = [len(np.unique(ds.y[ds.session == s])) for s in sessions]
    if len(sessions) > 1 and max(classes_per_session) == 1:
        raise DatasetError(
            f"every session holds a single class (e.g. session '{sessions[0]}'): sessions look like labels, so "
            "validation would hold out signs, not people; record with capture --session or extract --session"
        )
    missing = [ds.classes[c] for c in range(len(ds.classes)) if not np.any(ds.y[train_mask] == c)]
    if missing:
        raise DatasetError(
            f"class {missing[0]!r} has no training sequence (all of it is held out for validation"
            + (f"; {len(missing) - 1} more" if len(missing) > 1 else "")
            + "): record it in more sessions"
        )
    warnings = []
    val_sessions = np.unique(ds.session[val_mask])
    if len(val_sessions) < MIN_VAL_SESSIONS:
        # What was measured, not advice: the data may be synthetic (the demo) or all there is.
        people = "that person" if len(val_sessions) == 1 else "those people"
        warnings.append(
            f"validation holds {len(val_sessions)} session(s) ({', '.join(map(str, val_sessions))}; "
            f"{int(np.count_nonzero(val_mask))} sequences): the validation accuracy and the recommended threshold "
            f"are measured on {people} alone; how they hold for other signers is not measured"
        )
    return warnings
