"""Opening a model bundle safely: the one function every loader calls before it trusts a bundle."""

from __future__ import annotations

from pathlib import Path

from shared.contract.normalize import check_supported
from shared.model.bundle import Manifest, load_manifest
from shared.model.signing import verify_bundle


def open_bundle(folder: str | Path, public_key: str | Path | None = None, check_spec: bool = True) -> Manifest:
    """The bundle's manifest, once the bundle is known good.

    In order: the signature of manifest.json (with ``public_key``: a bundle nobody trusted is refused
    before its manifest is even parsed), every file's size and sha256 against the manifest, and (with
    ``check_spec``) a feature spec this installation can compute.

    Raises:
        SignatureError, BundleError or SpecMismatchError, each naming the folder and what is wrong.
    """
    folder = Path(folder)
    if public_key is not None:
        verify_bundle(folder, public_key)
    manifest = load_manifest(folder)
    if check_spec:
        check_supported(manifest.spec, f"model {manifest.name} {manifest.version}")
    return manifest
