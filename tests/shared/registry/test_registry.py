"""Push, pull, list, promote and roll back against a real S3 API (moto) and a folder."""

from __future__ import annotations

import json
import threading

import pytest

from shared.app.errors import BundleError
from shared.datasets.dataset import load_dataset
from shared.model.bundle import SIGNATURE, load_manifest
from shared.model.signing import SignatureError, sign_bundle, verify_bundle
from shared.registry.registry import (
    NotInRegistryError,
    PromoteConflictError,
    Registry,
    RegistryError,
    VersionExistsError,
)
from shared.registry.store import StoreError, UnsafeKeyError
from tests.shared.registry.conftest import CountingStore


def _same_tree(a, b):
    files_a = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    return files_a == files_b and all((a / f).read_bytes() == (b / f).read_bytes() for f in files_a)


def _hidden(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and not p.name.endswith(".lock"))


def test_push_pull_round_trip_each_file_its_own_object(registry, make_bundle, tmp_path):
    bundle = make_bundle("tiny", "1")
    registry.push_bundle(bundle)
    keys = registry.store.list("models/tiny/1")
    assert {k.removeprefix("models/tiny/1/") for k in keys} >= set(load_manifest(bundle).files) | {"manifest.json"}
    out = registry.pull("tiny", "1", tmp_path / "pulled")
    assert _same_tree(bundle, out)
    assert load_manifest(out).version == "1"
    assert _hidden(tmp_path) == []  # no partial folder left
    # pulling again into the same verified folder reuses it
    assert registry.pull("tiny", "1", out) == out


def test_versions_are_immutable(registry, make_bundle, tmp_path):
    registry.push_bundle(make_bundle("tiny", "1"))
    other = make_bundle("tiny", "1", files=5)  # same name and version, other content
    with pytest.raises(VersionExistsError, match="immutable"):
        registry.push_bundle(other)
    out = registry.pull("tiny", "1", tmp_path / "pulled")
    assert len(load_manifest(out).files) == 5  # 3 parts + graph + tflite: the first push, untouched
    with pytest.raises(RegistryError, match="version is '1', not '2'"):
        registry.push_bundle(other, version="2")


def test_an_interrupted_push_of_other_content_blocks_the_version(registry, make_bundle):
    first = make_bundle("tiny", "1")
    failing = Registry(CountingStore(registry.store))
    failing.store.put_file = _fail_after(registry.store.put_file, 1)
    with pytest.raises(StoreError):
        failing.push_bundle(first)
    assert [row.versions for row in registry.list_models()] == [[]]  # not a version yet
    registry.push_bundle(first)  # the same content resumes
    with pytest.raises(VersionExistsError):
        registry.push_bundle(make_bundle("tiny", "1", files=4))


def _fail_after(fn, n):
    calls = []

    def wrapped(*args, **kwargs):
        if len(calls) >= n:
            raise StoreError("simulated network drop")
        calls.append(args)
        return fn(*args, **kwargs)

    return wrapped


def test_list_promote_rollback(registry, make_bundle):
    for version, acc in (("1", 0.8), ("2", 0.9), ("3", 0.95)):
        registry.push_bundle(make_bundle("tiny", version, accuracy=acc))
    registry.push_bundle(make_bundle("other", "a"))
    assert registry.current("tiny") is None
    registry.promote("tiny", "1", by="ann")
    registry.promote("tiny", "2", by="bob")
    pointer = registry.promote("tiny", "3", by="cat")
    assert (pointer.version, pointer.previous, pointer.promoted_by) == ("3", "2", "cat")
    rows = {r.name: r for r in registry.list_models()}
    assert set(rows) == {"tiny", "other"}
    assert [v.version for v in rows["tiny"].versions] == ["1", "2", "3"]
    assert [v.metrics["val_accuracy"] for v in rows["tiny"].versions] == [0.8, 0.9, 0.95]
    assert rows["tiny"].current.version == "3" and rows["other"].current is None
    with pytest.raises(RegistryError, match="already current"):
        registry.promote("tiny", "3", by="cat")

    back = registry.rollback("tiny", by="dan")
    assert (back.version, back.replaced, back.action, back.previous) == ("2", "3", "rollback", "1")
    assert registry.rollback("tiny", by="dan").version == "1"
    with pytest.raises(RegistryError, match="no previous version"):
        registry.rollback("tiny", by="dan")
    with pytest.raises(NotInRegistryError):
        registry.rollback("other", by="dan")


