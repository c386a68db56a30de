"""The two store backends behave alike: keys, conditional writes, listing, transfers, errors."""

from __future__ import annotations

import os

import pytest

from shared.registry.store import (
    ObjectNotFound,
    PreconditionFailed,
    StoreError,
    UnsafeKeyError,
    open_store,
)

BAD_KEYS = ["../escape", "models/../../etc/passwd", "/etc/passwd", "a//b", "a/./b", "a\\b", "", ".hidden", "a/\x00b"]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_keys_outside_the_prefix_are_refused(store, key):
    for call in (lambda: store.get_bytes(key), lambda: store.put_bytes(key, b"x"), lambda: store.stat(key)):
        with pytest.raises(UnsafeKeyError):
            call()


def test_file_store_refuses_symlinks_leading_out(tmp_path):
    (tmp_path / "store").mkdir()
    store = open_store((tmp_path / "store").as_uri())
    store.put_bytes("models/a", b"inside")
    (tmp_path / "secret").write_bytes(b"outside")
    os.symlink(tmp_path / "secret", tmp_path / "store" / "models" / "link")
    with pytest.raises(UnsafeKeyError, match="outside"):
        store.get_bytes("models/link")


def test_bytes_round_trip_listing_and_missing(store, tmp_path):
    store.put_bytes("models/m/1/a.bin", b"alpha")
    store.put_bytes("models/m/2/b.bin", b"beta")
    store.put_bytes("models/m/current", b"{}")
    assert store.get_bytes("models/m/1/a.bin") == b"alpha"
    assert store.list("models") == ["models/m/1/a.bin", "models/m/2/b.bin", "models/m/current"]
    assert store.children("models/m") == ["1", "2"]
    assert store.children("nothing") == [] and store.list("nothing") == []
    assert store.exists("models/m/current") and not store.exists("models/m/3")
    with pytest.raises(ObjectNotFound):
        store.get_bytes("models/m/3")
    info = store.stat("models/m/1/a.bin")
    assert info.size == 5


def test_files_round_trip_with_progress(store, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(300_000))
    moved = []
    store.put_file("d/src.bin", src, moved.append)
    assert sum(moved) == src.stat().st_size
    dest = tmp_path / "dest.bin"
    store.get_file("d/src.bin", dest)
    assert dest.read_bytes() == src.read_bytes()
    with pytest.raises(ObjectNotFound):
        store.get_file("d/none.bin", tmp_path / "none.bin")


def test_conditional_write_detects_a_concurrent_change(store):
    tag = store.put_if("models/m/current", b"one", etag=None)
    with pytest.raises(PreconditionFailed):
        store.put_if("models/m/current", b"again", etag=None)  # must not exist
    data, read_tag = store.get_with_etag("models/m/current")
    assert data == b"one"
    store.put_if("models/m/current", b"two", etag=read_tag)
    with pytest.raises(PreconditionFailed):
        store.put_if("models/m/current", b"three", etag=read_tag)  # stale tag: someone wrote "two"
    assert store.get_bytes("models/m/current") == b"two"
    assert tag != store.get_with_etag("models/m/current")[1]


def test_large_files_go_multipart_and_verify(s3_env, tmp_path):
    from boto3.s3.transfer import TransferConfig

    from tests.shared.registry.conftest import new_bucket

    mb = 1024 * 1024
    store = open_store(
        f"s3://{new_bucket()}/p", transfer_config=TransferConfig(multipart_threshold=5 * mb, multipart_chunksize=5 * mb)
    )
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(11 * mb))
    store.put_file("datasets/big.bin", big)
    head = store.client.head_object(Bucket=store.bucket, Key="p/datasets/big.bin")
    assert head["ETag"].strip('"').endswith("-3")  # three parts
    info = store.stat("datasets/big.bin")
    assert info.size == 11 * mb and info.sha256 is None  # a multipart checksum is not the file's sha256
    small = tmp_path / "small.bin"
    small.write_bytes(b"x" * 100)
    store.put_file("datasets/small.bin", small)
    from shared.model.bundle import sha256_file

    assert store.stat("datasets/small.bin").sha256 == sha256_file(small)


def test_unreachable_s3_is_a_store_error(monkeypatch):
    from tests.moto_server import free_port, s3_environment

    for key, value in s3_environment(f"http://127.0.0.1:{free_port()}").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    store = open_store("s3://nobody/here")
    with pytest.raises(StoreError, match="s3://nobody/here") as exc:
        store.get_bytes("models/m/current")
    assert not isinstance(exc.value, ObjectNotFound)


@pytest.mark.parametrize("url", ["http://x/y", "file://host/path", "s3:///prefix", "relative/path", "s3://b/../x"])
def test_bad_store_urls_are_named(url):
    with pytest.raises(StoreError):
        open_store(url)


def test_file_store_objects_are_written_with_the_operators_umask(tmp_path):
    (tmp_path / "store").mkdir()
    store = open_store((tmp_path / "store").as_uri())
    (tmp_path / "src").write_bytes(b"weights")
    old = os.umask(0o022)
    try:
        store.put_bytes("models/m/1/manifest.json", b"{}")
        store.put_file("models/m/1/model.tflite", tmp_path / "src")
        store.put_if("models/m/current", b"{}", etag=None)
    finally:
        os.umask(old)
    for key in ("models/m/1/manifest.json", "models/m/1/model.tflite", "models/m/current"):
        assert (tmp_path / "store" / key).stat().st_mode & 0o777 == 0o644, key
    old = os.umask(0o077)  # a private umask stays private
    try:
        store.put_bytes("models/m/2/manifest.json", b"{}")
    finally:
        os.umask(old)
    assert (tmp_path / "store" / "models/m/2/manifest.json").stat().st_mode & 0o777 == 0o600


def test_an_s3_prefix_with_nothing_under_it_names_the_prefixes_there(s3_env):
    from tests.shared.registry.conftest import new_bucket

    bucket = new_bucket()
    open_store(f"s3://{bucket}/team/registry").put_bytes("models/m/current", b"{}")
    assert open_store(f"s3://{bucket}/team/registry").describe_empty() is None  # something is there
    assert open_store(f"s3://{bucket}/team/regsitry").describe_empty() == (
        f"nothing under the prefix 'team/regsitry' in bucket {bucket}; prefixes in bucket {bucket} under team/: "
        "team/registry"
    )
    assert open_store(f"s3://{bucket}/tema").describe_empty() == (
        f"nothing under the prefix 'tema' in bucket {bucket}; prefixes in bucket {bucket}: team"
    )
