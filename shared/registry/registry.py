"""The registry's layout and operations: push, pull, list, promote and roll back models and datasets.

Layout inside a store (every file its own object, never an archive)::

    models/<name>/<version>/manifest.json      written last: a version exists once this does
    models/<name>/<version>/manifest.sig       ed25519 signature of manifest.json (optional)
    models/<name>/<version>/push.json          claim: who pushed, the digest of the file list
    models/<name>/<version>/<path>             every file the manifest lists
    models/<name>/current                      Pointer JSON, replaced only by conditional writes; signed
                                               (its ``signature`` field) when promoted with a signing key
    datasets/<name>/<version>/manifest.json    DatasetManifest (files with sha256 and size)
    datasets/<name>/<version>/<file>
    datasets/<name>/<version>/reviews/<sha256>.jsonl   a review file of that version (shared/datasets/review.py)
    datasets/<name>/<version>/reviews/<sha256>.json    its record (who pushed, when, counts): written last

Versions are immutable: a push of an existing version is refused, and the claim object (created
with a conditional write) stops two pushes of different content to one version from mixing files.
Reviews are decisions about a dataset version, made after it was pushed: each is its own object,
named by its sha256 and created once with a conditional write, so adding one never changes the
dataset nor another review.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from shared.app.errors import BundleError, DatasetError, SignstreamError
from shared.model.bundle import (
    MANIFEST,
    NAME_PATTERN,
    SAVED_MODEL_DIR,
    SIGNATURE,
    FileEntry,
    Manifest,
    load_manifest,
    now_iso,
    sha256_file,
)
from shared.model.bundle import check_name as bundle_check_name
from shared.model.signing import SignatureError, load_public_key, private_key, sign_bytes, verify_bundle, verify_bytes
from shared.registry.store import ObjectNotFound, PreconditionFailed, Store

log = logging.getLogger(__name__)

MODELS = "models"
DATASETS = "datasets"
CURRENT = "current"
CLAIM = "push.json"
REVIEWS = "reviews"
HISTORY_LIMIT = 20
WHO_LIMIT = 128


class RegistryError(SignstreamError):
    """A registry operation cannot be done as asked."""


class VersionExistsError(RegistryError):
    """The version was already pushed (versions are immutable)."""


class NotInRegistryError(RegistryError):
    """No such model, dataset, version or current pointer."""


class PromoteConflictError(RegistryError):
    """Someone else changed the current pointer between our read and our write."""


class LocalDiskError(SignstreamError):
    """This machine cannot write the pulled files (disk full, read-only, no permission): not the store's fault."""


def check_who(value: str) -> str:
    """Return ``value`` if it can name who promoted: one printable line of at most WHO_LIMIT characters."""
    if not value or len(value) > WHO_LIMIT or not value.isprintable():
        raise RegistryError(f"invalid --by {value[:40]!r}: give one printable line of 1 to {WHO_LIMIT} characters")
    return value


def printable_line(value: str, limit: int = WHO_LIMIT) -> str:
    """``value`` as one printable line of at most ``limit`` characters (others replaced by '?')."""
    return "".join(c if c.isprintable() else "?" for c in value[:limit])


class Pointer(BaseModel):
    """``models/<name>/current``: which version serves, since when, who said so, and what came before."""

    model_config = ConfigDict(extra="ignore")  # older readers keep working if fields are added

    version: str = Field(pattern=NAME_PATTERN, description="The version that serves.")
    promoted_at: str = Field(description="ISO 8601 UTC time of the promotion or rollback.")
    promoted_by: str = Field(description="Who promoted (or rolled back).")
    previous: str | None = Field(None, description="The version a rollback returns to (history[0]).")
    history: list[str] = Field(default_factory=list, description="Earlier versions, newest first.")
    action: Literal["promote", "rollback"] = "promote"
    replaced: str | None = Field(None, description="The version this pointer replaced.")
    serial: int = Field(0, ge=0, description="One more than the pointer it replaced (followers refuse a lower one).")
    signature: str | None = Field(None, description="Base64 ed25519 signature of the pointer (see signed_bytes).")
    _fields: dict[str, Any] = PrivateAttr(default_factory=dict)  # as read from the store: what the signature covers

    @field_validator("promoted_by")
    @classmethod
    def _one_line(cls, value: str) -> str:
        # Written by whoever could write the store: never let it add lines to a log or a terminal.
        return printable_line(value)

    def names(self) -> list[str]:
        """Every version the pointer names (version, previous, replaced, history)."""
        return [v for v in (self.version, self.previous, self.replaced, *self.history) if v is not None]


