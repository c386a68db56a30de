"""Model bundles: a folder with ``manifest.json``, the SavedModel, TFLite files and a report.

The manifest names the model, carries its feature spec, labels, calibration and data sources, and
lists every other file with its sha256 and size. ``load_manifest`` verifies all of them.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.app.atomic import atomic_file
from shared.app.errors import BundleError
from shared.contract.spec import FeatureSpec

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
NAME_PATTERN = r"^[A-Za-z0-9._-]+$"
BUNDLE_FORMAT = 1
SAVED_MODEL_DIR = "saved_model"
TFLITE_FLOAT = "model.tflite"
TFLITE_INT8 = "model_int8.tflite"


class FileEntry(BaseModel):
    """Checksum and size of one bundle file."""

    model_config = ConfigDict(extra="forbid")

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class Manifest(BaseModel):
    """What a bundle is: identity, contract, calibration, provenance, files and metrics."""

    model_config = ConfigDict(extra="forbid")

    format: int = Field(BUNDLE_FORMAT, description="Bundle layout version.")
    name: str = Field(pattern=NAME_PATTERN, max_length=128)
    version: str = Field(pattern=NAME_PATTERN, max_length=128)
    created: str = Field(description="ISO 8601 UTC time the bundle was written.")
    spec: FeatureSpec
    labels: list[str] = Field(min_length=2)
    temperature: float = Field(1.0, gt=0, description="Divide logits by this before the softmax.")
    threshold: float = Field(0.0, ge=0, le=1, description="Recommended confidence threshold.")
    no_sign_label: str | None = Field(
        "idle", description="The class that means nobody is signing: answered as no sign, never shown as a label."
    )
    enrolled: list[str] = Field(
        default_factory=list,
        description="Signs enrolled from a few examples (shared/model/enroll.py): the last labels, their logits from "
        "enrolled.npz.",
    )
    sign_thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="Signs shown from a threshold of their own instead of `threshold` (enrolled signs: "
        "shared/model/enroll.py's ENROLLED_THRESHOLD).",
    )
    sources: list[str] = Field(default_factory=list)
    licences: list[str] = Field(default_factory=list)
    architecture: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    files: dict[str, FileEntry] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _sign_thresholds_name_labels(self) -> Manifest:
        unknown = sorted(set(self.sign_thresholds) - set(self.labels))
        if unknown:
            raise ValueError(f"sign_thresholds names {unknown}, which are not labels")
        if any(not 0 <= t <= 1 for t in self.sign_thresholds.values()):
            raise ValueError("sign_thresholds must lie in [0, 1]")
        return self

    def thresholds(self) -> np.ndarray:
        """(C,) the threshold each label is shown from: its own, else ``threshold``."""
        return np.array([self.sign_thresholds.get(label, self.threshold) for label in self.labels], np.float64)


def check_name(value: str, what: str) -> str:
    """Return ``value`` if it is a valid model/dataset name or version, else raise BundleError."""
    if not isinstance(value, str) or not re.fullmatch(NAME_PATTERN, value) or value.startswith(".") or len(value) > 128:
        raise BundleError(f"invalid {what} {value!r}: use letters, digits, '.', '_' or '-', not starting with '.'")
    return value


def now_iso() -> str:
    """Current UTC time as ISO 8601 with a Z suffix."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _bundle_files(folder: Path) -> list[str]:
    skip = {MANIFEST, SIGNATURE}
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name not in skip)


def write_manifest(folder: str | Path, manifest: Manifest) -> Manifest:
    """Checksum every file in ``folder`` into ``manifest`` and write manifest.json atomically."""
    folder = Path(folder)
    files = {}
    for rel in _bundle_files(folder):
        p = folder / rel
        files[rel] = FileEntry(sha256=sha256_file(p), size=p.stat().st_size)
    final = manifest.model_copy(update={"files": files})
    with atomic_file(folder / MANIFEST, "w") as fh:
        # Fields at their empty default are left out: loaders older than them read the manifest.
        empty = {k for k in ("enrolled", "sign_thresholds") if not getattr(final, k)}
        fh.write(final.model_dump_json(indent=2, exclude=empty or None))
    return final


def _safe_relative(rel: str) -> bool:
    p = Path(rel)
    return not p.is_absolute() and ".." not in p.parts and rel == p.as_posix()


def read_manifest(folder: str | Path) -> Manifest:
    """Parse manifest.json without checking files; raise BundleError if missing or malformed."""
    path = Path(folder) / MANIFEST
    try:
        data = json.loads(path.read_text())
        return Manifest.model_validate(data)
    except FileNotFoundError as err:
        raise BundleError(f"{folder}: not a model bundle (no {MANIFEST})") from err
    except (OSError, ValueError) as err:
        first = err.errors()[0] if isinstance(err, ValidationError) else None
        detail = f"{'.'.join(map(str, first['loc']))}: {first['msg']}" if first else str(err)
        raise BundleError(f"{path}: malformed manifest ({detail})") from err


def load_manifest(folder: str | Path) -> Manifest:
    """Read the manifest and verify every file's size and sha256; no unlisted file may be present."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    for rel, entry in manifest.files.items():
        if not _safe_relative(rel):
            raise BundleError(f"{folder}: manifest lists an unsafe path {rel!r}")
        p = folder / rel
        if not p.is_file():
            raise BundleError(f"{folder}: {rel} is missing")
        if p.stat().st_size != entry.size:
            raise BundleError(f"{folder}: {rel} has {p.stat().st_size} bytes, the manifest says {entry.size}")
        if sha256_file(p) != entry.sha256:
            raise BundleError(f"{folder}: {rel} does not match its sha256 (tampered or corrupt)")
    extra = sorted(set(_bundle_files(folder)) - set(manifest.files))
    if extra:
        raise BundleError(f"{folder}: files not in the manifest: {', '.join(extra[:5])}")
    for required in (TFLITE_FLOAT, f"{SAVED_MODEL_DIR}/saved_model.pb"):
        if required not in manifest.files:
            raise BundleError(f"{folder}: incomplete bundle, {required} is not listed")
    return manifest
