"""bench fewshot's split hides the held-out words and every person who signed one; its table reads the runs."""

import numpy as np
import pytest

from bench.fewshot import HELD_OUT, choose_examples, class_means, markdown, nearest_mean, split, squared_distances
from shared.datasets.dataset import load_dataset


@pytest.mark.realdata
def test_the_base_model_never_sees_a_held_out_word_or_its_signers(sign_data):
    ds = load_dataset(sign_data / "landmarks" / "asl_many_signers.npz")
    sp = split(ds, list(HELD_OUT))
    assert not set(HELD_OUT) & set(sp.train.classes)
    assert not set(sp.train.session.tolist()) & set(sp.hidden.session.tolist())
    for word in HELD_OUT:
        assert len(set(sp.hidden.session[sp.hidden.labels == word].tolist())) >= 5  # a teacher and unseen people
    assert (sp.hidden.labels == "idle").any()  # the false-label rate is measurable


def test_nearest_mean_takes_the_new_class_for_windows_near_its_examples():
    rng = np.random.default_rng(0)
    train = np.concatenate([rng.normal(0, 0.1, (10, 4)), rng.normal(5, 0.1, (10, 4))])
    means = class_means(train, np.repeat([0, 1], 10))
    feats = np.array([[-4.9] * 4, [0.1] * 4, [4.8] * 4])
    np.testing.assert_allclose(
        squared_distances(feats, means), ((feats[:, None] - means[None]) ** 2).sum(-1), atol=1e-9
    )
    assert nearest_mean(squared_distances(feats, means), np.full(4, -5.0), feats).tolist() == [2, 0, 1]


def test_the_table_averages_runs_and_counts_refusals():
    rows = [
        {"method": "head", "n": 5, "refused": None, "teacher_accuracy": 1.0, "unseen_accuracy": 0.5,
         "known_accuracy": 0.8, "false_label_rate": 0.0},
        {"method": "head", "n": 5, "refused": None, "teacher_accuracy": 0.5, "unseen_accuracy": 0.7,
         "known_accuracy": 0.8, "false_label_rate": 0.1},
        {"method": "head", "n": 5, "refused": "looks like", "teacher_accuracy": None},
    ]  # fmt: skip
    table = markdown({"before": {"known_accuracy": 0.81, "false_label_rate": 0.02}, "rows": rows})
    assert "| head | 5 | 3 (1) | 0.750 | 0.600 | - | - | 0.800 | 0.050 |" in table


def test_examples_come_in_turn_from_each_person_and_the_rest_is_kept_for_judging():
    teacher, other = np.arange(0, 6), np.arange(10, 14)
    ex, rest = choose_examples([teacher, other], 5)
    assert ex.tolist() == [0, 1, 2, 10, 11]
    assert rest.tolist() == [3, 4, 5, 12, 13]
    assert choose_examples([teacher], 3)[0].tolist() == [0, 1, 2]


def test_no_examples_when_someone_runs_short_or_too_little_is_left():
    assert choose_examples([np.arange(6), np.arange(10, 12)], 5) is None  # the second keeps nothing
    assert choose_examples([np.arange(6), np.arange(10, 14)], 1) is None  # one example, two people
    assert choose_examples([np.arange(7)], 5) is None  # 2 left, 3 needed
    assert choose_examples([np.arange(8)], 5) is not None
