import json

import pytest

from shared.app.errors import BundleError
from shared.contract.spec import FeatureSpec
from shared.model.bundle import Manifest, load_manifest, now_iso, write_manifest


@pytest.fixture
def bundle(tmp_path):
    folder = tmp_path / "b"
    (folder / "saved_model").mkdir(parents=True)
    (folder / "saved_model" / "saved_model.pb").write_bytes(b"graph")
    (folder / "model.tflite").write_bytes(b"tflite-bytes")
    (folder / "report").mkdir()
    (folder / "report" / "r.json").write_text("{}")
    m = Manifest(name="m", version="1", created=now_iso(), spec=FeatureSpec(), labels=["a", "b"])
    write_manifest(folder, m)
    return folder


def test_valid_bundle_loads_with_every_file_listed(bundle):
    m = load_manifest(bundle)
    assert set(m.files) == {"saved_model/saved_model.pb", "model.tflite", "report/r.json"}


def test_tampered_file_is_refused(bundle):
    (bundle / "model.tflite").write_bytes(b"tflite-bytez")
    with pytest.raises(BundleError, match=r"model\.tflite does not match its sha256"):
        load_manifest(bundle)


def test_truncated_missing_and_extra_files_are_refused(bundle):
    (bundle / "model.tflite").write_bytes(b"tfl")
    with pytest.raises(BundleError, match="3 bytes"):
        load_manifest(bundle)
    (bundle / "model.tflite").unlink()
    with pytest.raises(BundleError, match="missing"):
        load_manifest(bundle)


def test_unlisted_file_is_refused(bundle):
    (bundle / "saved_model" / "evil.pb").write_bytes(b"x")
    with pytest.raises(BundleError, match="not in the manifest"):
        load_manifest(bundle)


def test_manifest_problems_are_named(bundle, tmp_path):
    with pytest.raises(BundleError, match="not a model bundle"):
        load_manifest(tmp_path)
    data = json.loads((bundle / "manifest.json").read_text())
    data["name"] = "bad name/"
    (bundle / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match="name"):
        load_manifest(bundle)
    data["name"] = "ok"
    data["files"]["../escape"] = {"sha256": "0" * 64, "size": 1}
    (bundle / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(BundleError, match="unsafe path"):
        load_manifest(bundle)
