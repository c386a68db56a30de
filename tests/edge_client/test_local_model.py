"""The local TFLite model: loads verified bundles only, swaps atomically, checks signatures, follows the registry.

Needs a trained bundle (TensorFlow): skipped in the edge-only venv, where training cannot run.
"""

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from edge_client.answering import LOCAL, LocalModel, ModelSlot
from shared.app.errors import BundleError
from shared.datasets.dataset import load_dataset
from shared.model.bundle import MANIFEST, read_manifest, write_manifest

pytestmark = pytest.mark.slow


def _copy(bundle, dest, version=None):
    shutil.copytree(bundle, dest)
    if version:
        write_manifest(dest, read_manifest(dest).model_copy(update={"version": version}))
    return dest


def test_local_answers_match_the_bundles_labels_and_threshold(tiny_bundle, synth_path):
    model = LocalModel.load(tiny_bundle)
    ds = load_dataset(synth_path)
    answers = [model.predict(ds.X[i]) for i in range(0, len(ds), 12)]
    assert {a.answered_by for a in answers} == {LOCAL}
    assert all(a.label in model.manifest.labels and 0 <= a.confidence <= 1 for a in answers)
    assert all(a.threshold == model.manifest.threshold and a.model_version == "1" for a in answers)
    right = np.mean([a.label == ds.classes[ds.y[i]] for a, i in zip(answers, range(0, len(ds), 12), strict=True)])
    assert right > 0.5  # a trained model, not noise
    assert model.predict(ds.X[0][:12]).label in model.manifest.labels  # any window length is resampled


def test_a_slot_times_each_answers_features_and_model_but_not_the_warm_up(tiny_bundle, synth_path):
    told: list[tuple[str, float]] = []
    slot = ModelSlot(timing=lambda *t: told.append(t))
    slot.load(tiny_bundle)
    assert told == []  # the warm-up answer at load is not a kiosk's answer
    slot.current.predict(load_dataset(synth_path).X[0])
    assert [name for name, _ in told] == ["features", "model"] and all(s > 0 for _, s in told)


def test_int8_runs_too(tiny_bundle):
    answer = LocalModel.load(tiny_bundle, tflite="int8").predict(np.full((30, 126), 0.5, np.float32))
    assert answer.label in LocalModel.load(tiny_bundle).manifest.labels and not answer.no_sign


def test_swap_is_atomic_and_a_bad_bundle_keeps_the_old_model(tiny_bundle, tmp_path):
    seen = []
    slot = ModelSlot(on_loaded=lambda model, previous: seen.append(model.manifest.version))
    slot.load(tiny_bundle)
    bad = _copy(tiny_bundle, tmp_path / "bad", version="2")
    with open(bad / "model.tflite", "r+b") as fh:  # corrupt one byte: the checksum no longer matches
        fh.seek(100)
        b = fh.read(1)
        fh.seek(100)
        fh.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(BundleError, match="sha256"):
        slot.load(bad)
    assert slot.current.manifest.version == "1"
    slot.load(_copy(tiny_bundle, tmp_path / "v3", version="3"))
    assert slot.current.manifest.version == "3" and seen == ["1", "3"]


def test_signature_checked_with_a_public_key(tiny_bundle, tmp_path):
    from shared.model.signing import SignatureError, generate_keypair, sign_bundle

    generate_keypair(tmp_path / "k", tmp_path / "k.pub")
    signed = _copy(tiny_bundle, tmp_path / "signed")
    sign_bundle(signed, tmp_path / "k")
    assert LocalModel.load(signed, public_key=tmp_path / "k.pub").manifest.version == "1"
    with pytest.raises(SignatureError):
        LocalModel.load(_copy(tiny_bundle, tmp_path / "unsigned"), public_key=tmp_path / "k.pub")


def test_the_registry_sync_keeps_the_local_model_current(tiny_bundle, tmp_path, fake_server, clean_env):
    """--store: the promoted version is loaded at start; a newly promoted one is swapped in and reported
    to the server in X-Model-Version."""
    from edge_client.assembly import build_kiosk
    from edge_client.settings import load_settings
    from shared.contract.protocol import MODEL_VERSION_HEADER
    from shared.datasets.dataset import save_dataset
    from shared.datasets.synth import generate
    from shared.registry.registry import Registry
    from shared.registry.store import open_store

    store = f"file://{tmp_path / 'registry'}"
    (tmp_path / "registry").mkdir()
    reg = Registry(open_store(store))
    reg.push_bundle(tiny_bundle)
    reg.promote("tiny", "1", by="test")
    replay = tmp_path / "replay.npz"
    save_dataset(replay, generate(classes=4, per_class=1, signers=1, seed=5))
    settings = load_settings(source=str(replay), server=fake_server.url, store=store, model_name="tiny",
                             cache_dir=tmp_path / "cache", display="none", web_port=0, replay_speed=0)  # fmt: skip
    runner = build_kiosk(settings, out=lambda line: None)
    assert runner.slot.current.manifest.version == "1"
    reg.push_bundle(_copy(tiny_bundle, tmp_path / "v2", version="2"))
    reg.promote("tiny", "2", by="test")
    assert runner.sync.check_once() == "updated"
    assert runner.slot.current.manifest.version == "2"
    summary = runner.run(install_signals=False)
    assert summary["answers_cloud"] > 0
    assert {r["headers"][MODEL_VERSION_HEADER] for r in fake_server.requests} == {"2"}
    assert json.loads((tmp_path / "cache" / "tiny" / ".last_good.json").read_text())["version"] == "2"
    assert (tiny_bundle / MANIFEST).is_file()  # the source bundle was never touched