def signed_bytes(name: str, fields: dict[str, Any]) -> bytes:
    """The bytes a pointer's signature covers: its fields (all but ``signature``) and the model's name.

    Canonical JSON of the pointer as written, unknown fields included, so a field added later is
    signed too; the name stops a pointer signed for one model from being copied to another.
    """
    body = {k: v for k, v in fields.items() if k != "signature"}
    return json.dumps({"model": name, "pointer": body}, sort_keys=True, separators=(",", ":")).encode()


class DatasetManifest(BaseModel):
    """``datasets/<name>/<version>/manifest.json``."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["dataset"] = "dataset"
    name: str = Field(pattern=NAME_PATTERN, max_length=128)
    version: str = Field(pattern=NAME_PATTERN, max_length=128)
    created: str
    files: dict[str, FileEntry]
    summary: dict[str, Any] = Field(default_factory=dict)


class ReviewRecord(BaseModel):
    """``datasets/<name>/<version>/reviews/<sha256>.json``: one pushed review file, and what it decides."""

    model_config = ConfigDict(extra="ignore")  # older readers keep working if fields are added

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the review file: its object's name.")
    size: int = Field(ge=0, description="Bytes of the review file.")
    file: str = Field(description="The file's name when it was pushed.")
    pushed_by: str = Field(description="Who pushed it.")
    pushed_at: str = Field(description="ISO 8601 UTC time of the push.")
    decisions: int = Field(ge=0, description="Decisions in the file (the last one per block).")
    dropped: list[str] = Field(default_factory=list, description="Blocks dropped, 'session/class'.")
    relabelled: list[str] = Field(default_factory=list, description="Blocks relabelled, 'session/class -> new'.")

    @field_validator("file", "pushed_by")
    @classmethod
    def _one_line(cls, value: str) -> str:
        return printable_line(value)


@dataclass
class VersionInfo:
    """One pushed version as ``list_models`` reports it."""

    version: str
    created: str
    metrics: dict[str, Any]
    signed: bool
    size: int
    enrolled: list[str] = field(default_factory=list)  # signs added from a few examples (no training)


@dataclass
class ModelRow:
    """A model name, its complete versions (oldest first) and its current pointer."""

    name: str
    versions: list[VersionInfo] = field(default_factory=list)
    current: Pointer | None = None


class ProgressBar(Protocol):
    """What the registry needs of a progress bar (tqdm fits)."""

    def update(self, n: int) -> Any: ...

    def close(self) -> Any: ...


ProgressFactory = Callable[[str, int], ProgressBar]
"""Called with a description and a total byte count; returns a bar."""


class _NoProgress:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _no_progress(description: str, total: int) -> ProgressBar:
    return _NoProgress()


def check_name(value: str, what: str) -> str:
    """Return ``value`` if it is a valid model/dataset name or version, else raise RegistryError."""
    try:
        return bundle_check_name(value, what)
    except BundleError as err:
        raise RegistryError(str(err)) from err


def _files_digest(files: dict[str, FileEntry]) -> str:
    canonical = json.dumps({k: v.model_dump() for k, v in sorted(files.items())}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _matches(path: Path, entry: FileEntry) -> bool:
    """``path`` is a file with the size and sha256 ``entry`` lists."""
    return path.is_file() and path.stat().st_size == entry.size and sha256_file(path) == entry.sha256


def _safe_relative(rel: str) -> bool:
    p = Path(rel)
    return bool(rel) and not p.is_absolute() and ".." not in p.parts and rel == p.as_posix()


@contextlib.contextmanager
def _folder_lock(out: Path) -> Iterator[None]:
    """Serialise pulls into ``out`` across threads and processes (flock, released if the holder dies)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out.parent / f".{out.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _pointer_time() -> str:
    """UTC time with microseconds: two pointer writes in one second must still differ (sync keys on it)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _timestamp_version() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


class Registry:
    """Models and datasets in one store. Collaborators: the store and a progress-bar factory."""

    def __init__(self, store: Store, *, progress: ProgressFactory | None = None):
        self.store = store
        self.progress = progress or _no_progress

    # --- push ------------------------------------------------------------------------------------

    def push_bundle(
        self,
        path: str | Path,
        name: str | None = None,
        version: str | None = None,
        private_key: str | Path | None = None,
    ) -> Manifest:
        """Upload a verified bundle as ``models/<name>/<version>/``; sign it when a private key is given.

        The bundle names itself (manifest name and version); ``name``/``version`` must agree with it
        because the manifest is what gets signed. The local folder is never modified.
        """
        path = Path(path)
        manifest = load_manifest(path)
        for given, own, what in ((name, manifest.name, "name"), (version, manifest.version, "version")):
            if given is not None and given != own:
                raise RegistryError(f"{path}: the manifest's {what} is {own!r}, not {given!r} (retrain or omit it)")
        manifest_bytes = (path / MANIFEST).read_bytes()
        if private_key is not None:
            signature = sign_bytes(manifest_bytes, private_key)
        elif (path / SIGNATURE).is_file():
            signature = (path / SIGNATURE).read_bytes()
        else:
            signature = None
        prefix = f"{MODELS}/{check_name(manifest.name, 'name')}/{check_name(manifest.version, 'version')}"
        self._upload(prefix, path, manifest.files, manifest_bytes, signature)
        log.info("pushed %s to %s/%s (%s)", path, self.store.url, prefix, "signed" if signature else "unsigned")
        return manifest

    def push_dataset(self, path: str | Path, name: str | None = None, version: str | None = None) -> DatasetManifest:
        """Upload a landmark dataset file (an .npz that ``load_dataset`` reads) as ``datasets/<name>/<version>/``.

        Nothing else is accepted: the registry cannot delete, so a folder or a file pushed by mistake
        would stay for good. The name defaults to the file's stem, the version to a UTC timestamp.
        """
        path = Path(path)
        if not path.exists():
            raise RegistryError(f"{path}: no such file or folder")
        if not path.is_file() or path.suffix != ".npz":
            raise RegistryError(f"{path}: {describe_unpushable(path)}; {PUSH_ACCEPTS}")
        name = check_name(name or re.sub(r"[^A-Za-z0-9._-]", "_", path.stem).lstrip("."), "dataset name")
        version = check_name(version or _timestamp_version(), "version")
        root = path.parent
        try:
            summary = {path.name: _dataset_summary(path)}
        except DatasetError as err:
            raise DatasetError(f"{err}; {PUSH_ACCEPTS}") from err
        files = {path.name: FileEntry(sha256=sha256_file(path), size=path.stat().st_size)}
        manifest = DatasetManifest(name=name, version=version, created=now_iso(), files=files, summary=summary)
        prefix = f"{DATASETS}/{name}/{version}"
        self._upload(prefix, root, files, manifest.model_dump_json(indent=2).encode(), None)
        log.info("pushed dataset %s to %s/%s", path, self.store.url, prefix)
        return manifest

    def push_review(
        self, path: str | Path, name: str, version: str, by: str | None = None
    ) -> tuple[ReviewRecord, bool]:
        """Store a review file with dataset ``name`` ``version`` as ``reviews/<sha256>.jsonl``.

        The file is read with ``load_review`` (a malformed one is refused) and every decision must be
        about this dataset: a session of one of its files (``<file stem>:...``, as ``train`` names
        them) and one of its classes. The same file pushed again is not stored twice.

        Returns:
            the review's record and whether it was new (False: it was there already).
        """
        from shared.datasets.review import load_review

        self.store.check_writable()
        manifest = self._dataset_manifest(name, version)  # NotInRegistryError: no such dataset version
        path = Path(path)
        review = load_review(path)
        raw = path.read_bytes()
        if hashlib.sha256(raw).hexdigest() != review.sha256:
            raise RegistryError(f"{path}: the file changed while it was read; push it again")
        _check_review_fits(review, manifest)
        prefix = f"{DATASETS}/{name}/{version}/{REVIEWS}/{review.sha256}"
        try:
            return ReviewRecord.model_validate_json(self.store.get_bytes(f"{prefix}.json")), False
        except ObjectNotFound:
            pass
        except ValidationError:
            log.warning("%s/%s.json: malformed review record; writing it again", self.store.url, prefix)
        with contextlib.suppress(PreconditionFailed):  # someone pushed the same bytes meanwhile: same object
            self.store.put_if(f"{prefix}.jsonl", raw, etag=None)
        info = self.store.stat(f"{prefix}.jsonl")
        if info.size != len(raw) or (info.sha256 is not None and info.sha256 != review.sha256):
            raise RegistryError(f"{self.store.url}/{prefix}.jsonl: the stored object does not match {path}")
        described = review.describe()
        record = ReviewRecord(
            sha256=review.sha256, size=len(raw), file=path.name, pushed_by=by or whoami(), pushed_at=now_iso(),
            decisions=described["decisions"], dropped=described["dropped"], relabelled=described["relabelled"],
        )  # fmt: skip
        # The record is written last, as a version's manifest: a review is listed and pulled once it exists.
        self.store.put_bytes(f"{prefix}.json", record.model_dump_json(indent=2).encode())
        log.info("pushed review %s of dataset %s %s to %s", review.sha256[:12], name, version, self.store.url)
        return record, True

    def list_reviews(self, name: str, version: str) -> list[ReviewRecord]:
        """The complete reviews of a dataset version, oldest push first (a malformed record is skipped, logged)."""
        prefix = f"{DATASETS}/{check_name(name, 'name')}/{check_name(version, 'version')}/{REVIEWS}"
        out = []
        for key in self.store.list(prefix):
            if not key.endswith(".json"):
                continue
            try:
                record = ReviewRecord.model_validate_json(self.store.get_bytes(key))
            except (ValidationError, ObjectNotFound):
                log.warning("%s/%s: malformed review record, skipped", self.store.url, key)
                continue
            if key.rsplit("/", 1)[-1] != f"{record.sha256}.json":
                log.warning("%s/%s: the record names another review, skipped", self.store.url, key)
                continue
            out.append(record)
        return sorted(out, key=lambda r: (r.pushed_at, r.sha256))

    def _upload(
        self, prefix: str, root: Path, files: dict[str, FileEntry], manifest_bytes: bytes, signature: bytes | None
    ) -> None:
        if self.store.exists(f"{prefix}/{MANIFEST}"):
            raise VersionExistsError(f"{self.store.url}/{prefix} already exists; versions are immutable")
        self._claim(prefix, files)
        bar = self.progress(f"push {prefix}", sum(e.size for e in files.values()))
        try:
            for rel in files:
                self.store.put_file(f"{prefix}/{rel}", root / rel, bar.update)
        finally:
            bar.close()
        for rel, entry in files.items():  # checksums verified after upload
            info = self.store.stat(f"{prefix}/{rel}")
            if info.size != entry.size or (info.sha256 is not None and info.sha256 != entry.sha256):
                raise RegistryError(f"{self.store.url}/{prefix}/{rel}: the uploaded object does not match {root / rel}")
        if signature is not None:
            self.store.put_bytes(f"{prefix}/{SIGNATURE}", signature)
        try:
            self.store.put_if(f"{prefix}/{MANIFEST}", manifest_bytes, etag=None)
        except PreconditionFailed as err:
            raise VersionExistsError(f"{self.store.url}/{prefix} was pushed by someone else meanwhile") from err

    def _claim(self, prefix: str, files: dict[str, FileEntry]) -> None:
        """Create ``push.json`` once; a re-run of the same content resumes, other content is refused."""
        digest = _files_digest(files)
        claim = json.dumps({"digest": digest, "claimed_at": now_iso(), "by": whoami()}).encode()
        try:
            self.store.put_if(f"{prefix}/{CLAIM}", claim, etag=None)
            return
        except PreconditionFailed:
            pass
        try:
            theirs = json.loads(self.store.get_bytes(f"{prefix}/{CLAIM}"))
        except (ValueError, ObjectNotFound):
            theirs = {}
        if theirs.get("digest") != digest:
            raise VersionExistsError(
                f"{self.store.url}/{prefix} is being pushed with other content (claimed by "
                f"{theirs.get('by', '?')} at {theirs.get('claimed_at', '?')}); push as another version"
            )
        log.info("resuming an earlier push of the same content to %s", prefix)

    # --- read ------------------------------------------------------------------------------------

    def model_names(self) -> list[str]:
        """Names of the models pushed to this store, sorted (NoSuchStore if the store is not there)."""
        return self.store.children(MODELS)

    def current(self, name: str, public_key: str | Path | None = None) -> Pointer | None:
        """The current pointer of a model, or None if none was promoted.

        With ``public_key`` the pointer must carry a valid signature made with the matching key
        (SignatureError otherwise), so write access to the store alone cannot choose the version.
        """
        return self._read_pointer(name, public_key)[0]

    def _read_pointer(self, name: str, public_key: str | Path | None = None) -> tuple[Pointer | None, str | None]:
        key = f"{MODELS}/{check_name(name, 'name')}/{CURRENT}"
        try:
            data, etag = self.store.get_with_etag(key)
        except ObjectNotFound:
            return None, None
        try:
            fields = json.loads(data)
            pointer = Pointer.model_validate(fields)
            pointer._fields = fields
        except (ValueError, ValidationError) as err:
            raise RegistryError(f"{self.store.url}/{key}: malformed pointer") from err
        for version in pointer.names():  # every name is a path part somewhere: never trust the store's
            try:
                check_name(version, "version")
            except RegistryError as err:
                raise RegistryError(f"{self.store.url}/{key}: malformed pointer ({err})") from err
        if public_key is not None:
            where = f"{self.store.url}/{key}"
            if pointer.signature is None:
                raise SignatureError(f"{where}: the pointer is unsigned and a public key is configured "
                                     "(promote again with the signing key)")  # fmt: skip
            if not _signed_by(name, pointer, load_public_key(public_key)):
                raise SignatureError(f"{where}: the pointer's signature does not match this public key")
        return pointer, etag

    def manifest(self, name: str, version: str) -> Manifest:
        """A pushed version's manifest (parsed, files not checked)."""
        return self._manifest(name, version)[0]

    def _manifest(self, name: str, version: str) -> tuple[Manifest, bytes]:
        key = f"{MODELS}/{check_name(name, 'name')}/{check_name(version, 'version')}/{MANIFEST}"
        try:
            data = self.store.get_bytes(key)
        except ObjectNotFound as err:
            self._check_model_exists(name)  # a typo of the name: say which models there are
            raise NotInRegistryError(f"{self.store.url}: no model {name} version {version}") from err
        try:
            manifest = Manifest.model_validate_json(data)
        except ValidationError as err:
            raise BundleError(f"{self.store.url}/{key}: malformed manifest") from err
        if (manifest.name, manifest.version) != (name, version):
            raise BundleError(f"{self.store.url}/{key}: the manifest says {manifest.name} {manifest.version}")
        return manifest, data

    def list_models(self) -> list[ModelRow]:
        """Every model with its complete versions (oldest first), metrics and current pointer."""
        rows = []
        for name in self.store.children(MODELS):
            row = ModelRow(name=name, current=self.current(name))
            for version in self.store.children(f"{MODELS}/{name}"):
                try:
                    manifest = self.manifest(name, version)
                except NotInRegistryError:
                    continue  # an unfinished push: not a version yet
                signed = self.store.exists(f"{MODELS}/{name}/{version}/{SIGNATURE}")
                size = sum(e.size for e in manifest.files.values())
                row.versions.append(
                    VersionInfo(version, manifest.created, manifest.metrics, signed, size, list(manifest.enrolled))
                )
            row.versions.sort(key=lambda v: (v.created, v.version))
            rows.append(row)
        return rows

    def list_datasets(self) -> list[DatasetManifest]:
        """Every complete dataset version."""
        out = []
        for name in self.store.children(DATASETS):
            for version in self.store.children(f"{DATASETS}/{name}"):
                try:
                    out.append(self._dataset_manifest(name, version))
                except NotInRegistryError:
                    continue
        return out

    def _dataset_manifest(self, name: str, version: str) -> DatasetManifest:
        key = f"{DATASETS}/{check_name(name, 'name')}/{check_name(version, 'version')}/{MANIFEST}"
        try:
            return DatasetManifest.model_validate_json(self.store.get_bytes(key))
        except ObjectNotFound as err:
            self._check_dataset_exists(name)
            raise NotInRegistryError(f"{self.store.url}: no dataset {name} version {version}") from err
        except ValidationError as err:
            raise DatasetError(f"{self.store.url}/{key}: malformed dataset manifest") from err

    # --- pull ------------------------------------------------------------------------------------

    def pull(
        self,
        name: str,
        version: str | None = None,
        out: str | Path | None = None,
        public_key: str | Path | None = None,
    ) -> Path:
        """Download a model version (default: current) to the folder ``out`` and return it.

        Files go to a hidden ``.<out>.partial`` folder beside ``out``; a file already there with the
        right sha256 is not fetched again (an interrupted pull resumes). Only after every sha256 (and
        the signature, when ``public_key`` is given) checks out is the folder renamed to ``out``. If
        ``out`` already holds this verified version it is returned as is; anything else there is an error.
        """
        if out is None:
            raise RegistryError("pull needs an output folder")
        out = Path(out)
        version = version or self._current_version(name, public_key)
        with _folder_lock(out), _local_disk(out.parent):
            if out.exists():
                return self._reuse(out, name, version, public_key)
            manifest, manifest_bytes = self._manifest(name, version)
            prefix = f"{MODELS}/{name}/{version}"
            signature = self._optional(f"{prefix}/{SIGNATURE}")
            if public_key is not None:  # before downloading anything
                verify_bytes(manifest_bytes, signature, public_key, f"{self.store.url}/{prefix}")
            partial = out.parent / f".{out.name}.partial"
            try:
                self._fetch(prefix, manifest.files, partial, f"pull {name} {version}")
                with open(partial / MANIFEST, "wb") as fh:
                    fh.write(manifest_bytes)
                if signature is not None:
                    (partial / SIGNATURE).write_bytes(signature)
                load_manifest(partial)
                if public_key is not None:
                    verify_bundle(partial, public_key)
            except BundleError:
                shutil.rmtree(partial, ignore_errors=True)  # nothing tampered stays behind
                raise
            partial.chmod(0o755)
            os.rename(partial, out)
        log.info("pulled %s %s from %s into %s", name, version, self.store.url, out)
        return out

    def pull_dataset(self, name: str, version: str, out: str | Path) -> Path:
        """Download a dataset version into the folder ``out`` (same temp-and-rename rules as ``pull``).

        Its reviews come too, as ``out/reviews/<sha256>.jsonl``, each checked against its sha256. Into a
        folder that exists (the same version pulled before, say, and reviewed since) only the files it
        lacks are fetched; a file there that differs from the registry's is never overwritten (refused),
        and files the version does not list are left alone.
        """
        out = Path(out)
        with _folder_lock(out), _local_disk(out.parent):
            manifest = self._dataset_manifest(name, version)
            files = dict(manifest.files)
            for review in self.list_reviews(name, version):
                files[f"{REVIEWS}/{review.sha256}.jsonl"] = FileEntry(sha256=review.sha256, size=review.size)
            if out.exists():
                files = self._missing_in(out, files, f"dataset {name} {version}")
            partial = out.parent / f".{out.name}.partial"
            try:
                self._fetch(f"{DATASETS}/{name}/{version}", files, partial, f"pull {name} {version}")
            except BundleError:
                shutil.rmtree(partial, ignore_errors=True)
                raise
            partial.chmod(0o755)
            if not out.exists():
                os.rename(partial, out)
                return out
            for rel in sorted(files):  # each missing file moved in; nothing there is replaced
                dest = out / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.link(partial / rel, dest)  # FileExistsError rather than overwrite
            shutil.rmtree(partial)
        return out

    @staticmethod
    def _missing_in(folder: Path, files: dict[str, FileEntry], what: str) -> dict[str, FileEntry]:
        """The listed files ``folder`` lacks; RegistryError if one it has differs (never overwritten)."""
        if not folder.is_dir():
            raise RegistryError(f"{folder} exists and is not a folder; not overwriting it")
        missing = {}
        for rel, entry in files.items():
            if not _safe_relative(rel):
                raise BundleError(f"{what}: manifest lists an unsafe path {rel!r}")
            p = folder / rel
            if not p.exists():
                missing[rel] = entry
            elif not _matches(p, entry):
                raise RegistryError(
                    f"{p} differs from {what} in the registry; not overwriting it (pull into another folder)"
                )
        return missing

    def _current_version(self, name: str, public_key: str | Path | None = None) -> str:
        pointer = self.current(name, public_key)
        if pointer is None:
            self._check_model_exists(name)
            raise NotInRegistryError(f"{self.store.url}: model {name} has no current version (promote one first)")
        return pointer.version

    def _check_model_exists(self, name: str) -> None:
        """NotInRegistryError naming the models there if ``name`` was never pushed (a typo, usually)."""
        names = self.model_names()
        if name in names:
            return
        if name in self.store.children(DATASETS):
            raise NotInRegistryError(
                f"{self.store.url}: no model {name!r}, but a dataset of that name exists (add --dataset to pull it)"
            )
        if names:
            raise NotInRegistryError(f"{self.store.url}: no model {name!r} (its models: {', '.join(names)})")
        raise NotInRegistryError(
            f"{self.store.url}: no model {name!r}; {self.store.describe_empty() or 'the store holds no model yet'}"
        )

    def _check_dataset_exists(self, name: str) -> None:
        """NotInRegistryError naming the datasets there if ``name`` was never pushed as a dataset."""
        names = self.store.children(DATASETS)
        if name in names:
            return
        if name in self.model_names():
            raise NotInRegistryError(f"{self.store.url}: no dataset {name!r}, but a model of that name exists")
        if names:
            raise NotInRegistryError(f"{self.store.url}: no dataset {name!r} (its datasets: {', '.join(names)})")
        raise NotInRegistryError(f"{self.store.url}: no dataset {name!r}; the store holds no dataset yet")

    def _optional(self, key: str) -> bytes | None:
        try:
            return self.store.get_bytes(key)
        except ObjectNotFound:
            return None

    def _reuse(self, out: Path, name: str, version: str, public_key: str | Path | None) -> Path:
        try:
            manifest = load_manifest(out)
            if public_key is not None:
                verify_bundle(out, public_key)
        except BundleError as err:
            raise RegistryError(
                f"{out} already exists and is not a verified bundle ({err}); not overwriting it"
            ) from err
        if (manifest.name, manifest.version) != (name, version):
            raise RegistryError(
                f"{out} already exists and holds {manifest.name} {manifest.version}; not overwriting it"
            )
        log.info("%s already holds %s %s, verified", out, name, version)
        return out

    def _fetch(self, prefix: str, files: dict[str, FileEntry], partial: Path, description: str) -> int:
        """Download every listed file into ``partial`` unless already there and correct; return the count fetched."""
        for rel in files:
            if not _safe_relative(rel):
                raise BundleError(f"{self.store.url}/{prefix}: manifest lists an unsafe path {rel!r}")
        partial.mkdir(parents=True, exist_ok=True)
        for p in sorted(partial.rglob("*"), reverse=True):  # leftovers of an interrupted download
            rel = p.relative_to(partial).as_posix()
            if p.is_file() and rel not in files:
                p.unlink()
        todo = []
        for rel, entry in files.items():
            p = partial / rel
            if not _matches(p, entry):
                todo.append(rel)
        log.info("%s: %d of %d files to fetch", description, len(todo), len(files))
        bar = self.progress(description, sum(files[rel].size for rel in todo))
        try:
            for rel in todo:
                dest = partial / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                tmp = dest.with_name(f".{dest.name}.download")
                self.store.get_file(f"{prefix}/{rel}", tmp, bar.update)
                if tmp.stat().st_size != files[rel].size or sha256_file(tmp) != files[rel].sha256:
                    tmp.unlink()
                    raise BundleError(
                        f"{self.store.url}/{prefix}/{rel} does not match its sha256 in the manifest "
                        "(tampered or corrupt)"
                    )
                os.replace(tmp, dest)
        finally:
            bar.close()
        return len(todo)

    # --- promote and roll back -------------------------------------------------------------------

    def verify_version(self, name: str, version: str, public_key: str | Path | None = None) -> Manifest:
        """Download a version to a temporary folder and verify every file (and the signature if a key is given)."""
        with tempfile.TemporaryDirectory(prefix="signstream-verify-") as tmp:
            folder = self.pull(name, version, Path(tmp) / "bundle", public_key)
            return load_manifest(folder)

    def promote(
        self,
        name: str,
        version: str,
        by: str,
        public_key: str | Path | None = None,
        signing_key: str | Path | None = None,
    ) -> Pointer:
        """Make ``version`` current after verifying it completely; refuse if the pointer changed meanwhile.

        With ``signing_key`` the pointer is signed; promoting the current version again is allowed
        only to sign a pointer that is not signed yet (a store moving to signed pointers).
        """
        check_who(by)
        self.store.check_writable()
        self.verify_version(name, version, public_key)
        old, etag = self._read_pointer_for_update(name)
        resign = signing_key is not None and not _signed_by(name, old, private_key(signing_key).public_key())
        if old is not None and old.version == version and not resign:
            raise RegistryError(
                f"{name} {version} is already current (promoted by {old.promoted_by} at {old.promoted_at})"
            )
        if old is not None and old.version == version:  # signing the pointer with our key: history unchanged
            history = old.history
        else:
            history = ([old.version, *old.history] if old else [])[:HISTORY_LIMIT]
        pointer = Pointer(
            version=version,
            promoted_at=_pointer_time(),
            promoted_by=by,
            previous=history[0] if history else None,
            history=history,
            replaced=old.version if old else None,
            serial=old.serial + 1 if old else 1,
        )
        self._write_pointer(name, pointer, etag, signing_key)
        log.info("promoted %s %s (by %s, was %s)", name, version, by, pointer.replaced)
        return pointer

    def rollback(self, name: str, by: str, signing_key: str | Path | None = None) -> Pointer:
        """Point ``current`` back at the previous version; a second rollback goes one further back.

        With ``signing_key`` the history it follows must be in a pointer signed with that key: the
        operator never signs a target that someone with write access to the store chose.
        """
        check_who(by)
        self.store.check_writable()
        old, etag = self._read_pointer(name)
        if old is None:
            self._check_model_exists(name)
            raise NotInRegistryError(f"{self.store.url}: model {name} has no current version to roll back")
        if signing_key is not None and not _signed_by(name, old, private_key(signing_key).public_key()):
            raise RegistryError(
                f"{name}: the current pointer is not signed with this key, so its history is not trusted for a "
                f"rollback; promote the version to return to instead (signstream promote {name} VERSION)"
            )
        if not old.history:
            raise RegistryError(f"{name} {old.version} has no previous version to roll back to")
        target = old.history[0]
        self.manifest(name, target)  # verified when it was promoted; versions are immutable
        pointer = Pointer(
            version=target,
            promoted_at=_pointer_time(),
            promoted_by=by,
            previous=old.history[1] if len(old.history) > 1 else None,
            history=old.history[1:],
            action="rollback",
            replaced=old.version,
            serial=old.serial + 1,
        )
        self._write_pointer(name, pointer, etag, signing_key)
        log.info("rolled %s back from %s to %s (by %s)", name, old.version, target, by)
        return pointer

    def _read_pointer_for_update(self, name: str) -> tuple[Pointer | None, str | None]:
        """The pointer to replace; a malformed one is replaced too (its history is lost), never a dead end."""
        try:
            return self._read_pointer(name)
        except RegistryError as err:
            log.warning("%s; replacing it", err)
            _, etag = self.store.get_with_etag(f"{MODELS}/{name}/{CURRENT}")
            return None, etag

    def _write_pointer(self, name: str, pointer: Pointer, etag: str | None, signing_key: str | Path | None) -> None:
        key = f"{MODELS}/{name}/{CURRENT}"
        if signing_key is not None:
            fields = pointer.model_dump(exclude={"signature"})
            pointer.signature = base64.b64encode(sign_bytes(signed_bytes(name, fields), signing_key)).decode()
        try:
            self.store.put_if(key, pointer.model_dump_json(indent=2).encode(), etag=etag)
        except PreconditionFailed as err:
            now = self.current(name)
            detail = f"now {now.version} by {now.promoted_by} at {now.promoted_at}" if now else "now removed"
            raise PromoteConflictError(
                f"{name}: someone else changed the current pointer meanwhile ({detail}); check and run again"
            ) from err


