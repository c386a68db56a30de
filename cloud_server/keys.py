"""API keys: a key file of names and hashes, maintained by ``signstream keys``, read by the server.

A key looks like ``ssk_<id>_<secret>``; the file keeps the id, the sha256 of the whole key, the
name, when it was created and when (if ever) it was revoked. Keys are random 256-bit tokens, so a
plain sha256 is enough to keep them unrecoverable from the file; comparison is constant-time. The
server re-reads the file when it changes, so adding or revoking a key needs no restart.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from shared.app.atomic import atomic_file
from shared.app.errors import SignstreamError
from shared.model.bundle import NAME_PATTERN, now_iso

PREFIX = "ssk"
log = logging.getLogger(__name__)


class ApiKeysFileError(SignstreamError):
    """The key file is unreadable, malformed, or the change asked for is impossible."""


class KeyEntry(BaseModel):
    name: str = Field(pattern=NAME_PATTERN, max_length=64)
    key_id: str = Field(pattern=r"^[0-9a-f]{12}$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    created: str
    revoked: str | None = None
    admin: bool = False


class KeyFile(BaseModel):
    version: int = 1
    keys: list[KeyEntry] = Field(default_factory=list)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def read_keys(path: Path) -> KeyFile:
    """The key file's content; a missing file is an empty one."""
    if not path.exists():
        return KeyFile()
    try:
        return KeyFile.model_validate_json(path.read_bytes())
    except (OSError, ValidationError, ValueError) as err:
        raise ApiKeysFileError(f"{path}: not a valid key file ({str(err).splitlines()[0]})") from err


def _write(path: Path, keys: KeyFile) -> None:
    with atomic_file(path, "w", private=True) as fh:  # hashes only, but nobody else needs them
        fh.write(keys.model_dump_json(indent=1))
    path.chmod(0o600)


def add_key(path: Path, name: str, admin: bool = False) -> str:
    """Create a key called ``name``; returns the key itself, which is shown once and never stored."""
    keys = read_keys(path)
    if any(k.name == name for k in keys.keys):
        raise ApiKeysFileError(f"a key named {name!r} exists already (revoke it, or choose another name)")
    key_id = secrets.token_hex(6)
    key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    try:
        entry = KeyEntry(name=name, key_id=key_id, sha256=_digest(key), created=now_iso(), admin=admin)
    except ValidationError as err:
        raise ApiKeysFileError(f"key name {name!r} must match {NAME_PATTERN}") from err
    keys.keys.append(entry)
    _write(path, keys)
    return key


def revoke_key(path: Path, name: str) -> None:
    """Mark the key called ``name`` revoked (it stays listed, so it is refused with 403, not 401)."""
    keys = read_keys(path)
    for k in keys.keys:
        if k.name == name:
            if k.revoked:
                raise ApiKeysFileError(f"key {name!r} was revoked already, at {k.revoked}")
            k.revoked = now_iso()
            _write(path, keys)
            return
    raise ApiKeysFileError(f"no key named {name!r}")


class KeyStore:
    """The server's view of the key file, re-read when the file changes (checked at most every ``interval`` s)."""

    def __init__(self, path: Path, interval: float = 1.0) -> None:
        self.path = path
        self.interval = interval
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        self._by_id: dict[str, KeyEntry] = {}
        self._reload(force=True)

    def _refresh(self, now: float) -> None:
        with self._lock:
            try:
                self._reload()
            except ApiKeysFileError as err:  # keep the last good keys
                log.warning("key file not reloaded, keeping the previous keys: %s", err)
            self._checked = now

    def _reload(self, force: bool = False) -> None:
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = (0, 0)
        if force or stamp != self._stamp:
            keys = read_keys(self.path)
            self._by_id = {k.key_id: k for k in keys.keys}
            self._stamp = stamp

    def check(self, key: str | None) -> tuple[str, KeyEntry | None]:
        """('ok', entry), ('revoked', entry), or ('missing' | 'invalid', None) for a presented key.

        The file is looked at every ``interval`` seconds, and at once for a key id it does not know, so
        a key just added works on every worker from its first request (a revocation takes up to
        ``interval``).
        """
        now = time.monotonic()
        if now - self._checked >= self.interval:
            self._refresh(now)
        if not key:
            return "missing", None
        parts = key.split("_", 2)
        key_id = parts[1] if len(parts) == 3 and parts[0] == PREFIX else None
        if key_id is not None and key_id not in self._by_id:
            self._refresh(now)  # a stat; the file is read only if it changed
        entry = self._by_id.get(key_id) if key_id is not None else None
        # compare digests in constant time even when the id is unknown
        expected = entry.sha256 if entry else "0" * 64
        if not hmac.compare_digest(_digest(key), expected) or entry is None:
            return "invalid", None
        return ("revoked", entry) if entry.revoked else ("ok", entry)
