"""Get a ``hand_landmarker.task`` for MediaPipe's HandLandmarker without Google's model storage.

Set-up first tries Google's published file (short timeout). Where that host is unreachable it
assembles the file from the two hand models inside the ``mediapipe==0.10.18`` wheel on PyPI
(Apache-2.0): every member's sha256 is checked and the zip is written with fixed dates, so every
machine gets a byte-identical file. Files are cached outside the repo (``SIGNSTREAM_CACHE`` or
``~/.cache/signstream``). Run ``python -m shared.hands.task`` to prepare both variants.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from shared.app.atomic import atomic_file
from shared.app.errors import SignstreamError

log = logging.getLogger(__name__)

GOOGLE_URL = (
    "https://storage.googleapis.com/mediapipe-models/hand_landmarker/hand_landmarker/float16/latest/"
    "hand_landmarker.task"
)
WHEEL_REQ = "mediapipe==0.10.18"
WHEEL_PLATFORM = ("manylinux_2_17_x86_64", "3.11")  # one fixed wheel: same bytes on every machine
DETECTOR, LANDMARKS = "hand_detector.tflite", "hand_landmarks_detector.tflite"
# variant -> {member name in the task: (path in the wheel, sha256)}
MEMBERS = {
    "full": {
        DETECTOR: (
            "mediapipe/modules/palm_detection/palm_detection_full.tflite",
            "1b14e9422c6ad006cde6581a46c8b90dd573c07ab7f3934b5589e7cea3f89a54",
        ),
        LANDMARKS: (
            "mediapipe/modules/hand_landmark/hand_landmark_full.tflite",
            "11c272b891e1a99ab034208e23937a8008388cf11ed2a9d776ed3d01d0ba00e3",
        ),
    },
    # The wheel's palm_detection_lite.tflite lacks the normalisation metadata the Tasks API needs
    # ("requires specifying NormalizationOptions metadata"), so 'lite' pairs the full detector with
    # the lite landmark model, which is the costlier of the two per tracked frame.
    "lite": {
        DETECTOR: (
            "mediapipe/modules/palm_detection/palm_detection_full.tflite",
            "1b14e9422c6ad006cde6581a46c8b90dd573c07ab7f3934b5589e7cea3f89a54",
        ),
        LANDMARKS: (
            "mediapipe/modules/hand_landmark/hand_landmark_lite.tflite",
            "048edd3645c9bf7397d19a9f6e3a42957d6e414c9bea6598030a2e9b624156e6",
        ),
    },
}
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)


class HandTaskError(SignstreamError):
    """The task file could be neither downloaded nor assembled."""


def cache_dir() -> Path:
    """Where task files and the wheel are kept (outside the repo)."""
    return Path(os.environ.get("SIGNSTREAM_CACHE", Path.home() / ".cache" / "signstream"))


def task_path(variant: str) -> Path:
    """Path of the cached task file for ``variant`` ('full' or 'lite')."""
    return cache_dir() / f"hand_landmarker_{variant}.task"


def _valid_task(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return {DETECTOR, LANDMARKS} <= set(z.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _try_google(dest: Path, timeout: float) -> bool:
    try:
        with urllib.request.urlopen(GOOGLE_URL, timeout=timeout) as resp:
            data = resp.read()
    except OSError as err:
        log.info("Google's hand_landmarker.task unreachable (%s); assembling from the wheel", err)
        return False
    with atomic_file(dest) as fh:
        fh.write(data)
    if not _valid_task(dest):
        dest.unlink()
        return False
    return True


def _wheel() -> Path:
    folder = cache_dir() / "wheels"
    found = sorted(folder.glob("mediapipe-0.10.18-*.whl"))
    if found:
        return found[0]
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        platform, py = WHEEL_PLATFORM
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--platform",
               platform, "--python-version", py, "-d", tmp, "--quiet", WHEEL_REQ]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            raise HandTaskError(f"could not download {WHEEL_REQ}: {proc.stderr.strip()[-300:]}")
        final = folder / wheels[0].name
        os.replace(wheels[0], final)
    return final


def assemble(variant: str, dest: Path) -> None:
    """Write the task file for ``variant`` from the wheel's models, checking their sha256."""
    members = MEMBERS[variant]
    with zipfile.ZipFile(_wheel()) as wheel:
        blobs = {}
        for name, (inner, sha) in members.items():
            data = wheel.read(inner)
            if hashlib.sha256(data).hexdigest() != sha:
                raise HandTaskError(f"{inner} in the {WHEEL_REQ} wheel has an unexpected sha256")
            blobs[name] = data
    with atomic_file(dest) as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as z:
        for name in sorted(blobs):
            info = zipfile.ZipInfo(name, date_time=_FIXED_DATE)
            info.external_attr = 0o644 << 16
            z.writestr(info, blobs[name])


def ensure_task_file(variant: str = "full", try_google: bool = True, timeout: float = 3.0) -> Path:
    """Return the path of a valid task file for ``variant``, fetching or assembling it once."""
    if variant not in MEMBERS:
        raise ValueError(f"hand model variant must be one of {sorted(MEMBERS)}, got {variant!r}")
    dest = task_path(variant)
    if dest.is_file() and _valid_task(dest):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    if variant == "full" and try_google and _try_google(dest, timeout):
        return dest
    assemble(variant, dest)
    return dest


def main() -> None:
    """Prepare both variants and print their paths and sha256."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for variant in MEMBERS:
        path = ensure_task_file(variant, try_google=os.environ.get("SIGNSTREAM_NO_GOOGLE") != "1")
        print(f"{variant}: {path} sha256={hashlib.sha256(path.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main()
