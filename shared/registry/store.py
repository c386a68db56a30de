"""Object stores for the registry: ``s3://bucket/prefix`` (boto3) and ``file:///abs/path``, one interface.

Keys are relative POSIX paths such as ``models/signs/3/model.tflite``. A key that could leave the
store's prefix (``..``, absolute, backslashes, empty or hidden parts) is refused with UnsafeKeyError
before any I/O. Every failure of the backend surfaces as a StoreError subclass, never a boto3 or OS
exception, so callers (the CLI, the sync loop) can tell "the store failed" from "the data is bad".
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from shared.app.atomic import atomic_file
from shared.app.errors import SignstreamError

log = logging.getLogger(__name__)

Progress = Callable[[int], None]
"""Called with the number of bytes moved since the last call."""

CHUNK = 1 << 20
_BAD_CHARS = re.compile(r"[\x00-\x1f\\]")


class StoreError(SignstreamError):
    """The store failed, cannot be reached, or refused a request."""


class ObjectNotFound(StoreError):
    """The key does not exist in the store."""


class NoSuchStore(StoreError):
    """The store itself is not there (no such bucket, no such folder): not a passing outage."""


class UnsafeKeyError(StoreError):
    """A key that could address something outside the store's prefix."""


class PreconditionFailed(StoreError):
    """A conditional write lost: the object changed (or appeared) since it was read."""


@dataclass(frozen=True)
class ObjectInfo:
    """Size of a stored object and, where the backend can vouch for it, its sha256 (hex)."""

    key: str
    size: int
    sha256: str | None


def check_key(key: str, *, allow_empty: bool = False) -> str:
    """Return ``key`` without a trailing slash if it is a safe relative key, else raise UnsafeKeyError."""
    if not isinstance(key, str):
        raise UnsafeKeyError(f"key must be a string, not {type(key).__name__}")
    stripped = key.rstrip("/") if key != "/" else key
    if stripped == "" and allow_empty:
        return ""
    if not stripped or stripped.startswith("/") or _BAD_CHARS.search(stripped):
        raise UnsafeKeyError(f"refusing key {key!r}: not a relative path inside the store")
    for part in stripped.split("/"):
        if part in ("", ".", "..") or part.startswith("."):
            raise UnsafeKeyError(f"refusing key {key!r}: empty, '..' or hidden path parts are not allowed")
    return stripped


class Store(ABC):
    """Bytes in and out of one place, addressed by relative keys."""

    url: str

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """The object's content; ObjectNotFound if absent."""

    @abstractmethod
    def get_with_etag(self, key: str) -> tuple[bytes, str]:
        """The object's content and an opaque tag that changes whenever the object does."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes) -> None:
        """Write (or replace) an object."""

    @abstractmethod
    def put_if(self, key: str, data: bytes, *, etag: str | None) -> str:
        """Write only if the object still has ``etag`` (None: only if it does not exist); return the new tag.

        Raises PreconditionFailed when someone else wrote first.
        """

    @abstractmethod
    def put_file(self, key: str, path: Path, progress: Progress | None = None) -> None:
        """Upload a local file (multipart when large)."""

    @abstractmethod
    def get_file(self, key: str, path: Path, progress: Progress | None = None) -> None:
        """Download an object to ``path`` (the caller picks a temporary name)."""

    @abstractmethod
    def stat(self, key: str) -> ObjectInfo:
        """Size and, if known, sha256 of an object; ObjectNotFound if absent."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Every key under ``prefix`` (recursive), sorted."""

    @abstractmethod
    def children(self, prefix: str = "") -> list[str]:
        """Names of the immediate sub-folders of ``prefix``, sorted."""

    def exists(self, key: str) -> bool:
        """True if the object exists."""
        try:
            self.stat(key)
        except ObjectNotFound:
            return False
        return True

    def describe_empty(self) -> str | None:
        """Why the store lists nothing, when the backend can say more than "empty" (None otherwise)."""
        return None

    def check_writable(self) -> None:  # noqa: B027 (most backends have nothing to check)
        """NoSuchStore if a write would start a new store by mistake (a typo in the URL); else nothing."""