def test_pull_defaults_to_current_and_names_what_is_missing(registry, make_bundle, tmp_path):
    registry.push_bundle(make_bundle("tiny", "1"))
    with pytest.raises(NotInRegistryError, match="no current version"):
        registry.pull("tiny", out=tmp_path / "a")
    registry.promote("tiny", "1", by="ann")
    assert load_manifest(registry.pull("tiny", out=tmp_path / "a")).version == "1"
    with pytest.raises(NotInRegistryError, match="no model tiny version 9"):
        registry.pull("tiny", "9", tmp_path / "b")
    with pytest.raises(NotInRegistryError):
        registry.promote("tiny", "9", by="ann")


def test_promote_refuses_an_incomplete_version(registry, make_bundle):
    registry.push_bundle(make_bundle("tiny", "1"))
    registry.store.put_bytes("models/tiny/1/model.tflite", b"truncated")
    with pytest.raises(BundleError, match=r"model\.tflite"):
        registry.promote("tiny", "1", by="ann")
    assert registry.current("tiny") is None


def test_a_tampered_object_is_refused_and_nothing_loadable_is_left(registry, make_bundle, tmp_path):
    bundle = make_bundle("tiny", "1")
    registry.push_bundle(bundle)
    registry.store.put_bytes("models/tiny/1/saved_model/variables/part-1", b"evil weights")
    out = tmp_path / "pulled"
    with pytest.raises(BundleError, match="part-1 does not match its sha256"):
        registry.pull("tiny", "1", out)
    assert not out.exists()
    assert _hidden(tmp_path) == []  # the partial folder is gone too


def test_an_interrupted_pull_resumes_without_fetching_again(registry, make_bundle, tmp_path):
    registry.push_bundle(make_bundle("tiny", "1", files=4))  # 6 files
    out = tmp_path / "pulled"
    flaky = CountingStore(registry.store, fail_after=3)
    with pytest.raises(StoreError, match="network drop"):
        Registry(flaky).pull("tiny", "1", out)
    assert not out.exists()
    assert len(flaky.fetched) == 3
    resumed = CountingStore(registry.store)
    Registry(resumed).pull("tiny", "1", out)
    assert len(resumed.fetched) == 3 and not set(resumed.fetched) & set(flaky.fetched)
    assert load_manifest(out).version == "1"


