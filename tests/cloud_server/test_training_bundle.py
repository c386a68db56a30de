"""Train a tiny model on synthetic data into a bundle and run it on both runtimes."""

import json

import numpy as np
import pytest

from cloud_server.inference import SavedModelRunner
from cloud_server.model_holder import load_model
from shared.app.errors import BundleError
from shared.contract.normalize import features_batch
from shared.datasets.dataset import load_dataset
from shared.model.bundle import TFLITE_FLOAT, TFLITE_INT8, load_manifest
from shared.model.predictor import predict_windows
from shared.model.tflite import TFLiteRunner

pytestmark = pytest.mark.slow


def test_bundle_is_complete_and_verified(tiny_bundle):
    m = load_manifest(tiny_bundle)
    assert m.name == "tiny" and m.version == "1" and len(m.labels) == 4
    assert {TFLITE_FLOAT, TFLITE_INT8, "saved_model/saved_model.pb"} <= set(m.files)
    assert m.temperature > 0 and 0 <= m.threshold <= 1
    assert m.metrics["export"]["model_top1_agreement"] == 1.0
    assert sum(e.size for e in m.files.values()) < 5_000_000
    assert "report/curves.png" in m.files and "report/history.json" in m.files
    assert any(f.startswith("report/tensorboard/") for f in m.files)


def test_savedmodel_and_tflite_give_the_same_top1(tiny_bundle, synth_path):
    ds = load_dataset(synth_path)
    m = load_manifest(tiny_bundle)
    feats = features_batch(list(ds.X[:40]), m.spec)
    ref = SavedModelRunner(tiny_bundle).logits(feats)
    for name in (TFLITE_FLOAT, TFLITE_INT8):
        got = TFLiteRunner(tiny_bundle / name).logits(feats)
        agree = (got.argmax(1) == ref.argmax(1)).mean()
        assert agree >= (1.0 if name == TFLITE_FLOAT else 0.95), (name, agree)
    a = predict_windows(SavedModelRunner(tiny_bundle), m, list(ds.X[:10]))
    b = predict_windows(TFLiteRunner(tiny_bundle / TFLITE_FLOAT), m, list(ds.X[:10]))
    assert [p.label for p in a] == [p.label for p in b]
    assert np.allclose([p.confidence for p in a], [p.confidence for p in b], atol=1e-4)


def test_server_loader_refuses_a_tampered_bundle(tiny_bundle, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_bundle, copy)
    data = bytearray((copy / TFLITE_FLOAT).read_bytes())
    data[100] ^= 0xFF
    (copy / TFLITE_FLOAT).write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256"):
        load_model(copy)


def test_train_refuses_an_existing_output(synth_path, tiny_bundle):
    from cloud_server.training.train import train_bundle

    with pytest.raises(FileExistsError):
        train_bundle([synth_path], tiny_bundle)


def test_refit_ships_a_model_trained_on_every_person_calibrated_on_the_held_out_ones(tmp_path):
    from cloud_server.training.train import TrainConfig, train_bundle
    from shared.datasets.synth import generate

    ds = generate(classes=3, per_class=24, signers=6, seed=5)
    out = tmp_path / "b"
    train_bundle(ds, out, config=TrainConfig(seed=0, epochs=4, refit=True), name="refit", version="1")
    metrics = load_manifest(out).metrics
    assert metrics["refit"] is True
    assert metrics["train_sequences"] == len(ds)  # the validation people are in the shipped model
    assert 0 < metrics["val_sequences"] < len(ds) and metrics["val_accuracy"] is not None
    history = json.loads((out / "report" / "history.json").read_text())
    assert len(history["loss"]) == 4 and len(history["refit_loss"]) == 4


def test_a_bundle_without_a_no_sign_class_says_its_threshold_was_chosen_on_signs_only(tiny_bundle):
    m = load_manifest(tiny_bundle)
    assert m.no_sign_label is None  # the synthetic data has no idle class
    assert m.metrics["threshold_basis"] == "signs_only" and m.metrics["val_accuracy"] is not None
    choice = m.metrics["threshold_choice"]  # what the threshold rests on and what it should cost a stranger
    assert choice["people"] == len(m.metrics["val_sessions"]) and choice["windows"] == m.metrics["val_sequences"]
    assert "bootstrap" in choice["rule"] and 0 <= choice["expected"]["shown_accuracy"] <= 1
    assert choice["expected"]["false_label_rate"] is None  # no no-sign windows to count
