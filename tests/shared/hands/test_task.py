import hashlib
import zipfile

import pytest

from shared.hands import task as hand_task


def test_assembly_is_deterministic_and_verified(tmp_path, monkeypatch):
    cached = hand_task.cache_dir() / "wheels"
    if not list(cached.glob("mediapipe-0.10.18-*.whl")):
        pytest.skip("the mediapipe 0.10.18 wheel is not cached yet (make install runs python -m shared.hands.task)")
    a, b = tmp_path / "a.task", tmp_path / "b.task"
    hand_task.assemble("lite", a)
    hand_task.assemble("lite", b)
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as z:
        assert sorted(z.namelist()) == [hand_task.DETECTOR, hand_task.LANDMARKS]
        for name, (_, sha) in hand_task.MEMBERS["lite"].items():
            assert hashlib.sha256(z.read(name)).hexdigest() == sha


def test_a_wrong_member_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / "mediapipe-0.10.18-fake.whl"
    with zipfile.ZipFile(fake, "w") as z:
        for inner, _ in hand_task.MEMBERS["lite"].values():
            z.writestr(inner, b"not the real model")
    monkeypatch.setattr(hand_task, "_wheel", lambda: fake)
    with pytest.raises(hand_task.HandTaskError, match="unexpected sha256"):
        hand_task.assemble("lite", tmp_path / "x.task")
    assert not (tmp_path / "x.task").exists()
