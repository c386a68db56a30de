"""Landmark datasets: the npz layout of ../shared/data, loading with checks, merging, saving.

Arrays: ``X`` (N, T, 126) float32, ``y`` (N,) int, ``classes`` (C,) str, optional ``seq_id`` and
``session`` (N,) str, ``length`` (N,) int (frames actually recorded, for clips shorter than T),
``fps`` (a scalar: the recordings' frame rate, where known) and ``source``/``licence`` strings.
"""

from __future__ import annotations

import difflib
import logging
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shared.app.atomic import atomic_file
from shared.app.errors import DatasetError
from shared.contract.spec import RAW_DIM, VALUE_BOUND

log = logging.getLogger(__name__)

SEQUENCE_GROUPS = 5  # a file with one session is split into this many sequence groups


@dataclass
class Dataset:
    """Landmark sequences with labels. Shapes: X (N, T, 126), y/seq_id/session/length (N,)."""

    X: np.ndarray
    y: np.ndarray
    classes: list[str]
    seq_id: np.ndarray
    session: np.ndarray
    length: np.ndarray
    sources: list[str] = field(default_factory=list)
    licences: list[str] = field(default_factory=list)
    fps: float | None = None  # frame rate of the recordings, where known (extract sets it)

    def __len__(self) -> int:
        return len(self.y)

    @property
    def labels(self) -> np.ndarray:
        """(N,) str: the class name of every sequence."""
        return np.asarray(self.classes, dtype=str)[self.y]

    def subset(self, mask: np.ndarray) -> Dataset:
        """The sequences where ``mask`` (bool (N,) or indices) selects, same classes."""
        return Dataset(
            self.X[mask],
            self.y[mask],
            list(self.classes),
            self.seq_id[mask],
            self.session[mask],
            self.length[mask],
            list(self.sources),
            list(self.licences),
            self.fps,
        )

    def select_classes(self, names: list[str]) -> Dataset:
        """Keep only sequences of ``names``, re-indexed in that order; unknown names are an error."""
        missing = [n for n in names if n not in self.classes]
        if missing:
            raise DatasetError(
                f"classes not in the dataset: {', '.join(suggest(n, self.classes) for n in missing)}; "
                f"its classes: {', '.join(self.classes)}"
            )
        lookup = {self.classes.index(n): i for i, n in enumerate(names)}
        keep = np.isin(self.y, list(lookup))
        sub = self.subset(keep)
        sub.y = np.array([lookup[int(v)] for v in sub.y], dtype=np.int64)
        sub.classes = list(names)
        return sub


def suggest(name: str, known: list[str]) -> str:
    """``name``, with "(did you mean 'x'?)" when one of ``known`` is close to it (a typo)."""
    close = difflib.get_close_matches(name, known, n=1)
    return f"{name} (did you mean {close[0]!r}?)" if close else name


def _fail(path: Path, msg: str) -> DatasetError:
    return DatasetError(f"{path}: {msg}")


def _strings(arr: np.ndarray, n: int, name: str, path: Path) -> np.ndarray:
    if arr.shape != (n,) or arr.dtype.kind not in "UO":
        raise _fail(path, f"'{name}' must be ({n},) strings, got {arr.shape} {arr.dtype}")
    return arr.astype(str)


