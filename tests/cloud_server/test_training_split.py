"""Validation splits: whole sessions when there are enough, else the same blocks of every session."""

from __future__ import annotations

import numpy as np
import pytest

from cloud_server.training.split import holdout_sessions
from shared.dataset import Dataset


def _dataset(sessions: int, classes: int = 3, per_class: int = 10) -> Dataset:
    """``sessions`` sessions, each with ``per_class`` numbered recordings of every class."""
    rows = [(s, c, i) for s in range(sessions) for c in range(classes) for i in range(per_class)]
    n = len(rows)
    return Dataset(
        X=np.zeros((n, 4, 126), np.float32),
        y=np.array([c for _, c, _ in rows]),
        classes=[f"c{c}" for c in range(classes)],
        seq_id=np.array([f"S{s}/c{c}/{i}" for s, c, i in rows]),
        session=np.array([f"S{s}" for s, _, _ in rows]),
        length=np.full(n, 4),
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_many_sessions_hold_out_whole_sessions(seed):
    ds = _dataset(sessions=6)
    train, val = holdout_sessions(ds, 0.2, seed)
    assert not (train & val).any() and (train | val).all()
    held = set(ds.session[val])
    assert not held & set(ds.session[train])  # no session on both sides
    assert 0.15 <= val.mean() <= 0.3


@pytest.mark.parametrize("sessions", [2, 3])
def test_few_sessions_keep_every_session_in_training(sessions):
    ds = _dataset(sessions=sessions)
    train, val = holdout_sessions(ds, 0.2, seed=0)
    assert not (train & val).any() and (train | val).all()
    assert set(ds.session[train]) == set(ds.session)  # training keeps every session
    assert val.mean() == pytest.approx(0.2)
    for s in set(ds.session):  # the held-out recordings are one block of neighbours per class
        for c in range(len(ds.classes)):
            numbers = sorted(int(q.rsplit("/", 1)[1]) for q in ds.seq_id[val & (ds.session == s) & (ds.y == c)])
            assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))


def test_one_session_is_split_into_blocks():
    ds = _dataset(sessions=1)
    train, val = holdout_sessions(ds, 0.2, seed=3)
    assert val.mean() == pytest.approx(0.2) and train.sum() == 24
