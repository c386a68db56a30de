"""bench accuracy's per-person blocks, the share every method misses, and its table (no training)."""

from pathlib import Path

import numpy as np
import pytest

from bench.accuracy import agreed_misses, blocks, markdown


def test_blocks_are_each_persons_recordings_of_each_sign():
    pred = np.array([0, 0, 1, 1, 1, 0])
    y = np.array([0, 0, 0, 1, 1, 1])
    sessions = np.array(["a", "a", "b", "a", "b", "b"])
    got = blocks(pred, y, sessions, ["hello", "thanks"])
    assert got == {"a/hello": [2, 1.0], "a/thanks": [1, 1.0], "b/hello": [1, 0.0], "b/thanks": [2, 0.5]}


def test_agreed_misses_counts_sign_blocks_every_method_gets_wrong():
    ours = {"a/hello": [10, 0.2], "b/hello": [30, 0.1], "c/thanks": [60, 0.9], "d/idle": [50, 0.0]}
    forest = {"a/hello": [10, 0.6], "b/hello": [30, 0.0], "c/thanks": [60, 0.4], "d/idle": [50, 0.0]}
    # only b/hello is under 0.5 for both; idle is not a sign: 30 of 100 sign sequences
    assert agreed_misses([ours, forest]) == 0.3


def test_the_table_has_the_kiosk_columns_and_the_agreed_misses():
    results = {
        "splits": {
            "words": {
                "ours": {"accuracy": 0.86, "shown_accuracy": 0.84, "false_label_rate": 0.01,
                         "worst_decile_session_accuracy": 0.6, "int8_accuracy": 0.859, "train_seconds": 300.4},
                "signia": {"accuracy": 0.80},
            },
            "greetings": {"ours": {"accuracy": 0.96, "int8_accuracy": 0.96, "train_seconds": 100},
                          "signia": {"accuracy": 0.95}},
        },
        "agreed_misses": {"words": 0.08, "greetings": 0.02},
    }  # fmt: skip
    lines = markdown(results).splitlines()
    assert "ours shown acc" in lines[0] and "missed by every method" in lines[0]
    assert lines[2] == "| words | 0.860 | 0.800 | +0.060 | 0.840 | 0.010 | 0.600 | 0.859 | 300 | 0.080 |"
    assert lines[3] == "| greetings | 0.960 | 0.950 | +0.010 | - | - | - | 0.960 | 100 | 0.020 |"
    assert all(line.count("|") == lines[0].count("|") for line in lines)


def test_a_seed_whose_held_out_people_have_no_idle_still_averages(monkeypatch):
    """A 48-minute run once ended in a KeyError: seed 2's held-out fifth had no `idle`, so no false_label_rate."""
    import bench.accuracy as bench
    from shared.datasets.synth import generate

    ds = generate(classes=2, per_class=4, signers=2, seed=0)
    monkeypatch.setattr(bench, "splits", lambda data_dir, which: [bench.Split("s", ds, ds)])

    def fake_ours(split, seed, workdir):
        out = {"accuracy": 0.8 + seed / 10, bench.BLOCKS: {"a/x": [1, 1.0]}}
        return out | ({"false_label_rate": 0.02} if seed == 0 else {})

    monkeypatch.setattr(bench, "_ours", fake_ours)
    results = bench.run_bench(Path("."), [0, 1], {"many"}, ["ours"], say=lambda *_: None)
    assert results["splits"]["s"]["ours"] == {"accuracy": pytest.approx(0.85), "false_label_rate": 0.02}


def test_a_reference_recipe_on_held_out_people_without_idle_has_no_false_label_rate():
    """It was NaN (the mean of no windows), and the mean over seeds with it."""
    import bench.accuracy as bench
    from shared.datasets.dataset import Dataset

    def dataset(y):
        n = len(y)
        return Dataset(X=np.zeros((n, 4, 126), np.float32), y=np.array(y), classes=["hello", "idle"],
                       seq_id=np.arange(n), session=np.array(["a"] * n), length=np.full(n, 4))  # fmt: skip

    split = bench.Split("s", dataset([0, 1]), dataset([0, 0, 0]))
    out = bench._baseline(lambda X, y, X_test, seed: np.array([0, 0, 1]))(split, 0, Path("."))
    assert out["shown_accuracy"] == pytest.approx(2 / 3) and "false_label_rate" not in out


def test_a_reviewer_drops_blocks_that_are_not_their_label_and_keeps_true_ones():
    from bench.accuracy import reviewed
    from shared.datasets.dataset import Dataset

    sessions = np.array(["a", "a", "b", "b", "c", "c", "d"])
    ds = Dataset(X=np.zeros((7, 4, 126), np.float32), y=np.array([0, 1, 0, 1, 0, 1, 1]), classes=["hello", "thanks"],
                 seq_id=np.arange(7), session=sessions, length=np.full(7, 4))  # fmt: skip
    flagged = [
        {"session": "a", "class": "thanks", "kinds": ["another_sign", "handshape"]},
        {"session": "b", "class": "hello", "kinds": ["duplicate"]},  # a clip saved twice: its label is true
        {"session": "c", "class": "hello", "kinds": ["person_apart"]},  # the other hand: a person a kiosk meets
        {"session": "c", "class": "thanks", "kinds": ["person_apart", "few_hands"]},
        {"session": "d", "class": "thanks", "kinds": ["swapped"]},
    ]
    assert reviewed(ds, flagged).tolist() == [True, False, True, True, True, False, False]


def test_the_table_puts_audited_columns_beside_the_raw_ones_for_every_recipe():
    results = {
        "splits": {
            "words": {
                "ours": {"accuracy": 0.86, "audited_accuracy": 0.9, "shown_accuracy": 0.84,
                         "audited_shown_accuracy": 0.88, "false_label_rate": 0.01, "audited_false_label_rate": 0.02,
                         "worst_decile_session_accuracy": 0.6, "audited_worst_decile_session_accuracy": 0.7,
                         "int8_accuracy": 0.859, "train_seconds": 300.4},
                "signia": {"accuracy": 0.80, "audited_accuracy": 0.83},
                "helen": {"accuracy": 0.82, "audited_accuracy": 0.81},
            },
        },
        "agreed_misses": {"words": 0.08},
    }  # fmt: skip
    lines = markdown(results).splitlines()
    head = [c.strip() for c in lines[0].split("|")[1:-1]]
    assert head[1:7] == ["ours acc", "ours acc, audited", "signia acc", "signia acc, audited", "helen acc",
                         "helen acc, audited"]  # fmt: skip
    row = dict(zip(head, [c.strip() for c in lines[2].split("|")[1:-1]], strict=True))
    assert row["ours - best reference recipe"] == "+0.040" and row["ours - best reference recipe, audited"] == "+0.070"
    assert row["ours shown acc, audited"] == "0.880" and row["ours worst decile, audited"] == "0.700"
    assert all(line.count("|") == lines[0].count("|") for line in lines)


def test_without_a_reference_recipe_the_margin_is_a_dash_not_nan():
    results = {"splits": {"words": {"ours": {"accuracy": 0.84, "audited_accuracy": 0.9}}}}
    lines = markdown(results).splitlines()
    head = [c.strip() for c in lines[0].split("|")[1:-1]]
    row = dict(zip(head, [c.strip() for c in lines[2].split("|")[1:-1]], strict=True))
    assert row["ours - best reference recipe"] == "-" and row["ours - best reference recipe, audited"] == "-"
