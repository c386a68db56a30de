"""Validation splits: whole sessions when there are enough, else the same blocks of every session."""

from __future__ import annotations

import numpy as np
import pytest

from cloud_server.training.split import check_split, holdout_sessions
from shared.app.errors import DatasetError
from shared.datasets.dataset import Dataset


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


def _labelled_by_folder(labels: list[str], per_class: int = 6) -> Dataset:
    """Clips from clips/<label>/*.mp4 whose session was taken from the label folder (the old bug)."""
    rows = [(lab, i) for lab in labels for i in range(per_class)]
    return Dataset(
        X=np.zeros((len(rows), 4, 126), np.float32),
        y=np.array([labels.index(lab) for lab, _ in rows]),
        classes=labels,
        seq_id=np.array([f"{lab}/{lab}/{i}" for lab, i in rows]),
        session=np.array([lab for lab, _ in rows]),
        length=np.full(len(rows), 4),
    )


def test_sessions_that_are_classes_are_refused_in_one_line():
    ds = _labelled_by_folder(["ambulancia", "doctor", "dolor", "hoy", "yo"])
    train, val = holdout_sessions(ds, 0.2, 0)
    with pytest.raises(DatasetError, match="every session holds a single class") as err:
        check_split(ds, train, val)
    assert "\n" not in str(err.value)
    assert "(e.g. session 'ambulancia')" in str(err.value)  # a plain name, not numpy's np.str_('ambulancia')


def test_a_class_held_out_whole_is_refused():
    ds = _dataset(sessions=6)
    ds.session[ds.y == 2] = "S9"  # class c2 recorded in one session only
    train = ds.session != "S9"
    with pytest.raises(DatasetError, match="class 'c2' has no training sequence"):
        check_split(ds, train, ~train)


def test_fewer_than_three_validation_sessions_warn_and_more_do_not():
    ds = _dataset(sessions=10)
    one = ds.session == "S0"
    assert "validation holds 1 session(s) (S0; " in check_split(ds, ~one, one)[0]
    three = np.isin(ds.session, ["S0", "S1", "S2"])
    assert check_split(ds, ~three, three) == []


def test_a_thin_validation_says_what_was_measured_and_gives_no_advice():
    ds = _dataset(sessions=10)
    two = np.isin(ds.session, ["S3", "S7"])
    (warning,) = check_split(ds, ~two, two)
    assert warning.startswith(f"validation holds 2 session(s) (S3, S7; {two.sum()} sequences): ")
    assert "measured on those people alone" in warning
    assert "record" not in warning  # no advice: the data may be synthetic, or all there is


def test_a_session_holding_a_rare_class_stays_in_training():
    ds = _dataset(sessions=10, classes=3)
    rare = (ds.y == 2) & (ds.session != "S4")  # class c2 recorded by one person only: S4
    keep = ~rare
    ds = ds.subset(keep)
    for seed in range(10):
        train, val = holdout_sessions(ds, 0.3, seed)
        assert "S4" not in set(ds.session[val])
        assert check_split(ds, train, val) is not None  # never refused: every class trains