# --- file:// ------------------------------------------------------------------------------------


class FileStore(Store):
    """A folder with the same layout as the bucket; conditional writes use an flock'd lock file."""

    def __init__(self, root: Path):
        if not root.is_absolute():
            raise StoreError(f"file store needs an absolute path, got {root}")
        self.root = root
        self.url = root.as_uri()

    def _path(self, key: str, *, allow_empty: bool = False) -> Path:
        key = check_key(key, allow_empty=allow_empty)
        path = self.root / key if key else self.root
        # A symlink inside the store must not lead outside it either.
        real_root = os.path.realpath(self.root)
        real = os.path.realpath(path)
        if real != real_root and not real.startswith(real_root + os.sep):
            raise UnsafeKeyError(f"refusing key {key!r}: it resolves outside {self.root}")
        return path

    @contextlib.contextmanager
    def _errors(self, key: str) -> Iterator[None]:
        try:
            yield
        except FileNotFoundError as err:
            raise ObjectNotFound(f"{self.url}: no object {key}") from err
        except IsADirectoryError as err:
            raise ObjectNotFound(f"{self.url}: {key} is a folder, not an object") from err
        except OSError as err:
            raise StoreError(f"{self.url}: {key}: {err.strerror or err}") from err

    def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        with self._errors(key):
            return path.read_bytes()

    def get_with_etag(self, key: str) -> tuple[bytes, str]:
        data = self.get_bytes(key)
        return data, hashlib.sha256(data).hexdigest()

    def put_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        self.check_writable()
        with self._errors(key), atomic_file(path) as fh:
            fh.write(data)

    @contextlib.contextmanager
    def _locked(self, path: Path) -> Iterator[None]:
        """Hold an exclusive flock on a hidden lock file beside ``path`` (released even if we are killed)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path.parent / f".{path.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def put_if(self, key: str, data: bytes, *, etag: str | None) -> str:
        path = self._path(key)
        self.check_writable()
        with self._errors(key), self._locked(path):
            try:
                current = hashlib.sha256(path.read_bytes()).hexdigest()
            except FileNotFoundError:
                current = None
            if current != etag:
                raise PreconditionFailed(f"{self.url}: {key} changed since it was read")
            with atomic_file(path) as fh:
                fh.write(data)
        return hashlib.sha256(data).hexdigest()

    def put_file(self, key: str, path: Path, progress: Progress | None = None) -> None:
        dest = self._path(key)
        self.check_writable()
        with self._errors(key), open(path, "rb") as src, atomic_file(dest) as fh:
            _copy(src, fh, progress)

    def get_file(self, key: str, path: Path, progress: Progress | None = None) -> None:
        src_path = self._path(key)
        with self._errors(key):
            src = open(src_path, "rb")  # noqa: SIM115 (closed by the with below)
        # Writing ``path`` is this machine's disk: its OSError (a full disk) is the caller's, not the store's.
        with src, open(path, "wb") as fh:
            _copy(src, fh, progress)

    def stat(self, key: str) -> ObjectInfo:
        path = self._path(key)
        with self._errors(key):
            if not path.is_file():
                raise FileNotFoundError(errno.ENOENT, "no such object", str(path))
            from shared.model.bundle import sha256_file

            return ObjectInfo(key, path.stat().st_size, sha256_file(path))

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()  # no need to hash it

    def _check_root(self, *, writing: bool = False) -> None:
        """Listing a store that is not there is an error (like S3's NoSuchBucket), never an empty store.

        Writing never creates the folder either: a typo in the URL would start a new registry unnoticed.
        """
        if not self.root.is_dir():
            how = f" (to start a new registry there, create the folder first: mkdir -p {self.root})" if writing else ""
            raise NoSuchStore(f"{self.url}: no such folder {self.root}{how}")

    def check_writable(self) -> None:
        self._check_root(writing=True)

    def list(self, prefix: str = "") -> list[str]:
        self._check_root()
        base = self._path(prefix, allow_empty=True)
        if not base.is_dir():
            return []
        keys = []
        for p in base.rglob("*"):
            rel = p.relative_to(self.root).as_posix()
            if p.is_file() and not any(part.startswith(".") for part in rel.split("/")):
                keys.append(rel)
        return sorted(keys)

    def children(self, prefix: str = "") -> list[str]:
        self._check_root()
        base = self._path(prefix, allow_empty=True)
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))


def _copy(src, dst, progress: Progress | None) -> None:
    for chunk in iter(lambda: src.read(CHUNK), b""):
        dst.write(chunk)
        if progress:
            progress(len(chunk))


# --- s3:// ---------------------------------------------------------------------------------------


class S3Store(Store):
    """A bucket and prefix through boto3; credentials and endpoint come from the usual AWS chain."""

    def __init__(self, bucket: str, prefix: str, client, transfer_config=None):
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client
        self.transfer_config = transfer_config
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"

    def _key(self, key: str, *, allow_empty: bool = False) -> str:
        key = check_key(key, allow_empty=allow_empty)
        return "/".join(p for p in (self.prefix, key) if p)

    def _rel(self, full: str) -> str:
        return full[len(self.prefix) + 1 :] if self.prefix else full

    @contextlib.contextmanager
    def _errors(self, key: str) -> Iterator[None]:
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as err:
            error = err.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("NoSuchKey", "404", "NotFound"):
                raise ObjectNotFound(f"{self.url}: no object {key}") from err
            if code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412):
                raise PreconditionFailed(f"{self.url}: {key} changed since it was read") from err
            if code == "NoSuchBucket":
                raise NoSuchStore(f"{self.url}: no such bucket {self.bucket}") from err
            if code in ("AccessDenied", "403") or status == 403:  # a HEAD's 403 carries no code of its own
                raise StoreError(f"{self.url}: {key}: access denied (these credentials' IAM policy does not "
                                 "allow it; the policies: docs/deploy.md)") from err  # fmt: skip
            raise StoreError(f"{self.url}: {key}: {code or status} {error.get('Message', '')}".rstrip()) from err
        except (BotoCoreError, Boto3Error) as err:
            cause = err.__cause__ or err.__context__
            if cause is not None and "PreconditionFailed" in str(cause):
                raise PreconditionFailed(f"{self.url}: {key} changed since it was read") from err
            raise StoreError(f"{self.url}: {key}: {err}") from err

    def get_bytes(self, key: str) -> bytes:
        return self.get_with_etag(key)[0]

    def get_with_etag(self, key: str) -> tuple[bytes, str]:
        full = self._key(key)
        with self._errors(key):
            response = self.client.get_object(Bucket=self.bucket, Key=full)
            return response["Body"].read(), response["ETag"]

    def put_bytes(self, key: str, data: bytes) -> None:
        full = self._key(key)
        with self._errors(key):
            self.client.put_object(Bucket=self.bucket, Key=full, Body=data, ChecksumAlgorithm="SHA256")

    def put_if(self, key: str, data: bytes, *, etag: str | None) -> str:
        # S3 conditional writes (If-None-Match since 2024-08, If-Match since 2024-11): the server, not
        # us, decides atomically whether the pointer is still the one we read.
        full = self._key(key)
        condition = {"IfMatch": etag} if etag is not None else {"IfNoneMatch": "*"}
        with self._errors(key):
            response = self.client.put_object(Bucket=self.bucket, Key=full, Body=data, **condition)
            return response["ETag"]

    def put_file(self, key: str, path: Path, progress: Progress | None = None) -> None:
        full = self._key(key)
        with self._errors(key):
            # S3 checks each part's sha256 as it arrives and refuses a corrupted upload.
            self.client.upload_file(
                str(path),
                self.bucket,
                full,
                ExtraArgs={"ChecksumAlgorithm": "SHA256"},
                Callback=progress,
                Config=self.transfer_config,
            )

    def get_file(self, key: str, path: Path, progress: Progress | None = None) -> None:
        full = self._key(key)
        with self._errors(key):
            self.client.download_file(self.bucket, full, str(path), Callback=progress, Config=self.transfer_config)

    def stat(self, key: str) -> ObjectInfo:
        full = self._key(key)
        with self._errors(key):
            head = self.client.head_object(Bucket=self.bucket, Key=full, ChecksumMode="ENABLED")
        checksum = head.get("ChecksumSHA256")
        sha = None
        # Only a single-part object's checksum is the sha256 of the whole object (multipart: of the parts).
        if checksum and "-" not in head.get("ETag", "") and "-" not in checksum:
            sha = base64.b64decode(checksum).hex()
        return ObjectInfo(key, int(head["ContentLength"]), sha)

    def list(self, prefix: str = "") -> list[str]:
        full = self._key(prefix, allow_empty=True)
        keys = []
        with self._errors(prefix or "/"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=f"{full}/" if full else ""
            )
            for page in pages:
                keys.extend(self._rel(obj["Key"]) for obj in page.get("Contents", []))
        return sorted(keys)

    def children(self, prefix: str = "") -> list[str]:
        full = self._key(prefix, allow_empty=True)
        return self._folders(f"{full}/" if full else "")

    def _folders(self, start: str) -> list[str]:
        """Immediate sub-folders of the bucket-level prefix ``start`` (empty or ending in '/')."""
        names = []
        with self._errors(start or "/"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=start, Delimiter="/"
            )
            for page in pages:
                names.extend(p["Prefix"][len(start) :].rstrip("/") for p in page.get("CommonPrefixes", []))
        return sorted(names)

    def describe_empty(self) -> str | None:
        """A prefix with nothing under it is most often a typo: say so, and which prefixes exist beside it."""
        if not self.prefix:
            return None
        with self._errors("/"):
            found = self.client.list_objects_v2(Bucket=self.bucket, Prefix=f"{self.prefix}/", MaxKeys=1)
        if found.get("KeyCount", 0):
            return None
        parent = self.prefix.rpartition("/")[0]
        start = f"{parent}/" if parent else ""
        beside = [f"{start}{name}" for name in self._folders(start)][:20]
        where = f"bucket {self.bucket}" + (f" under {parent}/" if parent else "")
        others = f"; prefixes in {where}: {', '.join(beside)}" if beside else f"; {where} holds no prefix"
        return f"nothing under the prefix {self.prefix!r} in bucket {self.bucket}{others}"


def open_store(
    url: str,
    *,
    region: str | None = None,
    profile: str | None = None,
    transfer_config=None,
) -> Store:
    """Open ``s3://bucket/prefix`` or ``file:///abs/path``.

    Args:
        url: where the registry lives.
        region, profile: AWS region and named profile (default: the usual AWS chain, e.g. AWS_REGION,
            AWS_PROFILE). The endpoint comes from AWS_ENDPOINT_URL as boto3 reads it.
        transfer_config: a boto3 ``TransferConfig`` (multipart threshold and part size); default boto3's.
    """
    parsed = urlparse(url)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise StoreError(f"{url}: a file store URL looks like file:///absolute/path")
        return FileStore(Path(unquote(parsed.path)))
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise StoreError(f"{url}: an S3 store URL looks like s3://bucket/prefix")
        prefix = parsed.path.strip("/")
        if prefix:
            check_key(prefix)
        try:
            import boto3
            from botocore.config import Config
            from botocore.exceptions import BotoCoreError
        except ImportError as err:
            raise StoreError("s3:// stores need boto3: pip install boto3") from err
        try:
            session = boto3.session.Session(profile_name=profile, region_name=region)
            client = session.client("s3", config=Config(connect_timeout=10, read_timeout=60))
        except BotoCoreError as err:
            raise StoreError(f"{url}: {err}") from err
        if transfer_config is None:
            from boto3.s3.transfer import TransferConfig

            transfer_config = TransferConfig()
        return S3Store(parsed.netloc, prefix, client, transfer_config)
    raise StoreError(f"{url}: the store must be s3://bucket/prefix or file:///absolute/path")