def test_a_promote_race_has_one_winner_and_one_clear_error(registry, make_bundle):
    for version in ("1", "2", "3"):
        registry.push_bundle(make_bundle("tiny", version))
    registry.promote("tiny", "1", by="ann")
    store = registry.store
    both_read = threading.Barrier(2, timeout=60)
    one_at_a_time = threading.Lock()

    class RacingStore(CountingStore):
        reads = 0

        def get_with_etag(self, key):
            result = self.inner.get_with_etag(key)
            if key.endswith("/current") and self.reads == 0:
                self.reads += 1
                both_read.wait()  # both operators have read the same pointer before either writes
            return result

        def put_if(self, key, data, *, etag):
            with one_at_a_time:
                return self.inner.put_if(key, data, etag=etag)

    results = {}

    def operator(version, who):
        try:
            results[who] = Registry(RacingStore(store)).promote("tiny", version, by=who)
        except Exception as err:
            results[who] = err

    threads = [threading.Thread(target=operator, args=(v, w)) for v, w in (("2", "bob"), ("3", "cat"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    errors = [r for r in results.values() if isinstance(r, Exception)]
    wins = [r for r in results.values() if not isinstance(r, Exception)]
    assert len(wins) == 1 and len(errors) == 1
    assert isinstance(errors[0], PromoteConflictError)
    assert f"now {wins[0].version} by {wins[0].promoted_by}" in str(errors[0])
    current = registry.current("tiny")
    assert current.version == wins[0].version and current.previous == "1"


def test_signed_bundles_verify_and_impostors_are_refused(registry, make_bundle, keypair, other_keypair, tmp_path):
    private, public = keypair
    bundle = make_bundle("tiny", "1")
    registry.push_bundle(bundle, private_key=private)
    assert not (bundle / SIGNATURE).exists()  # the local folder is never modified
    out = registry.pull("tiny", "1", tmp_path / "ok", public_key=public)
    verify_bundle(out, public)

    registry.push_bundle(make_bundle("tiny", "2"))  # unsigned
    with pytest.raises(SignatureError, match="unsigned"):
        registry.pull("tiny", "2", tmp_path / "unsigned", public_key=public)
    registry.push_bundle(make_bundle("tiny", "3"), private_key=other_keypair[0])  # someone else's key
    with pytest.raises(SignatureError, match="does not match"):
        registry.pull("tiny", "3", tmp_path / "impostor", public_key=public)
    with pytest.raises(SignatureError):
        registry.promote("tiny", "3", by="ann", public_key=public)
    assert not (tmp_path / "unsigned").exists() and not (tmp_path / "impostor").exists()

    # A manifest rewritten to match tampered files no longer matches the signature.
    manifest = registry.store.get_bytes("models/tiny/1/manifest.json")
    registry.store.put_bytes("models/tiny/1/manifest.json", manifest.replace(b'"labels"', b'"labels" ', 1))
    with pytest.raises(SignatureError):
        registry.pull("tiny", "1", tmp_path / "rewritten", public_key=public)


def test_sign_bundle_writes_a_signature_load_manifest_accepts(make_bundle, keypair, other_keypair):
    bundle = make_bundle("tiny", "1")
    with pytest.raises(SignatureError, match="missing"):
        verify_bundle(bundle, keypair[1])
    sign_bundle(bundle, keypair[0])
    load_manifest(bundle)  # manifest.sig is an allowed unlisted file
    verify_bundle(bundle, keypair[1])
    with pytest.raises(SignatureError):
        verify_bundle(bundle, other_keypair[1])
    assert (keypair[0].stat().st_mode & 0o777) == 0o600


def test_names_outside_the_layout_are_refused(registry, tmp_path):
    for bad in ("..", "../x", "a/b", ".hidden", ""):
        with pytest.raises(RegistryError):
            registry.pull(bad, "1", tmp_path / "x")
    with pytest.raises(UnsafeKeyError):
        registry.store.get_bytes("models/../../x")


def test_datasets_push_and_pull(registry, synth_path, tmp_path):
    manifest = registry.push_dataset(synth_path, version="v1")
    assert (manifest.name, manifest.summary["synth.npz"]["classes"]) == ("synth", load_dataset(synth_path).classes)
    with pytest.raises(VersionExistsError):
        registry.push_dataset(synth_path, version="v1")
    out = registry.pull_dataset("synth", "v1", tmp_path / "ds")
    assert (out / "synth.npz").read_bytes() == synth_path.read_bytes()
    assert [d.version for d in registry.list_datasets()] == ["v1"]
    (tmp_path / "broken.npz").write_bytes(b"not a dataset")
    with pytest.raises(Exception, match="npz"):
        registry.push_dataset(tmp_path / "broken.npz")


@pytest.mark.parametrize("by", ["ann\nINFO promoted tiny 9 (by root)", "ann\x1b[2K", "", "x" * 129, "ann\u202e"])
def test_who_promotes_must_be_one_printable_bounded_line(registry, make_bundle, by):
    registry.push_bundle(make_bundle("tiny", "1"))
    with pytest.raises(RegistryError, match="one printable line"):
        registry.promote("tiny", "1", by=by)
    assert registry.current("tiny") is None
    registry.promote("tiny", "1", by="ann")
    registry.push_bundle(make_bundle("tiny", "2"))
    registry.promote("tiny", "2", by="ann")
    with pytest.raises(RegistryError, match="one printable line"):
        registry.rollback("tiny", by=by)
    assert registry.current("tiny").version == "2"


def test_a_misspelt_model_name_is_named_with_the_models_there(registry, make_bundle, tmp_path):
    registry.push_bundle(make_bundle("tiny", "1"))
    registry.push_bundle(make_bundle("other", "1"))
    for call in (lambda: registry.pull("tny", out=tmp_path / "x"), lambda: registry.rollback("tny", by="ann")):
        with pytest.raises(NotInRegistryError, match=r"no model 'tny' \(its models: other, tiny\)$"):
            call()
    with pytest.raises(NotInRegistryError, match="promote one first"):  # a real model, nothing promoted
        registry.pull("tiny", out=tmp_path / "x")


def test_a_signed_rollback_follows_only_a_history_signed_with_its_key(registry, make_bundle, keypair):
    private, public = keypair
    for version in ("1", "2", "3"):
        registry.push_bundle(make_bundle("tiny", version), private_key=private)
        registry.promote("tiny", version, by="ann", signing_key=private)
    fields = json.loads(registry.store.get_bytes("models/tiny/current"))
    forged = {**fields, "history": ["1"], "previous": "1"}  # write access only: skip 2, back to the oldest
    del forged["signature"]
    registry.store.put_bytes("models/tiny/current", json.dumps(forged).encode())
    with pytest.raises(RegistryError, match="not signed with this key, so its history is not trusted"):
        registry.rollback("tiny", by="ann", signing_key=private)
    registry.store.put_bytes("models/tiny/current", json.dumps(fields).encode())
    back = registry.rollback("tiny", by="ann", signing_key=private)
    assert back.version == "2" and registry.current("tiny", public_key=public).serial == 4
