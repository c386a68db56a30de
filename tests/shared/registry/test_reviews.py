"""Review files stored with a dataset version: pushed once, listed, pulled beside the dataset, refused when wrong."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from shared.app.errors import DatasetError
from shared.datasets.review import apply_review, load_review
from shared.registry.registry import NotInRegistryError, Registry


def write_review(path: Path, *lines: dict) -> Path:
    """A review file (JSON lines) with ``lines`` as its decisions."""
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def drop(session: str, label: str) -> dict:
    return {"session": session, "class": label, "action": "drop", "who": "ana", "when": "2026-12-07T04:00:00Z"}


def relabel(session: str, label: str, new: str) -> dict:
    return {**drop(session, label), "action": "relabel", "new_class": new}


def test_a_review_is_stored_listed_and_pulled_beside_its_dataset(registry: Registry, synth_path, tmp_path):
    registry.push_dataset(synth_path, version="v1")
    review = write_review(tmp_path / "review.jsonl", drop("synth:signer1", "wave"),
                          relabel("synth:signer2", "circle", "push"))  # fmt: skip
    sha = hashlib.sha256(review.read_bytes()).hexdigest()

    record, new = registry.push_review(review, "synth", "v1", by="ana")
    assert new and record.sha256 == sha and record.decisions == 2 and record.pushed_by == "ana"
    assert record.dropped == ["synth:signer1/wave"] and record.relabelled == ["synth:signer2/circle -> push"]
    again, new = registry.push_review(review, "synth", "v1", by="bob")
    assert not new and again.pushed_by == "ana"  # the same bytes are one review, pushed once
    assert [r.sha256 for r in registry.list_reviews("synth", "v1")] == [sha]
    assert registry.store.get_bytes(f"datasets/synth/v1/reviews/{sha}.jsonl") == review.read_bytes()
    assert [d.version for d in registry.list_datasets()] == ["v1"]  # a review is not a dataset version

    out = registry.pull_dataset("synth", "v1", tmp_path / "pulled")
    assert (out / "synth.npz").read_bytes() == synth_path.read_bytes()
    pulled = out / "reviews" / f"{sha}.jsonl"
    assert pulled.read_bytes() == review.read_bytes()

    from shared.datasets.dataset import load_many

    ds = load_many([out / "synth.npz"])  # train's loading: sessions named '<file stem>:<session>'
    applied = apply_review(ds, load_review(pulled))
    assert len(applied) == len(ds) - int(((ds.session == "synth:signer1") & (ds.labels == "wave")).sum())
    assert set(applied.labels[applied.session == "synth:signer2"]) == {"wave", "fist-nod", "push"}


def test_two_reviews_of_one_version_both_come(registry: Registry, synth_path, tmp_path):
    registry.push_dataset(synth_path, version="v1")
    first = write_review(tmp_path / "a.jsonl", drop("synth:signer1", "wave"))
    second = write_review(tmp_path / "b.jsonl", drop("synth:signer3", "push"))
    registry.push_review(first, "synth", "v1")
    registry.push_review(second, "synth", "v1")
    assert len(registry.list_reviews("synth", "v1")) == 2
    out = registry.pull_dataset("synth", "v1", tmp_path / "pulled")
    assert sorted(p.read_bytes() for p in (out / "reviews").iterdir()) == sorted(
        [first.read_bytes(), second.read_bytes()]
    )


def test_a_review_pushed_later_is_pulled_into_the_folder_already_there(registry: Registry, synth_path, tmp_path):
    from shared.registry.registry import RegistryError

    registry.push_dataset(synth_path, version="v1")
    first = write_review(tmp_path / "a.jsonl", drop("synth:signer1", "wave"))
    registry.push_review(first, "synth", "v1")
    out = registry.pull_dataset("synth", "v1", tmp_path / "pulled")
    data = next(p for p in out.iterdir() if p.suffix == ".npz")
    inode = data.stat().st_ino
    (out / "notes.txt").write_text("mine")  # the operator's own file beside the data
    second = write_review(tmp_path / "b.jsonl", drop("synth:signer3", "push"))
    registry.push_review(second, "synth", "v1")
    assert registry.pull_dataset("synth", "v1", out) == out
    assert sorted(p.read_bytes() for p in (out / "reviews").iterdir()) == sorted(
        [first.read_bytes(), second.read_bytes()]
    )
    assert data.stat().st_ino == inode and (out / "notes.txt").read_text() == "mine"  # nothing replaced
    assert not list(tmp_path.glob(".pulled.partial"))

    data.write_bytes(data.read_bytes()[:-1])  # changed here: never overwritten by a pull
    third = write_review(tmp_path / "c.jsonl", drop("synth:signer2", "push"))
    registry.push_review(third, "synth", "v1")
    with pytest.raises(RegistryError, match="differs from dataset synth v1 in the registry; not overwriting it"):
        registry.pull_dataset("synth", "v1", out)
    assert len(list((out / "reviews").iterdir())) == 2


def test_a_tampered_review_aborts_the_pull(registry: Registry, synth_path, tmp_path):
    registry.push_dataset(synth_path, version="v1")
    review = write_review(tmp_path / "r.jsonl", drop("synth:signer1", "wave"))
    record, _ = registry.push_review(review, "synth", "v1")
    registry.store.put_bytes(f"datasets/synth/v1/reviews/{record.sha256}.jsonl", b'{"session": "x"}\n' * 3)
    from shared.app.errors import BundleError

    with pytest.raises(BundleError, match="does not match its sha256"):
        registry.pull_dataset("synth", "v1", tmp_path / "pulled")
    assert not (tmp_path / "pulled").exists()


def test_refusals(registry: Registry, synth_path, tmp_path):
    registry.push_dataset(synth_path, version="v1")
    good = write_review(tmp_path / "good.jsonl", drop("synth:signer1", "wave"))
    with pytest.raises(NotInRegistryError, match="no dataset synth version v9"):
        registry.push_review(good, "synth", "v9")
    with pytest.raises(NotInRegistryError, match=r"no dataset 'other' \(its datasets: synth\)"):
        registry.push_review(good, "other", "v1")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"session": "synth:signer1", "class": "wave", "action": "burn"}\n')
    with pytest.raises(DatasetError, match=r"bad\.jsonl:1: action must be one of keep, drop, relabel"):
        registry.push_review(bad, "synth", "v1")
    foreign = write_review(tmp_path / "foreign.jsonl", drop("asl_many_signers:ann", "wave"))
    with pytest.raises(DatasetError, match="session 'asl_many_signers:ann' is not of dataset synth v1"):
        registry.push_review(foreign, "synth", "v1")
    unknown = write_review(tmp_path / "unknown.jsonl", drop("synth:signer1", "hello"))
    with pytest.raises(DatasetError, match="class 'hello' is not one of dataset synth v1's"):
        registry.push_review(unknown, "synth", "v1")
    assert registry.list_reviews("synth", "v1") == []
    assert registry.store.list("datasets/synth/v1/reviews") == []  # nothing stored by a refusal
