"""Validation splits by session or sequence group, never by random window."""

from __future__ import annotations

import numpy as np

from shared.dataset import Dataset


def holdout_sessions(ds: Dataset, fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (N,) train and validation masks holding out whole sessions.

    Sessions are drawn at random until about ``fraction`` of the sequences are held out; with a
    single session it is split by sequence groups (see shared.dataset.sequence_groups).
    """
    sessions = np.unique(ds.session)
    if len(sessions) < 2:
        from shared.dataset import sequence_groups

        groups = sequence_groups(ds)
        keys = np.array([f"g{g}" for g in groups])
    else:
        keys = ds.session
    names = np.unique(keys)
    rng = np.random.default_rng(seed)
    rng.shuffle(names)
    val = np.zeros(len(ds), bool)
    for name in names[:-1]:
        if val.mean() >= fraction:
            break
        val |= keys == name
    return ~val, val