def _signed_by(name: str, pointer: Pointer | None, public_key) -> bool:
    """True if ``pointer`` carries a valid signature by ``public_key`` (an Ed25519PublicKey)."""
    from cryptography.exceptions import InvalidSignature

    if pointer is None or pointer.signature is None:
        return False
    try:
        public_key.verify(base64.b64decode(pointer.signature, validate=True), signed_bytes(name, pointer._fields))
    except (ValueError, InvalidSignature):
        return False
    return True


@contextlib.contextmanager
def _local_disk(folder: Path) -> Iterator[None]:
    """Report a local write failure as this machine's problem (LocalDiskError), not the store's."""
    try:
        yield
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise LocalDiskError(f"no space left on {folder} (the local disk is full)") from err
        if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise LocalDiskError(f"cannot write {folder}: {err.strerror}") from err
        raise


PUSH_ACCEPTS = "push accepts a model bundle folder (with manifest.json, as train writes it) or a dataset .npz file"


def describe_unpushable(path: Path) -> str:
    """Say what ``path`` is, for a refusal: neither a bundle folder nor a dataset file."""
    if path.is_dir():
        if (path / "saved_model.pb").is_file() or (path / SAVED_MODEL_DIR / "saved_model.pb").is_file():
            return "a folder holding a SavedModel but no manifest.json: not a signstream model bundle"
        names = sorted(p.name for p in path.iterdir())
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        return f"a folder without manifest.json ({len(names)} entries: {shown or 'empty'}): not a model bundle"
    return f"a {path.suffix or 'extension-less'} file, not a dataset .npz"


