"""A real trained bundle (tests/conftest.py tiny_bundle) through push, promote and the sync loop into a ModelHolder."""

from __future__ import annotations

import numpy as np
import pytest

from shared.model.bundle import load_manifest

pytestmark = pytest.mark.slow
pytest.importorskip("tensorflow", reason="the server side needs TensorFlow (not in the edge venv)")


def test_a_signed_trained_bundle_reaches_a_serving_model_holder(registry, tiny_bundle, keypair, tmp_path):
    from cloud_server.model_holder import ModelHolder, load_model
    from shared.registry.sync import ModelSync

    private, public = keypair
    registry.push_bundle(tiny_bundle, private_key=private)
    registry.promote("tiny", "1", by="ann", public_key=public, signing_key=private)
    holder = ModelHolder(loader=lambda path: load_model(path, public_key=public))
    sync = ModelSync(registry, "tiny", tmp_path / "cache", holder.load, public_key=public)
    assert sync.check_once() == "updated"
    model = holder.current
    assert model is not None and model.manifest.version == "1"
    assert set(load_manifest(tmp_path / "cache" / "tiny" / "1").files) == set(load_manifest(tiny_bundle).files)
    (answer,) = model.predict([np.full((30, 126), 0.5, np.float32)], k=2)  # a hand: the model answers
    assert len(answer.top_k) == 2


def test_a_bundle_with_an_enrolled_sign_is_pushed_promoted_and_served_like_any_version(
    registry, tiny_bundle, keypair, tmp_path
):
    from cloud_server.model_holder import ModelHolder, load_model
    from shared.datasets.synth import generate
    from shared.enrolment.bundle import enroll_bundle
    from shared.registry.sync import ModelSync

    private, public = keypair
    ds = generate(classes=5, per_class=10, signers=1, seed=7)
    fifth = [x for x, y in zip(ds.X, ds.y, strict=True) if y == 4]
    enroll_bundle(tiny_bundle, {"point-up": fifth[:5]}, tmp_path / "enrolled", signing_key=private, version="2")
    registry.push_bundle(tmp_path / "enrolled")
    registry.promote("tiny", "2", by="ann", public_key=public, signing_key=private)
    holder = ModelHolder(loader=lambda path: load_model(path, public_key=public))
    sync = ModelSync(registry, "tiny", tmp_path / "cache", holder.load, public_key=public)
    assert sync.check_once() == "updated"
    model = holder.current
    assert model is not None and model.manifest.version == "2" and model.manifest.enrolled == ["point-up"]
    assert [p.label for p in model.predict(fifth[5:], k=1)].count("point-up") >= 4
