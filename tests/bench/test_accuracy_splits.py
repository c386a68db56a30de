"""bench accuracy's many-signer splits hold out whole signers, the same ones for every method."""

import numpy as np
import pytest

from bench.accuracy import GREETINGS, WORDS, held_out_signers, splits

pytestmark = pytest.mark.realdata


def test_held_out_signers_are_a_seeded_fifth_of_the_people():
    sessions = np.repeat([f"p{i}" for i in range(20)], 3)
    a, b = held_out_signers(sessions), held_out_signers(sessions)
    assert (a == b).all() and len(set(sessions[a])) == 4
    assert not set(sessions[a]) & set(sessions[~a])


def test_many_signer_splits_never_share_a_signer(sign_data):
    got = {s.name: s for s in splits(sign_data, {"many"})}
    assert list(got) == ["ASL 98 signers, hello/thanks/iloveyou", "ASL 98 signers, words + idle"]
    for split, classes in zip(got.values(), (GREETINGS, WORDS), strict=True):
        assert sorted(split.train.classes) == sorted(classes)
        assert not set(split.train.session.tolist()) & set(split.test.session.tolist())
        assert len(set(split.test.session.tolist())) >= 5
    words = got["ASL 98 signers, words + idle"]
    assert "idle" in set(words.test.labels.tolist())  # the false-label rate is measurable


def test_each_seed_holds_out_other_signers_the_same_for_every_method(sign_data):
    split = next(s for s in splits(sign_data, {"many"}) if "words" in s.name)
    people = [set(split.for_seed(seed).test.session.tolist()) for seed in (0, 1, 2)]
    assert people[0] == set(split.test.session.tolist())
    assert people[0] != people[1] != people[2]
    again = split.for_seed(1)
    assert set(again.test.session.tolist()) == people[1]
    assert not set(again.train.session.tolist()) & people[1]
