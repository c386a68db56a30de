"""Import the common ``MP_Data/<class>/<sequence>/<frame>.npy`` layout into a dataset.

Per frame one flat vector from MediaPipe Holistic's usual ``extract_keypoints``: 1662 values (pose
33x4, face 468x3, left hand 21x3, right hand 21x3), 258 (pose, left, right) or 126 (left, right).
The left hand goes to slot 0 and the right to slot 1, as in ../shared/data.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from shared.app.errors import DatasetError
from shared.contract.spec import RAW_DIM
from shared.datasets.dataset import Dataset

# values per frame -> offset of the left hand's 63 values (the right hand's follow)
LAYOUTS = {1662: 132 + 1404, 258: 132, 126: 0}


def _numeric_key(p: Path) -> tuple[int, str]:
    m = re.fullmatch(r"\d+", p.stem if p.is_file() else p.name)
    return (int(m.group(0)) if m else 1 << 30, p.name)


def _read_frame(path: Path) -> np.ndarray:
    try:
        v = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise DatasetError(f"{path}: unreadable frame ({err})") from err
    v = np.asarray(v).reshape(-1)
    if v.size not in LAYOUTS:
        raise DatasetError(f"{path}: {v.size} values per frame; expected one of {sorted(LAYOUTS)}")
    if v.dtype.kind not in "fiu" or not np.isfinite(v).all():
        raise DatasetError(f"{path}: frame values must be finite numbers")
    start = LAYOUTS[v.size]
    return v[start : start + RAW_DIM].astype(np.float32)


def import_mpdata(root: str | Path, session: str | None = None) -> Dataset:
    """Read an MP_Data tree; sequences shorter than the longest are zero-padded with ``length`` set.

    Args:
        root: the folder holding one sub-folder per class.
        session: session name for every sequence (default: the root folder's name).
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir())
    if len(class_dirs) < 1:
        raise DatasetError(f"{root}: no class folders (expected {root}/<class>/<sequence>/<frame>.npy)")
    session = session or root.name
    seqs, y, seq_id, classes = [], [], [], []
    for class_dir in class_dirs:
        seq_dirs = sorted((p for p in class_dir.iterdir() if p.is_dir()), key=_numeric_key)
        frames_found = False
        for seq_dir in seq_dirs:
            frame_files = sorted(seq_dir.glob("*.npy"), key=_numeric_key)
            if not frame_files:
                continue
            if class_dir.name not in classes:
                classes.append(class_dir.name)
            frames_found = True
            seqs.append(np.stack([_read_frame(f) for f in frame_files]))
            y.append(classes.index(class_dir.name))
            seq_id.append(f"{session}/{class_dir.name}/{seq_dir.name}")
        if not frames_found:
            continue
    if not seqs:
        raise DatasetError(f"{root}: no sequences with .npy frames found")
    t = max(len(s) for s in seqs)
    X = np.zeros((len(seqs), t, RAW_DIM), np.float32)
    for i, s in enumerate(seqs):
        X[i, : len(s)] = s
    return Dataset(
        X=X,
        y=np.array(y, np.int64),
        classes=classes,
        seq_id=np.array(seq_id),
        session=np.full(len(seqs), session),
        length=np.array([len(s) for s in seqs], np.int64),
        sources=[f"imported from {root.name}"],
        licences=[],
    )
