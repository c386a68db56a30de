"""Enrolled signs: fitted against the trained logits, refused when they cannot be told apart, written
as a new checksummed bundle version, answered by every runtime like trained signs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from shared.app.errors import BundleError
from shared.contract.spec import FeatureSpec
from shared.datasets.synth import generate
from shared.enrolment.bundle import enroll_bundle
from shared.model.bundle import Manifest, load_manifest, now_iso, read_manifest, write_manifest
from shared.model.enroll import (
    AUGMENTED_COPIES,
    ENROLL_REFERENCE,
    ENROLLED_THRESHOLD,
    EnrolledHead,
    EnrolledRunner,
    EnrollError,
    Reference,
    check_examples,
    check_names,
    enrol,
    fit_head,
    resemblances,
    with_enrolled,
)
from shared.model.predictor import predict_windows


def _clusters(rng, n_known=3, dim=8, per_class=30, spread=0.3):
    """Reference embeddings in ``n_known`` well-separated clusters, with logits of a matching linear head."""
    centres = rng.normal(0, 3, (n_known + 1, dim))
    emb = np.concatenate([centres[c] + rng.normal(0, spread, (per_class, dim)) for c in range(n_known)])
    labels = np.repeat(np.arange(n_known), per_class)
    w = centres[:n_known]
    logits = emb @ w.T - 0.5 * (w**2).sum(1)
    return Reference(emb.astype(np.float32), logits.astype(np.float32), labels), centres, w


def test_fitted_head_names_the_new_cluster_and_leaves_the_known_ones():
    rng = np.random.default_rng(0)
    reference, centres, w = _clusters(rng)
    examples = centres[3] + rng.normal(0, 0.3, (5, 8))
    ex_logits = examples @ w.T - 0.5 * (w**2).sum(1)
    head = fit_head(reference, ["new"], examples, ex_logits, np.zeros(5, int))
    fresh = centres[3] + rng.normal(0, 0.3, (50, 8))
    fresh_logits = np.concatenate([fresh @ w.T - 0.5 * (w**2).sum(1), head.logits(fresh)], axis=1)
    assert (fresh_logits.argmax(1) == 3).mean() >= 0.95
    known_logits = np.concatenate([reference.logits, head.logits(reference.embeddings)], axis=1)
    assert (known_logits.argmax(1) == reference.labels).mean() >= 0.98
    [r] = resemblances(reference, ["a", "b", "c"], head)
    assert r.sign == "new" and r.taken < 0.1 and r.kept == 0.0


def test_a_new_sign_inside_a_known_cluster_resembles_it():
    rng = np.random.default_rng(1)
    reference, centres, w = _clusters(rng)
    examples = centres[1] + rng.normal(0, 0.3, (5, 8))  # "b" under another name
    ex_logits = examples @ w.T - 0.5 * (w**2).sum(1)
    head = fit_head(reference, ["copy"], examples, ex_logits, np.zeros(5, int))
    [r] = resemblances(reference, ["a", "b", "c"], head)
    assert r.known == "b" and r.named >= 0.5 and r.overlap >= 0.5


class _Base:
    def __init__(self, logits, emb):
        self._l, self._e = logits, emb

    def logits(self, features):
        return self._l

    def logits_and_embeddings(self, features):
        return self._l, self._e


def _manifest(labels, enrolled=()):
    return Manifest(name="m", version="1", created=now_iso(), spec=FeatureSpec(), labels=list(labels),
                    enrolled=list(enrolled), threshold=0.5, no_sign_label="idle")  # fmt: skip


def test_enrolled_runner_appends_one_logit_per_sign_and_the_predictor_names_it():
    head = EnrolledHead(["new"], np.array([[1.0, 0.0]], np.float32), np.array([5.0], np.float32),
                        np.zeros((1, 2)), np.zeros((1, 2)), np.zeros(1, int))  # fmt: skip
    base = _Base(np.array([[1.0, 0.0]], np.float32), np.array([[2.0, 1.0]], np.float32))
    runner = EnrolledRunner(base, head)
    np.testing.assert_allclose(runner.logits(np.zeros((1, 30, 10))), [[1.0, 0.0, 7.0]])
    window = np.full((30, 126), 0.5, np.float32)
    [p] = predict_windows(runner, _manifest(["hello", "idle", "new"], ["new"]), [window])
    assert p.label == "new" and p.index == 2 and not p.no_sign
    with pytest.raises(BundleError, match="2 scores for 3 labels"):  # a loader that forgot the enrolled head
        predict_windows(base, _manifest(["hello", "idle", "new"], ["new"]), [window])


def test_names_and_examples_are_refused_in_one_line():
    m = _manifest(["hello", "idle", "doctor"], ["doctor"])
    with pytest.raises(EnrollError, match="'hello' is a trained sign"):
        check_names(m, ["hello"], replace=True)
    with pytest.raises(EnrollError, match=r"already enrolled.*--replace"):
        check_names(m, ["doctor"], replace=False)
    check_names(m, ["doctor"], replace=True)
    with pytest.raises(EnrollError, match="no-sign class"):
        check_names(m, ["idle"], replace=False)
    hand = np.full((30, 126), 0.5, np.float32)
    with pytest.raises(EnrollError, match="'pain' has 2 example"):
        check_examples(["pain"], {"pain": [hand, hand]})
    with pytest.raises(EnrollError, match=r"'pain': example\(s\) 2 of 3 show no hand"):
        check_examples(["pain"], {"pain": [hand, np.zeros_like(hand), hand]})


# ------------------------------------------------------------------------- bundles (tiny_bundle: ~20 s once)


def _new_sign(n: int = 5, seed: int = 7) -> dict[str, list[np.ndarray]]:
    """Synthetic examples of a class the tiny bundle never saw (the synthetic set's fifth), one signer."""
    ds = generate(classes=5, per_class=n, signers=1, seed=seed)
    name = ds.classes[4]
    return {name: [x for x, y in zip(ds.X, ds.y, strict=True) if y == 4]}


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_enroll_writes_a_new_verified_version_and_leaves_the_input_alone(tiny_bundle, tmp_path):
    before = _snapshot(tiny_bundle)
    done = enroll_bundle(tiny_bundle, _new_sign(), tmp_path / "new", version="2")
    assert _snapshot(tiny_bundle) == before
    m = load_manifest(tmp_path / "new")  # every file checksummed, nothing unlisted
    assert m.version == "2" and m.enrolled == ["point-up"] and m.labels[-1] == "point-up"
    assert "enrolled.npz" in m.files and ENROLL_REFERENCE in m.files
    assert m.metrics["enrolled"]["from_version"] == "1" and done.enrolment.int8_agreement == 1.0
    assert done.seconds < 2.0
    assert m.sign_thresholds == {"point-up": min(m.threshold, ENROLLED_THRESHOLD)}
    plain = json.loads((tiny_bundle / "manifest.json").read_text())
    assert "enrolled" not in plain and "sign_thresholds" not in plain  # older loaders read it


def test_every_runtime_names_the_enrolled_sign(tiny_bundle, tmp_path):
    from cloud_server.model_holder import load_model
    from edge_client.answering import LocalModel

    enroll_bundle(tiny_bundle, _new_sign(), tmp_path / "new")
    fresh = _new_sign(n=6, seed=11)["point-up"]  # another draw: not the examples
    server = load_model(tmp_path / "new")
    assert [p.label for p in server.predict(fresh, 1)].count("point-up") >= 5
    for tflite in ("float", "int8"):
        kiosk = LocalModel.load(tmp_path / "new", tflite)
        assert [kiosk.predict(w).label for w in fresh].count("point-up") >= 5


def test_refusals(tiny_bundle, tmp_path):
    sign = _new_sign()
    with pytest.raises(EnrollError, match="show no hand"):
        enroll_bundle(
            tiny_bundle, {"point-up": [*sign["point-up"][:4], np.zeros((30, 126), np.float32)]}, tmp_path / "a"
        )
    with pytest.raises(EnrollError, match="has 2 example"):
        enroll_bundle(tiny_bundle, {"point-up": sign["point-up"][:2]}, tmp_path / "b")
    with pytest.raises(EnrollError, match="'wave' is a trained sign"):
        enroll_bundle(tiny_bundle, {"wave": sign["point-up"]}, tmp_path / "c")
    assert not any(
        (tmp_path / n).exists() for n in "abc"
    )  # a sign like a known one: tests/shared/enrolment/test_cli.py


def test_duplicate_names_need_replace_and_replace_keeps_the_other_signs(tiny_bundle, tmp_path):
    enroll_bundle(tiny_bundle, _new_sign(), tmp_path / "one")
    with pytest.raises(EnrollError, match="already enrolled"):
        enroll_bundle(tmp_path / "one", _new_sign(seed=8), tmp_path / "two")
    done = enroll_bundle(tmp_path / "one", _new_sign(seed=8), tmp_path / "two", replace=True)
    assert done.manifest.enrolled == ["point-up"]
    head = done.enrolment.head
    assert head.examples_of("point-up") == 5  # the old examples were replaced
    assert int(head.copies.sum()) == 5 * AUGMENTED_COPIES  # ... with their augmented copies


def test_an_enrolled_sign_is_shown_from_its_own_threshold_and_a_replaced_or_trained_one_keeps_the_rule():
    from shared.model.enroll import manifest_with

    m = _manifest(["hello", "idle", "doctor"], ["doctor"]).model_copy(
        update={"threshold": 0.8, "sign_thresholds": {"hello": 0.9, "doctor": 0.5}}
    )
    head = EnrolledHead(["pain"], np.zeros((1, 2), np.float32), np.zeros(1, np.float32),
                        np.zeros((1, 2)), np.zeros((1, 2)), np.zeros(1, int))  # fmt: skip
    new = manifest_with(m, head, "2", now_iso(), {})
    # the trained sign keeps its own, the dropped enrolled sign loses its, the new one gets the rule's
    assert new.labels == ["hello", "idle", "pain"]
    assert new.sign_thresholds == {"hello": 0.9, "pain": ENROLLED_THRESHOLD}
    low = manifest_with(m.model_copy(update={"threshold": 0.3}), head, "3", now_iso(), {})
    assert low.sign_thresholds["pain"] == 0.3  # never above the bundle's own


def test_augmented_copies_are_fitted_kept_for_refits_and_drawn_the_same_each_time():
    reference, centres, w = _clusters(np.random.default_rng(3))
    m = _manifest(["a", "b", "idle"])

    class _ClusterRunner:  # windows near the fourth cluster, moved by what the window holds
        def logits_and_embeddings(self, features):
            emb = centres[3] + 0.1 * features.reshape(len(features), -1)[:, :8]
            return (emb @ w.T - 0.5 * (w**2).sum(1)).astype(np.float32), emb.astype(np.float32)

    runner = _ClusterRunner()
    windows = {"new": [np.random.default_rng(i).uniform(0.2, 0.8, (30, 126)).astype(np.float32) for i in range(4)]}
    calls = []

    def shift(w, g):
        calls.append(1)
        return w + g.normal(0, 0.01, w.shape).astype(np.float32)

    loose = {"similar_share": 1.01, "named_limit": 1.01, "no_sign_limit": 1.01}  # a linear toy is sure of all
    one = enrol(m, reference, None, runner, windows, augment=shift, copies=3, seed=5, **loose)
    two = enrol(m, reference, None, runner, windows, augment=shift, copies=3, seed=5, **loose)
    assert len(calls) == 2 * 4 * 3
    assert one.head.examples_of("new") == 4 and int(one.head.copies.sum()) == 12
    np.testing.assert_array_equal(one.head.weights, two.head.weights)  # the same examples, the same bundle
    other = enrol(m, reference, None, runner, windows, augment=shift, copies=3, seed=6, **loose)
    assert not np.array_equal(one.head.weights, other.head.weights)  # the copies were fitted
    plain = enrol(m, reference, None, runner, windows, **loose)
    assert plain.head.examples.shape[0] == 4 and not plain.head.copies.any()


def test_examples_the_model_takes_for_no_sign_are_refused_and_signed_ones_are_not():
    """A sign taught while nobody signed in view would claim the idle windows: shown to passers-by."""
    reference, centres, w = _clusters(np.random.default_rng(4))
    m = _manifest(["a", "b", "idle"])

    def runner_near(centre):
        class _Runner:
            def logits_and_embeddings(self, features):
                emb = centre + 0.05 * features.reshape(len(features), -1)[:, :8]
                return (emb @ w.T - 0.5 * (w**2).sum(1)).astype(np.float32), emb.astype(np.float32)

        return _Runner()

    windows = {"wave": [np.random.default_rng(i).uniform(0.2, 0.8, (30, 126)).astype(np.float32) for i in range(4)]}
    with pytest.raises(EnrollError, match=r"'wave': the model sees no sign in its examples \('idle' at 1.00"):
        enrol(m, reference, None, runner_near(centres[2]), windows, similar_share=1.01, named_limit=1.01)
    # the same examples where the model sees sign "a": not the no-sign rule (the resemblance rules judge it)
    done = enrol(m, reference, None, runner_near(centres[0]), windows, similar_share=1.01, named_limit=1.01)
    assert done.head.classes == ["wave"]


def test_a_bundle_exported_without_an_embedding_is_refused_with_what_to_do(tiny_bundle, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(tiny_bundle, old)
    (old / ENROLL_REFERENCE).unlink()
    write_manifest(old, read_manifest(old))
    with pytest.raises(EnrollError, match="re-export it"):
        enroll_bundle(old, _new_sign(), tmp_path / "new")


def test_a_signed_bundle_needs_a_key_and_the_new_version_verifies(tiny_bundle, tmp_path, keypair):
    from shared.model.open_bundle import open_bundle
    from shared.model.signing import sign_bundle

    private, public = keypair
    signed = tmp_path / "signed"
    shutil.copytree(tiny_bundle, signed)
    sign_bundle(signed, private)
    with pytest.raises(EnrollError, match="is signed: pass --signing-key"):
        enroll_bundle(signed, _new_sign(), tmp_path / "new")
    enroll_bundle(signed, _new_sign(), tmp_path / "new", signing_key=private)
    assert open_bundle(tmp_path / "new", public).enrolled == ["point-up"]


def test_with_enrolled_leaves_a_plain_bundle_runner_alone(tiny_bundle):
    runner = object()
    assert with_enrolled(runner, tiny_bundle, load_manifest(tiny_bundle)) is runner


def test_an_example_unlike_the_others_has_the_lowest_consistency():
    from shared.model.enroll import example_consistency

    rng = np.random.default_rng(2)
    reference, centres, _ = _clusters(rng)
    examples = np.concatenate([centres[3] + rng.normal(0, 0.3, (4, 8)), centres[0][None]])
    scores = example_consistency(reference, examples)
    assert scores.argmin() == 4 and scores[:4].min() > 0.9


def test_a_new_sign_like_an_enrolled_one_resembles_it():
    rng = np.random.default_rng(3)
    reference, centres, _ = _clusters(rng)
    shown = centres[3] + rng.normal(0, 0.3, (5, 8))
    examples = np.concatenate([shown, shown])  # the same five windows taught twice, under two names
    ex_logits = np.zeros((10, 3))  # the trained model names neither: only the enrolled sign is alike
    head = fit_head(reference, ["doctor", "medico"], examples, ex_logits, np.repeat([0, 1], 5))
    found = {r.sign: r for r in resemblances(reference, ["a", "b", "c"], head)}
    medico = found["medico"]
    assert medico.known == "doctor" and medico.named == 0.0 and medico.too_close(share=0.3)


def test_enroll_runs_where_tensorflow_is_absent(tiny_bundle, tmp_path):
    """The kiosk has LiteRT and numpy only: the whole command runs with TensorFlow blocked."""
    import subprocess
    import sys

    from shared.datasets.dataset import save_dataset
    from tests.edge_client.test_no_tensorflow import BLOCK_TF

    ds = generate(classes=5, per_class=5, signers=1, seed=7)
    save_dataset(tmp_path / "ex.npz", ds.subset(ds.y == 4).select_classes(["point-up"]))
    argv = [
        "enroll",
        "--model",
        str(tiny_bundle),
        "--examples",
        str(tmp_path / "ex.npz"),
        "--out",
        str(tmp_path / "new"),
    ]
    code = (
        BLOCK_TF
        + f"""
from signstream.cli import main
assert main({argv!r}) == 0
assert not any(m.split('.')[0] in ('tensorflow', 'keras') for m in sys.modules)
print('ok')
"""
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("ok") and load_manifest(tmp_path / "new").enrolled == ["point-up"]
