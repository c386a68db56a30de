"""The runners a worker can serve with: the SavedModel in a session of its own, or the TFLite file."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from cloud_server.inference import runner_factory
from cloud_server.model_holder import load_model


@pytest.mark.slow
def test_the_tflite_runtime_answers_as_the_savedmodel_with_enrolled_signs_too(tiny_bundle, tmp_path):
    from shared.datasets.synth import generate
    from shared.enrolment.bundle import enroll_bundle

    new = generate(classes=5, per_class=6, signers=1, seed=7)  # the fifth class: one the bundle never saw
    examples = [x for x, y in zip(new.X, new.y, strict=True) if y == 4]
    enroll_bundle(tiny_bundle, {"point-up": examples[:5]}, tmp_path / "enrolled")
    windows = list(generate(classes=4, per_class=3, signers=2, seed=3).X) + examples[5:]
    for bundle in (tiny_bundle, tmp_path / "enrolled"):
        saved = load_model(bundle, runner_factory("savedmodel")).predict(windows, 3)
        lite = load_model(bundle, runner_factory("tflite")).predict(windows, 3)
        assert [p.label for p in lite] == [p.label for p in saved]
        assert [[s.label for s in p.top_k] for p in lite] == [[s.label for s in p.top_k] for p in saved]
        assert np.allclose([p.confidence for p in lite], [p.confidence for p in saved], atol=1e-4)
    assert lite[-1].label == "point-up"  # the enrolled sign, answered through the TFLite runner


def test_an_unknown_runtime_is_refused():
    with pytest.raises(ValueError, match="unknown model runtime 'onnx'"):
        runner_factory("onnx")


def test_the_savedmodel_runner_answers_as_the_signature_called_eagerly_from_many_threads(tiny_bundle):
    import tensorflow as tf

    from cloud_server.inference import SavedModelRunner
    from shared.contract.normalize import features_batch
    from shared.datasets.synth import generate
    from shared.model.bundle import load_manifest

    windows = generate(classes=4, per_class=4, signers=2, seed=5).X
    feats = features_batch(list(windows), load_manifest(tiny_bundle).spec)
    eager = tf.saved_model.load(str(tiny_bundle / "saved_model")).signatures["serving_default"]
    want = eager(features=tf.constant(feats))
    runner = SavedModelRunner(tiny_bundle)
    logits, embeddings = runner.logits_and_embeddings(feats)
    assert np.allclose(logits, want["logits"].numpy(), atol=1e-5)
    assert np.allclose(embeddings, want["embedding"].numpy(), atol=1e-5)
    with ThreadPoolExecutor(4) as pool:  # request threads of an unbatched worker call it at once
        answers = list(pool.map(lambda i: runner.logits(feats[i : i + 1]), range(len(feats))))
    assert np.allclose(np.concatenate(answers), logits, atol=1e-5)


def test_a_folder_without_a_savedmodel_is_a_bundle_error(tmp_path):
    from cloud_server.inference import SavedModelRunner
    from shared.app.errors import BundleError

    with pytest.raises(BundleError, match="cannot load the SavedModel"):
        SavedModelRunner(tmp_path)
