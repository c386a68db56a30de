"""Registry fixtures: one moto S3 server per session, a fresh store per test (file:// and s3://).

The fake bundles and key pairs are in tests/shared/conftest.py. S3 cases skip in the edge-only venv
because moto is a dev dependency.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from shared.registry.registry import Registry
from shared.registry.store import Store, StoreError, open_store
from tests.moto_server import moto_server, s3_environment

_buckets = itertools.count()


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    """URL of a moto S3 server on 127.0.0.1, shared by the session."""
    with moto_server() as url:
        yield url


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3 at the moto server (dummy credentials, no user AWS config); return the endpoint."""
    for key, value in s3_environment(s3_endpoint).items():
        monkeypatch.setenv(key, value)
    return s3_endpoint


def new_bucket() -> str:
    """Create an empty bucket on the endpoint boto3 is configured for; return its name."""
    import boto3

    name = f"reg-{os.getpid()}-{next(_buckets)}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture(params=["file", "s3"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store: a folder, or a bucket prefix on the moto server."""
    if request.param == "file":
        (tmp_path / "store").mkdir()  # a new registry starts as an empty folder
        return (tmp_path / "store").as_uri()
    request.getfixturevalue("s3_env")
    return f"s3://{new_bucket()}/registry"


@pytest.fixture
def store(store_url: str) -> Store:
    return open_store(store_url)


@pytest.fixture
def registry(store: Store) -> Registry:
    return Registry(store)


class CountingStore(Store):
    """A real store with counted downloads, and an optional failure after ``fail_after`` downloads."""

    def __init__(self, inner: Store, fail_after: int | None = None):
        self.inner = inner
        self.url = inner.url
        self.fetched: list[str] = []
        self.fail_after = fail_after

    def get_file(self, key, path, progress=None):
        if self.fail_after is not None and len(self.fetched) >= self.fail_after:
            raise StoreError("simulated network drop")
        self.inner.get_file(key, path, progress)
        self.fetched.append(key)

    def __getattr__(self, name):
        return getattr(self.inner, name)

    # Store's abstract methods, forwarded.
    def get_bytes(self, key):
        return self.inner.get_bytes(key)

    def get_with_etag(self, key):
        return self.inner.get_with_etag(key)

    def put_bytes(self, key, data):
        return self.inner.put_bytes(key, data)

    def put_if(self, key, data, *, etag):
        return self.inner.put_if(key, data, etag=etag)

    def put_file(self, key, path, progress=None):
        return self.inner.put_file(key, path, progress)

    def stat(self, key):
        return self.inner.stat(key)

    def list(self, prefix=""):
        return self.inner.list(prefix)

    def children(self, prefix=""):
        return self.inner.children(prefix)
