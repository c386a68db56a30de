"""Opening a bundle safely: signature, then checksums, then the feature spec, the same for every loader."""

import json

import pytest

from shared.app.errors import BundleError, SpecMismatchError
from shared.model.bundle import MANIFEST
from shared.model.open_bundle import open_bundle
from shared.model.signing import SignatureError, sign_bundle


def test_a_good_bundle_opens_signed_or_not(make_bundle, keypair):
    private, public = keypair
    folder = make_bundle(version="7")
    assert open_bundle(folder).version == "7"
    sign_bundle(folder, private)
    assert open_bundle(folder, public).version == "7"


def test_a_changed_file_is_refused(make_bundle):
    folder = make_bundle()
    (folder / "model.tflite").write_bytes(b"other weights")
    with pytest.raises(BundleError, match=r"model\.tflite"):
        open_bundle(folder)


def test_an_unsigned_or_foreign_bundle_is_refused_when_a_key_is_given(make_bundle, keypair, other_keypair):
    folder = make_bundle()
    with pytest.raises(SignatureError):
        open_bundle(folder, keypair[1])
    sign_bundle(folder, other_keypair[0])
    with pytest.raises(SignatureError):
        open_bundle(folder, keypair[1])


def test_the_signature_is_checked_before_the_manifest_is_trusted(make_bundle, keypair):
    folder = make_bundle()
    sign_bundle(folder, keypair[0])
    (folder / MANIFEST).write_text("{not json")  # unsigned bytes: never parsed
    with pytest.raises(SignatureError):
        open_bundle(folder, keypair[1])


def test_a_spec_this_installation_cannot_compute_is_refused_unless_asked_not_to_check(make_bundle):
    folder = make_bundle()
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["spec"]["normalization_version"] = 99
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(SpecMismatchError, match="v99"):
        open_bundle(folder)
    assert open_bundle(folder, check_spec=False).spec.normalization_version == 99
