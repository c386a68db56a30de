"""Label noise by person: a block a person filed under the wrong sign is left out, rare signs never."""

import json

import numpy as np
import pytest

from cloud_server.training.noise import suspect_blocks


def _blocks(spec: dict[tuple[str, int], tuple[int, int]]):
    """{(session, class): (sequences, named right)} -> pred, y, sessions."""
    pred, y, sessions = [], [], []
    for (s, c), (n, right) in spec.items():
        y += [c] * n
        sessions += [s] * n
        pred += [c] * right + [1 - c] * (n - right)
    return np.array(pred), np.array(y), np.array(sessions)


def test_a_person_the_model_misnames_is_left_out_and_reported():
    spec = {(f"p{i}", 0): (10, 10) for i in range(5)} | {("p5", 0): (10, 2)} | {("p0", 1): (4, 4)}
    pred, y, sessions = _blocks(spec)
    keep, out = suspect_blocks(pred, y, sessions, ["hello", "thanks"], below=0.5, min_sessions=5)
    assert [(b.session, b.label, b.sequences, b.accuracy) for b in out] == [("p5", "hello", 10, 0.2)]
    assert (keep == (sessions != "p5")).all()
    assert "10 'hello' sequences of session p5" in out[0].describe() and "20%" in out[0].describe()
    # the same evidence as the audit's: the sign it is named instead, and how often
    assert (out[0].looks_like, out[0].looks_like_share) == ("thanks", 0.8)
    assert "('thanks' 80%)" in out[0].describe()
    ev = out[0].evidence()
    assert ev["kinds"] == ["another_sign"] and ev["class"] == "hello" and ev["session"] == "p5"
    assert ev["evidence"]["another_sign"] == {"looks_like": "thanks", "share": 0.8, "own_label_share": 0.2,
                                              "judged_by": "the model being trained, after its warm-up"}  # fmt: skip


def test_classes_with_few_people_or_not_yet_learned_are_never_judged():
    few = {(f"p{i}", 0): (10, 10) for i in range(3)} | {("p3", 0): (10, 0)}  # 4 people < 5
    pred, y, sessions = _blocks(few)
    keep, out = suspect_blocks(pred, y, sessions, ["a", "b"], below=0.5, min_sessions=5)
    assert keep.all() and out == []
    unlearned = {(f"p{i}", 0): (10, 4) for i in range(6)}  # median block 0.4: not learned yet
    pred, y, sessions = _blocks(unlearned)
    keep, out = suspect_blocks(pred, y, sessions, ["a", "b"], below=0.5, min_sessions=5)
    assert keep.all() and out == []


def test_the_threshold_is_strict():
    spec = {(f"p{i}", 0): (10, 10) for i in range(5)} | {("p5", 0): (10, 5)}
    pred, y, sessions = _blocks(spec)
    _, out = suspect_blocks(pred, y, sessions, ["a", "b"], below=0.5, min_sessions=5)
    assert out == []  # 0.5 is not under 0.5


@pytest.mark.slow
def test_training_leaves_out_a_person_whose_labels_are_swapped(tmp_path):
    import dataclasses

    from cloud_server.training.split import holdout_sessions
    from cloud_server.training.train import TrainConfig, train_bundle
    from shared.datasets.synth import generate
    from shared.model.bundle import load_manifest

    ds = generate(classes=3, per_class=48, signers=8, seed=3)
    train_mask, _ = holdout_sessions(ds, 0.2, 0)  # train's own split: swap a person it trains on
    person = ds.session[train_mask][0]
    who = ds.session == person
    swapped = ds.y.copy()
    swapped[(ds.y == 0) & who], swapped[(ds.y == 1) & who] = 1, 0
    ds = dataclasses.replace(ds, y=swapped)
    out = tmp_path / "b"
    # 20 epochs (the default here is 80): the warm-up of 8 already names the swapped blocks
    config = TrainConfig(seed=0, epochs=20, suspect_min_sessions=5, refit=False)  # left out before a refit
    train_bundle(ds, out, config=config, name="noisy", version="1")
    left = load_manifest(out).metrics["left_out"]
    assert {(x["session"], x["class"]) for x in left} == {(person, ds.classes[0]), (person, ds.classes[1])}
    # the same evidence as the audit's: which sign the blocks look like, and how often
    for block in left:
        other = ds.classes[1] if block["class"] == ds.classes[0] else ds.classes[0]
        assert block["kinds"][0] == "another_sign" and block["evidence"]["another_sign"]["looks_like"] == other
        assert block["evidence"]["another_sign"]["share"] > 0.5
    assert json.loads((out / "report" / "left_out.json").read_text()) == left

    keep_all = tmp_path / "all"
    config = TrainConfig(seed=0, suspect_min_sessions=5, warmup_fraction=0.0, refit=False, epochs=3)
    train_bundle(ds, keep_all, config=config, name="noisy", version="1")
    metrics = load_manifest(keep_all).metrics
    assert metrics["left_out"] == [] and metrics["left_out_policy"] == "nothing left out"
    assert metrics["train_sequences"] + metrics["val_sequences"] == len(ds)
