"""Fake bundles and signing keys for the tests of shared/ (bundles, signing, the registry).

Bundles here are built with shared.model.bundle.write_manifest (no TensorFlow), so these tests also run in
the edge-only venv.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.contract.spec import FeatureSpec
from shared.model.bundle import Manifest, now_iso, write_manifest
from shared.model.signing import generate_keypair

BundleFactory = Callable[..., Path]


@pytest.fixture
def make_bundle(tmp_path: Path) -> BundleFactory:
    """Build a small bundle folder with the layout load_manifest requires; contents differ per version."""

    made = itertools.count()

    def make(name: str = "tiny", version: str = "1", files: int = 3, accuracy: float = 0.9) -> Path:
        folder = tmp_path / "bundles" / f"{name}-{version}-{next(made)}"
        (folder / "saved_model" / "variables").mkdir(parents=True)
        (folder / "saved_model" / "saved_model.pb").write_bytes(f"graph {name} {version}".encode() * 50)
        (folder / "model.tflite").write_bytes(os.urandom(2048))
        for i in range(files):
            (folder / "saved_model" / "variables" / f"part-{i}").write_bytes(os.urandom(1000 + i))
        manifest = Manifest(
            name=name,
            version=version,
            created=now_iso(),
            spec=FeatureSpec(),
            labels=["a", "b"],
            metrics={"val_accuracy": accuracy},
        )
        write_manifest(folder, manifest)
        return folder

    return make


@pytest.fixture(scope="session")
def keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An ed25519 key pair (private, public)."""
    folder = tmp_path_factory.mktemp("keys")
    generate_keypair(folder / "op.pem", folder / "op.pub")
    return folder / "op.pem", folder / "op.pub"


@pytest.fixture(scope="session")
def other_keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A second key pair: an impostor's."""
    folder = tmp_path_factory.mktemp("keys2")
    generate_keypair(folder / "x.pem", folder / "x.pub")
    return folder / "x.pem", folder / "x.pub"
