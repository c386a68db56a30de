"""Review files: parsing with one-line errors, and drop/relabel applied to a copy of the data."""

import json

import numpy as np
import pytest

from shared.app.errors import DatasetError
from shared.datasets.review import apply_review, load_review
from shared.datasets.synth import generate


def _write(tmp_path, *lines):
    path = tmp_path / "review.jsonl"
    path.write_text("".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines))
    return path


def test_drop_and_relabel_apply_to_a_copy(tmp_path):
    ds = generate(classes=3, per_class=12, signers=3, seed=0)
    before = ds.X.copy(), ds.y.copy()
    path = _write(
        tmp_path,
        {"session": "signer0", "class": "wave", "action": "drop", "who": "a", "when": "2026-12-07T03:00:00Z"},
        {"session": "signer1", "class": "circle", "action": "relabel", "new_class": "fist-nod", "who": "a"},
        {"session": "signer2", "class": "wave", "action": "keep", "who": "a"},
    )
    out = apply_review(ds, load_review(path))
    assert np.array_equal(ds.X, before[0]) and np.array_equal(ds.y, before[1])  # the input is untouched
    assert len(out) == len(ds) - 4
    assert not np.any((out.session == "signer0") & (out.labels == "wave"))
    assert not np.any((out.session == "signer1") & (out.labels == "circle"))
    assert np.sum((out.session == "signer1") & (out.labels == "fist-nod")) == 8


def test_relabel_to_a_new_class_adds_it(tmp_path):
    ds = generate(classes=2, per_class=4, signers=2, seed=0)
    path = _write(tmp_path, {"session": "signer0", "class": "wave", "action": "relabel", "new_class": "hello"})
    out = apply_review(ds, load_review(path))
    assert out.classes == ["wave", "circle", "hello"] and np.sum(out.labels == "hello") == 2


def test_the_last_decision_on_a_block_wins_and_the_file_is_identified(tmp_path):
    path = _write(
        tmp_path,
        {"session": "s", "class": "wave", "action": "drop"},
        {"session": "s", "class": "wave", "action": "keep", "who": "b"},
    )
    review = load_review(path)
    assert [(d.action, d.who) for d in review.decisions] == [("keep", "b")]
    import hashlib

    assert review.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not JSON"),
        ('["a"]', "JSON object"),
        ({"class": "wave", "action": "drop"}, "'session'"),
        ({"session": "s", "class": "wave", "action": "burn"}, "action must be one of"),
        ({"session": "s", "class": "wave", "action": "relabel"}, "new_class"),
        ({"session": "s", "class": "wave", "action": "relabel", "new_class": "wave"}, "new_class"),
    ],
)
def test_a_bad_line_is_named(tmp_path, line, message):
    path = _write(tmp_path, {"session": "s", "class": "c", "action": "keep"}, line)
    with pytest.raises(DatasetError, match=message) as err:
        load_review(path)
    assert ":2:" in str(err.value)


def test_a_review_of_other_data_is_refused(tmp_path):
    ds = generate(classes=2, per_class=4, signers=2, seed=0)
    path = _write(tmp_path, {"session": "nobody", "class": "wave", "action": "drop"})
    with pytest.raises(DatasetError, match="no 'wave' recordings of session 'nobody'"):
        apply_review(ds, load_review(path))


def test_decisions_about_classes_not_trained_are_listed_apart(tmp_path):
    """Before: a drop of a class left out by ``--classes`` was recorded as applied in ``metrics.review``."""
    path = _write(
        tmp_path,
        {"session": "s1", "class": "no", "action": "drop"},
        {"session": "s2", "class": "hello", "action": "drop"},
        {"session": "s3", "class": "hello", "action": "relabel", "new_class": "thanks"},
        {"session": "s4", "class": "hello", "action": "relabel", "new_class": "idle"},
        {"session": "s5", "class": "hello", "action": "keep"},
    )
    described = load_review(path).describe(["no", "yes", "idle"])
    assert described["decisions"] == 5
    assert described["dropped"] == ["s1/no"] and described["relabelled"] == ["s4/hello -> idle"]
    assert described["not_applied"] == [
        {"block": "s2/hello", "action": "drop", "reason": "class not trained"},
        {"block": "s3/hello", "action": "relabel", "reason": "class not trained"},
    ]
    everything = load_review(path).describe()  # every class trained: all applied
    assert everything["dropped"] == ["s1/no", "s2/hello"] and everything["not_applied"] == []