def _what_file(path: Path) -> str:
    """A few words on what a file that is not a zip archive holds, for an error message."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if not head:
        return "an empty file"
    if head.startswith(b"\x93NUMPY"):
        return "a single .npy array"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return f"{path.stat().st_size} bytes of binary data"
    return "a text file"


def load_dataset(path: str | Path) -> Dataset:
    """Load and check a dataset file; raise DatasetError naming what is wrong."""
    path = Path(path)
    if path.is_file() and not zipfile.is_zipfile(path):  # np.load would call it "pickled data"
        raise _fail(path, f"not a readable npz file (an .npz is a zip archive; this is {_what_file(path)})")
    try:
        npz = np.load(path, allow_pickle=False)
        arrays = {k: npz[k] for k in npz.files}
    except FileNotFoundError as err:
        raise _fail(path, "no such file") from err
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise _fail(path, f"not a readable npz file ({err})") from err
    for key in ("X", "y", "classes"):
        if key not in arrays:
            raise _fail(path, f"missing array '{key}' (has: {', '.join(sorted(arrays))})")
    X, y, classes = arrays["X"], arrays["y"], arrays["classes"]
    if X.ndim != 3 or X.shape[2] != RAW_DIM or X.shape[0] == 0 or X.shape[1] == 0:
        raise _fail(path, f"'X' must be (N, T, {RAW_DIM}) with N, T > 0, got {X.shape}")
    if X.dtype.kind != "f":
        raise _fail(path, f"'X' must be floating point, got {X.dtype}")
    X = X.astype(np.float32, copy=False)
    n, t = X.shape[:2]
    if not np.isfinite(X).all():
        raise _fail(path, "'X' holds NaN or infinite values")
    if np.abs(X).max() > VALUE_BOUND:
        raise _fail(path, f"'X' holds values beyond +-{VALUE_BOUND}: not landmark coordinates")
    if y.shape != (n,) or y.dtype.kind not in "iu":
        raise _fail(path, f"'y' must be ({n},) integers, got {y.shape} {y.dtype}")
    if classes.ndim != 1 or classes.dtype.kind != "U" or len(classes) == 0:
        raise _fail(path, f"'classes' must be a 1-D array of strings, got {classes.shape} {classes.dtype}")
    class_list = [str(c) for c in classes]
    if len(set(class_list)) != len(class_list) or "" in class_list:
        raise _fail(path, "'classes' must be unique, non-empty names")
    if y.min() < 0 or y.max() >= len(class_list):
        raise _fail(path, f"'y' values must be in 0..{len(class_list) - 1}, got {y.min()}..{y.max()}")
    stem = path.stem
    seq_id = (
        _strings(arrays["seq_id"], n, "seq_id", path)
        if "seq_id" in arrays
        else np.array([f"{stem}/{class_list[int(c)]}/{i}" for i, c in enumerate(y)])
    )
    session = _strings(arrays["session"], n, "session", path) if "session" in arrays else np.full(n, stem)
    if "length" in arrays:
        length = arrays["length"]
        if length.shape != (n,) or length.dtype.kind not in "iu" or length.min() < 1 or length.max() > t:
            raise _fail(path, f"'length' must be ({n},) integers in 1..{t}")
        length = length.astype(np.int64)
    else:
        length = np.full(n, t, np.int64)
    fps = None
    if "fps" in arrays:
        fps = arrays["fps"]
        if fps.shape != () or fps.dtype.kind not in "fiu" or not 0 < float(fps) <= 240:
            raise _fail(path, "'fps' must be one number in (0, 240]")
        fps = float(fps)
    return Dataset(
        X,
        y.astype(np.int64),
        class_list,
        seq_id,
        session,
        length,
        [str(arrays["source"])] if "source" in arrays else [],
        [str(arrays["licence"])] if "licence" in arrays else [],
        fps,
    )


def save_dataset(path: str | Path, ds: Dataset) -> None:
    """Write ``ds`` as a compressed npz through a temporary file; never leaves half a file."""
    with atomic_file(path) as fh:
        np.savez_compressed(
            fh,
            X=ds.X.astype(np.float32),
            y=ds.y.astype(np.int64),
            classes=np.asarray(ds.classes, dtype=str),
            seq_id=np.asarray(ds.seq_id, dtype=str),
            session=np.asarray(ds.session, dtype=str),
            length=ds.length.astype(np.int64),
            source=np.asarray("; ".join(ds.sources)),
            licence=np.asarray("; ".join(ds.licences)),
            **({"fps": np.asarray(float(ds.fps))} if ds.fps else {}),
        )


def _sequence_number(seq_id: str, fallback: int) -> int:
    match = re.search(r"(\d+)\s*$", seq_id)
    return int(match.group(1)) if match else fallback


def sequence_groups(ds: Dataset, groups: int = SEQUENCE_GROUPS) -> np.ndarray:
    """(N,) int: split each class's sequences into ``groups`` blocks of consecutive sequence numbers.

    Neighbouring recordings are near-repeats, so blocks (not random picks) are what can be held out.
    """
    out = np.zeros(len(ds), np.int64)
    for c in np.unique(ds.y):
        idx = np.flatnonzero(ds.y == c)
        order = idx[np.argsort([_sequence_number(ds.seq_id[i], i) for i in idx], kind="stable")]
        out[order] = np.arange(len(order)) * groups // len(order)
    return out


def merge(datasets: list[tuple[str, Dataset]]) -> Dataset:
    """Merge named datasets into one, matching classes by name.

    Sessions are prefixed with the dataset's name, so files never share a session. A file with a
    single session is split into sequence groups ('name:session#g0'...), which validation can hold out.
    """
    if not datasets:
        raise DatasetError("no datasets to merge")
    known = {ds.fps for _, ds in datasets if ds.fps is not None}
    if len(known) > 1:
        which = ", ".join(f"{name} {ds.fps:g}" for name, ds in datasets if ds.fps is not None)
        raise DatasetError(
            f"datasets recorded at different frame rates ({which} frames/s): train on one rate at a time"
        )
    fps = known.pop() if known else None
    unknown = [name for name, ds in datasets if ds.fps is None]
    if fps is not None and unknown:  # files from elsewhere often do not say; training assumes one rate anyway
        log.warning("%s record no frame rate: taken as %g frames/s, as %s", ", ".join(unknown), fps,
                    ", ".join(name for name, ds in datasets if ds.fps is not None))  # fmt: skip
    t = max(ds.X.shape[1] for _, ds in datasets)  # shorter files are zero-padded, their length kept
    classes: list[str] = []
    for _, ds in datasets:
        classes += [c for c in ds.classes if c not in classes]
    parts = []
    for name, ds in datasets:
        remap = np.array([classes.index(c) for c in ds.classes], np.int64)
        if len(np.unique(ds.session)) == 1:
            groups = sequence_groups(ds)
            session = np.array([f"{name}:{s}#g{g}" for s, g in zip(ds.session, groups, strict=True)])
        else:
            session = np.array([f"{name}:{s}" for s in ds.session])
        parts.append((ds, remap[ds.y], session))

    def padded(X: np.ndarray) -> np.ndarray:
        return np.pad(X, ((0, 0), (0, t - X.shape[1]), (0, 0)))

    return Dataset(
        np.concatenate([padded(p[0].X) for p in parts]),
        np.concatenate([p[1] for p in parts]),
        classes,
        np.concatenate(
            [np.array([f"{n}:{s}" for s in p[0].seq_id]) for (n, _), p in zip(datasets, parts, strict=True)]
        ),
        np.concatenate([p[2] for p in parts]),
        np.concatenate([p[0].length for p in parts]),
        [s for _, ds in datasets for s in ds.sources],
        [lic for _, ds in datasets for lic in ds.licences],
        fps,
    )


def load_many(paths: list[str | Path]) -> Dataset:
    """Load and merge several dataset files, each named by its file stem."""
    return merge([(Path(p).stem, load_dataset(p)) for p in paths])
