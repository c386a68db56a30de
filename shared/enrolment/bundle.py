"""Writing a new bundle version with enrolled signs: the input bundle is read, never changed."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.app.atomic import atomic_dir
from shared.contract.normalize import check_supported
from shared.datasets.augment import augment
from shared.datasets.dataset import Dataset
from shared.model.bundle import (
    SIGNATURE,
    TFLITE_FLOAT,
    TFLITE_INT8,
    Manifest,
    check_name,
    load_manifest,
    now_iso,
    write_manifest,
)
from shared.model.enroll import (
    ENROLLED,
    NO_EMBEDDING,
    EnrollError,
    Enrolment,
    enrol,
    example_windows,
    load_head,
    load_reference,
    manifest_with,
    save_head,
)
from shared.model.signing import sign_bundle
from shared.model.tflite import TFLiteRunner


@dataclass(frozen=True)
class EnrolledBundle:
    """What ``enroll_bundle`` wrote: the new manifest, the enrolment and the seconds it took."""

    manifest: Manifest
    enrolment: Enrolment
    seconds: float


def windows_by_class(ds: Dataset, manifest: Manifest) -> dict[str, list[np.ndarray]]:
    """The examples of a dataset as raw windows per class name (classes with no sequence left out)."""
    windows = example_windows(ds.X, ds.length, ds.fps, manifest.spec)
    out: dict[str, list[np.ndarray]] = {}
    for w, label in zip(windows, ds.labels, strict=True):
        out.setdefault(str(label), []).append(w)
    return out


def enroll_bundle(
    src: str | Path,
    examples: Dataset | dict[str, list[np.ndarray]],
    out: str | Path,
    replace: bool = False,
    signing_key: str | Path | None = None,
    version: str | None = None,
) -> EnrolledBundle:
    """Write ``out``: the bundle ``src`` with the signs of ``examples`` enrolled, as a new version.

    ``examples`` is a dataset (each sequence one example) or name -> raw windows (T_i, 126). Runs on
    LiteRT alone. ``out`` appears whole or not at all. A signed ``src`` needs ``signing_key`` (the
    new version is signed whenever a key is given).
    """
    started = time.perf_counter()
    src, out = Path(src), Path(out)
    if out.exists():
        raise EnrollError(f"{out} already exists; enroll never overwrites a bundle")
    if version is not None:
        check_name(version, "model version")
    manifest = load_manifest(src)
    check_supported(manifest.spec, f"model {manifest.name} {manifest.version}")
    signed = (src / SIGNATURE).is_file()
    if signed and signing_key is None:
        raise EnrollError(
            f"{src} is signed: pass --signing-key KEY to sign the new version (followers refuse it unsigned)"
        )
    runner = TFLiteRunner(src / TFLITE_FLOAT)
    if not runner.has_embedding:
        raise EnrollError(f"{src}: {NO_EMBEDDING}")
    reference = load_reference(src)
    current = load_head(src, manifest) if manifest.enrolled else None
    int8 = TFLiteRunner(src / TFLITE_INT8) if TFLITE_INT8 in manifest.files else None
    found = windows_by_class(examples, manifest) if isinstance(examples, Dataset) else examples
    if not found:
        raise EnrollError("no examples given")
    enrolment = enrol(manifest, reference, current, runner, found, replace, int8, augment=augment)
    details = {
        "from_version": manifest.version,
        "signs": {
            r.sign: {
                "examples": enrolment.head.examples_of(r.sign),
                "closest_known": r.known,
                "closest_taken": round(r.taken, 4),
                "closest_cosine": round(r.cosine, 4),
            }
            for r in enrolment.resemblances
        },
        "int8_top1_agreement": enrolment.int8_agreement,
    }
    new = manifest_with(
        manifest, enrolment.head, version or now_iso().replace(":", "").replace("-", ""), now_iso(), details
    )
    with atomic_dir(out) as tmp:
        for rel in manifest.files:
            if rel == ENROLLED:
                continue
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / rel, target)
        save_head(tmp, enrolment.head)
        new = write_manifest(tmp, new)
        if signing_key is not None:
            sign_bundle(tmp, signing_key)
    return EnrolledBundle(new, enrolment, time.perf_counter() - started)
