"""signstream audit: each kind of flag on a synthetic set built to have it, none on a clean one."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from cloud_server.training.audit import AuditConfig, audit
from shared.datasets.dataset import Dataset, save_dataset
from shared.datasets.synth import generate, make_signer, sequence

CLASSES, SIGNERS, PER_BLOCK = 6, 9, 8


@pytest.fixture(scope="module")
def clean() -> Dataset:
    ds = generate(classes=CLASSES, per_class=SIGNERS * PER_BLOCK, signers=SIGNERS, seed=11)
    return ds


def _block(ds: Dataset, person: int, c: int) -> np.ndarray:
    return (ds.session == f"signer{person}") & (ds.y == c)


@pytest.fixture(scope="module")
def dirty(clean) -> Dataset:
    """The clean set with one fault per person: swapped, frozen, duplicated, mirrored, no hand, another sign."""
    X, y = clean.X.copy(), clean.y.copy()
    # signer0: 'wave' and 'circle' swapped
    y[_block(clean, 0, 0)], y[_block(clean, 0, 1)] = 1, 0
    # signer1: every 'fist-nod' recording is its first frame repeated
    b = _block(clean, 1, 2)
    X[b] = X[b][:, :1]
    # signer2: 'push' is a copy of signer3's 'push' (copied data)
    X[_block(clean, 2, 3)] = clean.X[_block(clean, 3, 3)]
    # signer4: every recording mirrored in the image (a selfie camera), hands kept in their slots
    who = clean.session == "signer4"
    lm = X[who].reshape(who.sum(), 30, 2, 21, 3)
    here = np.any(lm != 0, axis=(-2, -1), keepdims=True)
    lm[..., 0] = np.where(here[..., 0], 1.0 - lm[..., 0], 0.0)
    X[who] = lm.reshape(who.sum(), 30, 126)
    # signer5: 'pinch' recorded without a hand
    X[_block(clean, 5, 5)] = 0.0
    # signer6: 'point-up' made as a flat 'wave' hand
    b = np.flatnonzero(_block(clean, 6, 4))
    rng, signer = np.random.default_rng(1), make_signer(np.random.default_rng(2))
    signer = dataclasses.replace(signer, left_handed=False)
    X[b] = np.stack([sequence(0, signer, 30, rng) for _ in b])
    return dataclasses.replace(clean, X=X, y=y)


EXPECTED = {
    ("signer0", "wave"): "swapped",
    ("signer0", "circle"): "swapped",
    ("signer1", "fist-nod"): "frozen",
    ("signer2", "push"): "duplicate",
    ("signer3", "push"): "duplicate",
    ("signer5", "pinch"): "no_hand",
    ("signer6", "point-up"): "another_sign",
}


def _config() -> AuditConfig:
    return AuditConfig(seed=0, min_people=6, trees=60, jobs=1)


def test_the_clean_set_has_no_flag(clean):
    result = audit(clean, _config())
    assert result["flagged"] == [], [(f["session"], f["class"], f["summary"]) for f in result["flagged"]]
    assert result["people_apart"] == []
    assert result["blocks"] == CLASSES * SIGNERS and result["flagged_share"] == 0


def test_every_kind_is_found_where_it_was_put(dirty):
    result = audit(dirty, _config())
    found = {(f["session"], f["class"]): f for f in result["flagged"]}
    for block, kind in EXPECTED.items():
        assert block in found and kind in found[block]["kinds"], (block, kind, found.get(block))
    # the mirrored person: every one of their blocks, named as a mirrored camera
    apart = {p["session"]: p for p in result["people_apart"]}
    assert set(apart) == {"signer4"} and apart["signer4"]["which"] == "mirrored_camera"
    assert all("person_apart" in found[("signer4", c)]["kinds"] for c in dirty.classes)
    # nothing else is flagged
    assert set(found) <= set(EXPECTED) | {("signer4", c) for c in dirty.classes}
    # the evidence a person needs
    swap = found[("signer0", "wave")]["evidence"]["swapped"]
    assert swap["with"] == "circle" and swap["looks_like_share"] >= 0.5
    other = found[("signer6", "point-up")]["evidence"]["another_sign"]
    assert other["looks_like"] == "wave" and other["share"] >= 0.6
    shape = found[("signer6", "point-up")]["evidence"]["handshape"]["fingers"]
    assert {"middle", "ring", "pinky"} <= set(shape)  # folded in point-up, extended in the flat hand
    dup = found[("signer2", "push")]["evidence"]["duplicate"]
    assert dup["across_people"] == PER_BLOCK and dup["copies_of"] == ["signer3/push"]


def test_few_hands_a_short_recording_the_other_hand_and_swapped_slots_are_found(clean):
    X, length = clean.X.copy(), clean.length.copy()
    lm = X.reshape(len(X), 30, 2, 21, 3)
    # signer7: 6 of 8 'circle' recordings hold the hand in 2 of their 30 frames
    b = np.flatnonzero(_block(clean, 7, 1))[:6]
    lm[b, 2:] = 0.0
    # signer8: every 'wave' recording is 6 frames long
    b = _block(clean, 8, 0)
    lm[b, 6:], length[b] = 0.0, 6
    # the synthetic left-handers (signer2, 5 and 6: mirrored image, hand in the other slot) turned
    # right-handed, and signer1 turned left-handed: the other hand than everybody's
    for person in ("signer1", "signer2", "signer5", "signer6"):
        who = clean.session == person
        here = np.any(lm[who] != 0, axis=-1, keepdims=True)
        mirrored = np.where(here, np.concatenate([1.0 - lm[who][..., :1], lm[who][..., 1:]], axis=-1), 0.0)
        lm[who] = mirrored[:, :, ::-1]
    # signer3's hand labels swapped: the usual palm, in the other slot
    who = clean.session == "signer3"
    lm[who] = lm[who][:, :, ::-1]
    ds = dataclasses.replace(clean, X=lm.reshape(len(X), 30, 126), length=length)
    result = audit(ds, _config())
    found = {(f["session"], f["class"]): f for f in result["flagged"]}
    assert "few_hands" in found[("signer7", "circle")]["kinds"]
    assert found[("signer7", "circle")]["evidence"]["few_hands"]["sequences_hand_in_at_most_10pct_frames"] == 6
    assert "too_short" in found[("signer8", "wave")]["kinds"]
    assert found[("signer8", "wave")]["evidence"]["too_short"]["median_frames"] == 6
    apart = {p["session"]: p["which"] for p in result["people_apart"]}
    assert apart == {"signer1": "other_hand", "signer3": "slots_swapped"}


def test_a_copy_within_one_person_is_a_duplicate_within(clean):
    X = clean.X.copy()
    b = np.flatnonzero(_block(clean, 7, 1))
    X[b[1::2]] = X[b[0::2]]
    result = audit(dataclasses.replace(clean, X=X), _config())
    ev = {(f["session"], f["class"]): f for f in result["flagged"]}[("signer7", "circle")]["evidence"]["duplicate"]
    assert ev["within_person"] == PER_BLOCK and ev["across_people"] == 0


def test_the_audit_is_deterministic_for_a_seed(dirty):
    a, b = audit(dirty, _config()), audit(dirty, _config())
    a.pop("seconds"), b.pop("seconds")
    assert a == b


def _run(*args):
    return subprocess.run([sys.executable, "-m", "signstream.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300)  # fmt: skip


def test_the_cli_prints_one_json_object_and_writes_the_report(dirty, tmp_path):
    path = tmp_path / "dirty.npz"
    save_dataset(path, dirty)
    proc = _run("audit", path, "--json", "--html", tmp_path / "r.html")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    flagged = {(f["session"].split(":")[-1], f["class"]) for f in result["flagged"]}
    assert set(EXPECTED) <= flagged
    assert all({"session", "class", "kinds", "evidence"} <= set(f) for f in result["flagged"])
    page = (tmp_path / "r.html").read_text()
    assert "http://" not in page and "https://" not in page and "<canvas" in page
    assert "np." not in proc.stdout + proc.stderr + page  # numbers and names, not numpy reprs


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_text("not a dataset")
    proc = _run("audit", bad)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "signstream audit: error" in proc.stderr
    proc = _run("audit", tmp_path / "missing.npz")
    assert proc.returncode == 2 and "no such file" in proc.stderr


@pytest.mark.realdata
def test_the_greetings_of_the_many_signer_file_flag_the_blocks_found_by_hand(sign_data):
    """The blocks docs/benchmarks.md found by their finger distances ("Strangers"), found by the audit."""
    from cloud_server.training.train import prepare_data

    ds = prepare_data([sign_data / "landmarks" / "asl_many_signers.npz"], ["hello", "thanks", "iloveyou"])
    result = audit(ds, AuditConfig(seed=0))
    found = {(f["session"].split(":")[-1], f["class"]): f for f in result["flagged"]}
    assert "swapped" in found[("Darshankowshik", "thanks")]["kinds"]
    assert "swapped" in found[("Darshankowshik", "iloveyou")]["kinds"]
    flat = found[("Achintyaxd", "iloveyou")]["evidence"]
    assert flat["another_sign"]["looks_like"] == "thanks" and {"middle", "ring"} <= set(flat["handshape"]["fingers"])
    assert found[("G4CiO", "thanks")]["evidence"]["another_sign"]["looks_like"] == "hello"
