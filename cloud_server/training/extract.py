"""``signstream extract``: landmarks from video clips into a dataset, in several processes, resumable.

One HandLandmarker (VIDEO mode) per clip, one clip per task, ``workers`` processes. Every finished
clip is written at once to ``<out>.parts/`` (atomically), so a run killed at any point and started
again repeats at most the clips that were in flight. Source videos are only read.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import shutil
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from shared.app.atomic import atomic_file
from shared.app.errors import DatasetError
from shared.contract.normalize import resample
from shared.contract.spec import RAW_DIM
from shared.datasets.dataset import Dataset, save_dataset
from shared.datasets.handshape import recording_problem

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"}


@dataclass
class ClipResult:
    """What extraction made of one clip."""

    path: str
    label: str
    frames: int = 0
    frames_with_hand: int = 0
    fps: float | None = None
    skipped: str | None = None  # why the clip is not in the dataset
    problem: str | None = (
        None  # why the clip, kept, should be recorded again (shared.datasets.handshape.recording_problem)
    )


def find_clips(inputs: list[Path], label_from: str = "folder") -> list[tuple[Path, str]]:
    """(clip, label) pairs from video files and folders of ``<label>/*.mp4`` (see ``find_recordings``)."""
    return [(clip, label) for clip, label, _ in find_recordings(inputs, label_from)]


def find_recordings(
    inputs: list[Path], label_from: str = "folder", session: str | None = None
) -> list[tuple[Path, str, str]]:
    """(clip, label, session) for every video under ``inputs``.

    Args:
        label_from: 'folder' (the clip's parent folder names its label) or 'stem' (the file name
            without a trailing ``_<number>``, e.g. ``doctor_001.mp4`` -> ``doctor``).
        session: the session of every clip (``extract --session``); default: see ``clip_session``.
    """
    found: list[tuple[Path, str, str]] = []
    for item in inputs:
        if item.is_dir():
            files = sorted(p for p in item.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
        elif item.is_file():
            files = [item]
        else:
            raise DatasetError(f"{item}: no such file or folder")
        root = item if item.is_dir() else None
        for f in files:
            label = re.sub(r"[_-]\d+$", "", f.stem) if label_from == "stem" else f.parent.name
            found.append((f, label, session or clip_session(f, root, label, label_from)))
    if not found:
        raise DatasetError("no video clips found (looked for " + ", ".join(sorted(VIDEO_SUFFIXES)) + ")")
    return found


_STAMP = re.compile(r"^(\d{4})(\d{2})(\d{2})-\d{6}")  # capture's <YYYYmmdd-HHMMSS>[-n].mp4


def clip_session(clip: Path, root: Path | None, label: str, label_from: str = "folder") -> str:
    """Who (or when) recorded a clip, never its label.

    Validation holds out whole sessions to measure the model on people it has not seen, so a session
    must stand for a recording sitting. In order: the folder above the label folder
    (``<root>/<session>/<label>/clip.mp4``, what ``capture --session`` writes); with ``--label-from
    stem`` the clip's own folder (``<root>/<session>/doctor_001.mp4``); else the recording day,
    from capture's file name (``20261202-101500.mp4``) or the file's modification time
    (``day-2026-12-02``).
    """
    parts = clip.relative_to(root).parts if root is not None else ()
    if label_from == "folder" and len(parts) >= 3:
        return parts[-3]
    if label_from == "stem" and len(parts) >= 2 and parts[-2] != label:
        return parts[-2]
    m = _STAMP.match(clip.stem)
    if m:
        return f"day-{m[1]}-{m[2]}-{m[3]}"
    return "day-" + time.strftime("%Y-%m-%d", time.localtime(clip.stat().st_mtime))


def _part_name(clip: Path) -> str:
    st = clip.stat()
    key = f"{clip.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    return hashlib.sha256(key.encode()).hexdigest()[:24] + ".npz"


@functools.cache
def _label_check(model: str):
    from shared.model.label_check import bundle_label_check

    return bundle_label_check(model)  # once per worker process


def extract_clip(
    clip: str, label: str, part: str, variant: str = "full", no_sign_label: str | None = "idle",
    model: str | None = None,
) -> dict:  # fmt: skip
    """Worker: extract one clip and write its part file; returns the ClipResult as a dict.

    A clip that is kept but shows no sign well (a hand in too few frames, one frame repeated, too
    short) gets a ``problem``; ``no_sign_label`` names the class recorded without signing (no hand needed).
    With ``model`` (a bundle folder) a clip whose label the model confidently sees as another sign does too.
    """
    from shared.hands.landmarker import HandLandmarks
    from shared.hands.video import video_frames

    result = ClipResult(clip, label)
    frames: list[np.ndarray] = []
    stamps: list[int] = []
    with HandLandmarks(variant) as lm:  # a broken model is an error, not a skipped clip
        try:
            for rgb, ts in video_frames(clip):
                frames.append(lm.detect(rgb, ts))
                stamps.append(ts)
        except OSError as err:
            result.skipped = f"unreadable: {err}"
    if len(stamps) > 1:
        result.fps = round(1000.0 * (len(stamps) - 1) / max(stamps[-1] - stamps[0], 1), 3)
    result.frames = len(frames)
    result.frames_with_hand = int(sum(bool(np.any(f)) for f in frames))
    if result.skipped is None and not frames:
        result.skipped = "no frames could be read"
    elif result.skipped is None and result.frames_with_hand == 0:
        result.skipped = "no hand found in any frame"
    X = np.stack(frames) if frames else np.zeros((0, RAW_DIM), np.float32)
    if result.skipped is None:
        result.problem = recording_problem(X, no_sign=label == no_sign_label)
        if result.problem is None and model is not None:
            result.problem = _label_check(model)(X, result.fps, label)
    with atomic_file(part) as fh:
        np.savez(fh, X=X.astype(np.float32), result=np.asarray(json.dumps(asdict(result))))
    return asdict(result)


def extract(
    inputs: list[Path], out: Path, workers: int = 2, variant: str = "full", label_from: str = "folder",
    progress=None, on_start=None, session: str | None = None, no_sign_label: str | None = "idle",
    model: Path | None = None,
) -> tuple[Dataset, list[ClipResult]]:  # fmt: skip
    """Extract every clip (resuming from ``<out>.parts``) and write the dataset to ``out``.

    Args:
        progress: called with each finished ClipResult.
        on_start: called with each clip path as it is submitted (for counting repeats after a crash).
        session: every clip's session; default: from the layout or the recording day (``clip_session``).
        no_sign_label: the class recorded without signing, whose clips need no hand.
        model: a bundle folder; a clip whose label it confidently sees as another sign is warned about.
    """
    if out.exists():
        raise FileExistsError(f"{out} already exists; choose a new --out")
    if model is not None:
        from shared.model.open_bundle import open_bundle

        open_bundle(model)  # a bad bundle fails here, in one line, before any clip
    recordings = find_recordings(inputs, label_from, session)
    clips = [(c, lab) for c, lab, _ in recordings]
    session_of = {c: ses for c, _, ses in recordings}
    parts = out.with_name(out.name + ".parts")
    parts.mkdir(parents=True, exist_ok=True)
    todo = [(c, lab) for c, lab in clips if not (parts / _part_name(c)).exists()]
    if todo:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            pending = set()
            queue = list(todo)
            while queue or pending:
                while queue and len(pending) < workers:  # submit only what can run: few in flight
                    c, lab = queue.pop(0)
                    if on_start:
                        on_start(c)
                    part = str(parts / _part_name(c))
                    judge = str(model) if model is not None else None
                    pending.add(pool.submit(extract_clip, str(c), lab, part, variant, no_sign_label, judge))
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    res = ClipResult(**fut.result())
                    if progress:
                        progress(res)
    results, seqs, labels, sessions, rates = [], [], [], [], []
    for c, _ in clips:
        with np.load(parts / _part_name(c), allow_pickle=False) as part:
            res = ClipResult(**json.loads(str(part["result"])))
            results.append(res)
            if res.skipped is None:
                seqs.append(part["X"])
                rates.append(res.fps or 30.0)
                labels.append(res.label)
                sessions.append(session_of[c])
    if not seqs:
        raise DatasetError("no clip gave any hand landmarks; nothing to write")
    lost = sorted({r.label for r in results} - set(labels))
    if lost:  # a class must not vanish from the dataset while the command succeeds
        raise DatasetError(
            f"every clip of {', '.join(lost)} was skipped (see above); nothing written: fix or remove those clips "
            f"and run again (finished clips are kept in {parts})"
        )
    classes = sorted(set(labels))
    fps = float(np.median(rates))
    seqs = [
        s if abs(r - fps) / fps < 0.02 else resample(s, max(1, round(len(s) * fps / r)), any_length=True)
        for s, r in zip(seqs, rates, strict=True)
    ]
    t = max(len(s) for s in seqs)
    X = np.zeros((len(seqs), t, RAW_DIM), np.float32)
    for i, s in enumerate(seqs):
        X[i, : len(s)] = s
    kept = [r for r in results if r.skipped is None]
    ds = Dataset(
        X=X,
        y=np.array([classes.index(lab) for lab in labels], np.int64),
        classes=classes,
        seq_id=np.array([f"{ses}/{r.label}/{Path(r.path).stem}" for r, ses in zip(kept, sessions, strict=True)]),
        session=np.array(sessions),
        length=np.array([len(s) for s in seqs], np.int64),
        sources=[f"signstream extract ({variant} HandLandmarker) from {len(clips)} clips"],
        licences=[],
        fps=fps,
    )
    save_dataset(out, ds)
    shutil.rmtree(parts)  # our own intermediate files, now inside the dataset
    return ds, results