def _dataset_summary(path: Path) -> dict[str, Any]:
    from shared.datasets.dataset import load_dataset

    ds = load_dataset(path)  # raises DatasetError on a malformed file: never push a broken dataset
    return {"sequences": len(ds), "classes": list(ds.classes), "frames": int(ds.X.shape[1])}


def _check_review_fits(review, manifest: DatasetManifest) -> None:
    """DatasetError unless every decision names a session of one of the dataset's files and one of its classes."""
    stems = sorted(Path(f).stem for f in manifest.files)
    classes = {c for s in manifest.summary.values() if isinstance(s, dict) for c in s.get("classes", [])}
    where = f"dataset {manifest.name} {manifest.version}"
    for d in review.decisions:
        if not any(d.session.startswith(f"{stem}:") for stem in stems):
            raise DatasetError(
                f"{review.path}: session {d.session!r} is not of {where} (its sessions start with "
                f"{', '.join(s + ':' for s in stems)}); a review of other data, or of several files: push each "
                "file's decisions with its own dataset"
            )
        if classes and d.label not in classes:
            known = ", ".join(sorted(classes))
            raise DatasetError(f"{review.path}: class {d.label!r} is not one of {where}'s ({known})")


def validation_note(metrics: dict[str, Any]) -> str | None:
    """What a version's training could not measure, from its manifest's metrics (None: nothing to say)."""
    if metrics.get("threshold_basis") == "default" or metrics.get("val_sequences") == 0:
        return "not validated: accuracy on new people unknown, threshold a default"
    if metrics.get("threshold_basis") == "signs_only":
        return "no no-sign class: threshold chosen on signs only"
    return None


def whoami() -> str:
    """user@host, the default name for who pushed or promoted."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"
