"""Ed25519 signatures over a bundle's manifest.json, kept beside it as ``manifest.sig``.

The manifest lists the sha256 of every other file, so signing its exact bytes signs the whole
bundle. A checksum kept in the same bucket only proves integrity; the signature proves who made it.
Keys are PEM files: the private key PKCS#8 (mode 0600), the public key SubjectPublicKeyInfo.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from shared.app.atomic import atomic_file
from shared.app.errors import BundleError, SignstreamError
from shared.model.bundle import MANIFEST, SIGNATURE

log = logging.getLogger(__name__)


class SignatureError(BundleError):
    """A bundle's signature is missing, malformed or made with another key."""


class KeyFileError(SignstreamError):
    """A key file is missing, unreadable or not an ed25519 PEM key."""


def generate_keypair(private_path: str | Path, public_path: str | Path) -> None:
    """Write a new ed25519 key pair as PEM files; refuse to overwrite either file."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private_path, public_path = Path(private_path), Path(public_path)
    for path in (private_path, public_path):
        if path.exists():
            raise FileExistsError(f"{path} already exists; not overwriting a key")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with atomic_file(private_path, private=True) as fh:  # 0600 before a byte is written
        fh.write(private_pem)
    os.chmod(private_path, 0o600)
    with atomic_file(public_path) as fh:
        fh.write(public_pem)
    os.chmod(public_path, 0o644)
    log.info("wrote ed25519 key pair %s, %s", private_path, public_path)


def _load_private(path: str | Path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except OSError as err:
        raise KeyFileError(f"{path}: cannot read the signing key ({err.strerror or err})") from err
    except (ValueError, TypeError) as err:
        raise KeyFileError(f"{path}: not an unencrypted PEM private key") from err
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an ed25519 key")
    return key


def private_key(path: str | Path):
    """The ed25519 private key in a PEM file; KeyFileError if it is not one."""
    return _load_private(path)


def load_public_key(path: str | Path):
    """The ed25519 public key in a PEM file; KeyFileError if it is not one."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except OSError as err:
        raise KeyFileError(f"{path}: cannot read the public key ({err.strerror or err})") from err
    except (ValueError, TypeError) as err:
        raise KeyFileError(f"{path}: not a PEM public key") from err
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path}: not an ed25519 key")
    return key


def sign_bytes(manifest_bytes: bytes, private_key_path: str | Path) -> bytes:
    """The raw 64-byte ed25519 signature of ``manifest_bytes``."""
    return _load_private(private_key_path).sign(manifest_bytes)


def verify_bytes(manifest_bytes: bytes, signature: bytes | None, public_key_path: str | Path, where: str) -> None:
    """Raise SignatureError unless ``signature`` is the public key's signature of ``manifest_bytes``."""
    from cryptography.exceptions import InvalidSignature

    key = load_public_key(public_key_path)
    if signature is None:
        raise SignatureError(f"{where}: unsigned ({SIGNATURE} is missing) and a public key is configured")
    try:
        key.verify(signature, manifest_bytes)
    except InvalidSignature as err:
        raise SignatureError(f"{where}: {SIGNATURE} does not match manifest.json for this public key") from err


def sign_bundle(folder: str | Path, private_key_path: str | Path) -> Path:
    """Write ``folder/manifest.sig``, the signature of ``folder/manifest.json``; return its path."""
    folder = Path(folder)
    try:
        manifest_bytes = (folder / MANIFEST).read_bytes()
    except FileNotFoundError as err:
        raise BundleError(f"{folder}: not a model bundle (no {MANIFEST})") from err
    signature = sign_bytes(manifest_bytes, private_key_path)
    with atomic_file(folder / SIGNATURE) as fh:
        fh.write(signature)
    return folder / SIGNATURE


def verify_bundle(folder: str | Path, public_key_path: str | Path) -> None:
    """Raise SignatureError if ``folder/manifest.sig`` is missing or not a valid signature of manifest.json.

    Checks only the signature; ``shared.model.bundle.load_manifest`` checks the files against the manifest.
    """
    folder = Path(folder)
    try:
        manifest_bytes = (folder / MANIFEST).read_bytes()
    except FileNotFoundError as err:
        raise BundleError(f"{folder}: not a model bundle (no {MANIFEST})") from err
    sig_path = folder / SIGNATURE
    signature = sig_path.read_bytes() if sig_path.is_file() else None
    verify_bytes(manifest_bytes, signature, public_key_path, str(folder))
