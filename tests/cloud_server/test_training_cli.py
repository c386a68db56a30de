"""train/evaluate through the CLI: the --json contract, refusals, and the real MSL clips."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.shared.app.test_native_notices import NATIVE_NOISE

pytestmark = pytest.mark.slow


def _run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "signstream.cli", *map(str, args)], text=True, timeout=900, **kw)


def test_evaluate_json_is_the_last_line_and_nothing_follows(tiny_bundle, synth_path, tmp_path):
    proc = _run("evaluate", "--model", tiny_bundle, "--data", synth_path, "--report", tmp_path / "r", "--json",
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:]
    last = proc.stdout.rstrip("\n").splitlines()[-1]
    metrics = json.loads(last)
    assert 0 <= metrics["accuracy"] <= 1 and 0 <= metrics["macro_f1"] <= 1
    assert metrics["n"] == 96 and metrics["n_excluded"] == 0
    assert (tmp_path / "r" / "confusion.png").stat().st_size > 1000
    assert 0 <= metrics["ece"] <= 1 and metrics["coverage_curve"][0]["coverage"] == 1.0
    expected = json.loads((tiny_bundle / "manifest.json").read_text())["metrics"]["threshold_choice"]["expected"]
    assert metrics["expected_at_threshold"] == expected  # what training expected, beside what was measured
    assert f"training expected for strangers: shown accuracy {expected['shown_accuracy']:.3f}" in proc.stdout


def test_evaluate_leaves_out_and_counts_unknown_classes(tiny_bundle, tmp_path):
    from shared.datasets.dataset import save_dataset
    from shared.datasets.synth import generate

    ds = generate(classes=6, per_class=5, signers=1, seed=9)  # 4 known classes + 2 the model lacks
    save_dataset(tmp_path / "more.npz", ds)
    proc = _run("evaluate", "--model", tiny_bundle, "--data", tmp_path / "more.npz", "--report", tmp_path / "r",
                "--json", capture_output=True)  # fmt: skip
    metrics = json.loads(proc.stdout.splitlines()[-1])
    assert metrics["n"] == 20 and metrics["n_excluded"] == 10
    assert metrics["excluded_classes"] == ["point-up", "pinch"] or set(metrics["excluded_classes"]) == {
        "point-up",
        "pinch",
    }


def test_train_refuses_a_dataset_with_another_layout(tmp_path):
    np.savez(tmp_path / "pose.npz", X=np.zeros((4, 30, 258), np.float32), y=np.array([0, 1, 0, 1]),
             classes=np.array(["a", "b"]))  # fmt: skip
    proc = _run("train", "--data", tmp_path / "pose.npz", "--out", tmp_path / "b", capture_output=True)
    assert proc.returncode == 2 and "(N, T, 126)" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "b").exists()


def test_train_names_things_in_plain_words_not_numpy_reprs(tmp_path):
    """Sessions are numpy strings inside; an error that showed np.str_('ambulancia') to a user was a bug."""
    from shared.datasets.dataset import Dataset, save_dataset

    labels = ["ambulancia", "doctor", "hoy"]
    y = np.repeat(np.arange(3), 6)
    sessions = np.array(labels)[y]  # the label folder taken for the session
    save_dataset(tmp_path / "by-label.npz", Dataset(np.full((18, 30, 126), 0.5, np.float32), y, labels,
                                                    np.array([f"{s}/{i}" for i, s in enumerate(sessions)]), sessions,
                                                    np.full(18, 30)))  # fmt: skip
    proc = _run("train", "--data", tmp_path / "by-label.npz", "--out", tmp_path / "b", capture_output=True)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.count("\n") == 1 and "(e.g. session 'by-label:ambulancia')" in proc.stderr
    assert "np." not in proc.stdout + proc.stderr


@pytest.mark.realdata
def test_a_model_trained_on_msl_names_every_real_clip(sign_data, msl_bundle, tmp_path):
    """Holistic-made training data and our live HandLandmarker extraction agree (handedness, normalisation):
    clips extracted by the CLI, evaluated by the CLI on the small model every MSL test shares (the
    recipe is tested apart; the point is the clips' landmarks)."""
    clips = tmp_path / "clips.npz"
    videos = [sign_data / "videos" / f"{s}_001.mp4" for s in ("ambulancia", "doctor", "dolor", "hoy", "yo")]
    assert _run("extract", *videos, "--label-from", "stem", "--out", clips, capture_output=True).returncode == 0
    proc = _run("evaluate", "--model", msl_bundle, "--data", clips, "--report", tmp_path / "r", "--json",
                capture_output=True)  # fmt: skip
    metrics = json.loads(proc.stdout.splitlines()[-1])
    assert metrics["n"] == 5
    assert metrics["accuracy"] == 1.0, metrics["per_class"]


def test_a_model_without_validation_people_says_its_accuracy_is_unknown(tmp_path):
    from shared.datasets.dataset import save_dataset
    from shared.datasets.synth import generate

    save_dataset(tmp_path / "two.npz", generate(classes=2, per_class=1, signers=1, seed=3))  # nothing to hold out
    out = tmp_path / "b"
    proc = _run("train", "--data", tmp_path / "two.npz", "--out", out, "--epochs", "1", capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert "validation accuracy unknown, threshold 0.00 (a default: nothing held out)" in proc.stdout
    assert "the accuracy on new people is unknown and the threshold is the default 0.00" in proc.stderr
    assert "\r" not in proc.stderr and "epoch/s" not in proc.stderr  # no progress bar redrawn into a log
    assert "training: epoch 1 of 1" in proc.stderr  # but a line now and then
    assert [n for n in NATIVE_NOISE if n in proc.stderr] == [], proc.stderr[-2000:]  # TensorFlow's, LiteRT's
    assert "np." not in proc.stdout + proc.stderr  # numbers and names, not numpy reprs
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["metrics"]["threshold_basis"] == "default" and manifest["metrics"]["val_accuracy"] is None
    assert manifest["threshold"] == 0.0


def test_train_applies_a_review_file_and_leaves_the_data_bytes_unchanged(synth_path, tmp_path):
    import hashlib

    from shared.model.bundle import load_manifest

    review = tmp_path / "review.jsonl"
    review.write_text(
        json.dumps({"session": "synth:signer0", "class": "wave", "action": "drop", "who": "t", "when": "now"}) + "\n"
        + json.dumps({"session": "synth:signer1", "class": "circle", "action": "relabel", "new_class": "hello",
                      "who": "t", "when": "now"}) + "\n"
        + json.dumps({"session": "synth:signer2", "class": "fist-nod", "action": "drop", "who": "t"}) + "\n"
    )  # fmt: skip
    before = hashlib.sha256(synth_path.read_bytes()).hexdigest()
    out = tmp_path / "b"
    proc = _run("train", "--data", synth_path, "--review", review, "--out", out, "--epochs", "2", "--no-refit",
                "--keep-all", "--classes", "wave,circle,push,hello", capture_output=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert hashlib.sha256(synth_path.read_bytes()).hexdigest() == before
    m = load_manifest(out)
    assert "hello" in m.labels  # the relabelled block became a class of its own
    rv = m.metrics["review"]
    assert rv["sha256"] == hashlib.sha256(review.read_bytes()).hexdigest() and rv["decisions"] == 3
    assert rv["dropped"] == ["synth:signer0/wave"] and rv["relabelled"] == ["synth:signer1/circle -> hello"]
    # fist-nod is not trained: its drop changed nothing and is listed apart, not as applied
    assert rv["not_applied"] == [{"block": "synth:signer2/fist-nod", "action": "drop", "reason": "class not trained"}]
    assert "2 decisions applied" in proc.stdout
    assert "review: 1 decisions not applied (class not trained): drop synth:signer2/fist-nod" in proc.stdout
    # --no-refit: the shipped model is the one trained without its validation people (the refit itself is
    # tested in test_training_bundle); train says what the threshold was chosen on
    assert m.metrics["refit"] is False
    assert f"threshold chosen on {m.metrics['threshold_choice']['people']} held-out people" in proc.stdout
    dropped = 24 // 4  # synth_path: 24 sequences of a class over 4 signers; one block dropped
    assert m.metrics["train_sequences"] == 3 * 24 - dropped - m.metrics["val_sequences"]  # fist-nod not trained
    assert m.metrics["train_sequences"] + m.metrics["val_sequences"] == 72 - 6  # signer0's 6 'wave' dropped
    assert m.metrics["left_out"] == [] and m.metrics["left_out_policy"] == "nothing left out"
    assert f"sha256 {rv['sha256'][:12]}" in proc.stdout


def test_train_refuses_a_review_of_other_data_in_one_line(synth_path, tmp_path):
    review = tmp_path / "review.jsonl"
    review.write_text(json.dumps({"session": "nobody", "class": "wave", "action": "drop"}) + "\n")
    proc = _run("train", "--data", synth_path, "--review", review, "--out", tmp_path / "b", capture_output=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "no 'wave' recordings" in proc.stderr
    assert not (tmp_path / "b").exists()


def test_train_with_a_review_pulled_from_the_registry_names_it_in_models(synth_path, tmp_path):
    """push dataset + review, pull both, train --review on the pulled files, push: models names the review."""
    import hashlib

    from shared.model.bundle import load_manifest

    (tmp_path / "store").mkdir()
    store = ["--store", (tmp_path / "store").as_uri()]
    review = tmp_path / "review.jsonl"
    review.write_text(json.dumps({"session": "synth:signer2", "class": "push", "action": "drop"}) + "\n")
    sha = hashlib.sha256(review.read_bytes()).hexdigest()
    for args in (["push", synth_path, "--version", "v1"],
                 ["push", "--review", review, "--dataset", "synth", "--version", "v1"],
                 ["pull", "synth", "v1", "--dataset", "--out", tmp_path / "ds"]):  # fmt: skip
        proc = _run(*args, *store, capture_output=True)
        assert proc.returncode == 0, proc.stderr
    pulled = tmp_path / "ds" / "reviews" / f"{sha}.jsonl"
    out = tmp_path / "b"
    proc = _run("train", "--data", tmp_path / "ds" / "synth.npz", "--review", pulled, "--out", out, "--epochs", "1",
                "--no-refit", "--keep-all", "--name", "signs", "--version", "1", capture_output=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = load_manifest(out)
    assert m.metrics["review"]["sha256"] == sha and m.metrics["review"]["dropped"] == ["synth:signer2/push"]
    assert m.metrics["train_sequences"] + m.metrics["val_sequences"] == 96 - 6
    assert _run("push", out, *store).returncode == 0
    proc = _run("models", *store, capture_output=True)
    assert f"review={sha[:12]} (dataset synth v1)" in proc.stdout, proc.stdout
