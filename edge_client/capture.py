"""``signstream capture``: record labelled clips from a camera (or a video file) for training.

Clips go to ``<root>/<label>/<timestamp>.mp4``, written under a temporary name and renamed; an
existing clip is never overwritten. A countdown precedes each clip and a counter tells how many
clips the label has. With a check (``HandCheck``: the hand landmarker over the clip's frames) a
clip with no hand, a hand in too few frames or one frame repeated is said at once, in one line, so
the volunteer can record it again while still there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from shared.app.errors import SignstreamError

ClipCheck = Callable[[list[np.ndarray], float, str], str | None]
"""Called with a clip's BGR frames, its fps and its label; returns why to record it again, or None."""

LABEL_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._'-"


class CaptureError(SignstreamError):
    """The source could not be opened, a label or session is not usable as a folder name, or the
    source ended before every clip asked for was recorded."""


def check_label(label: str, what: str = "label") -> str:
    """A label (or, with ``what``, a session) must be a safe folder name; the error names which it is."""
    if not label.strip() or any(c not in LABEL_CHARS for c in label) or label in (".", ".."):
        raise CaptureError(f"{what} {label!r} must use letters, digits, space, '.', '_', \"'\" or '-'")
    return label


def open_source(source: str) -> tuple[Iterator[np.ndarray], float, Callable[[], None]]:
    """Frames (BGR) from a camera index/device or a file; returns (frames, fps, release)."""
    import cv2

    is_camera = source.isdigit() or source.startswith("/dev/video")
    if not is_camera and not Path(source).is_file():
        raise CaptureError(f"{source}: no such file or camera")
    cap = cv2.VideoCapture(int(source) if source.isdigit() else source)
    if not cap.isOpened():
        raise CaptureError(f"{source}: cannot open")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0

    def frames() -> Iterator[np.ndarray]:
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield frame

    return frames(), fps, cap.release


def next_clip_path(root: Path, label: str) -> Path:
    """A new, unused ``<root>/<label>/<timestamp>.mp4`` path."""
    folder = root / label
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, n = folder / f"{stamp}.mp4", 1
    while path.exists():
        n += 1
        path = folder / f"{stamp}-{n}.mp4"
    return path


def write_clip(frames: list[np.ndarray], fps: float, path: Path) -> None:
    """Write BGR frames as mp4 under a temporary name, then link it into place (never overwrites)."""
    import os

    import cv2

    tmp = path.with_name(f".{path.stem}.tmp.mp4")
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    try:
        for f in frames:
            writer.write(f)
    finally:
        writer.release()
    try:
        os.link(tmp, path)  # fails if path appeared meanwhile: no clip is ever replaced
    finally:
        tmp.unlink()


class HandCheck:
    """A ClipCheck that runs the hand landmarker over the clip (as ``extract`` will) and judges it.

    The landmarker is created on the first clip and kept until ``close`` (use it in a ``with``);
    ``no_sign_label``'s clips need no hand. With ``model`` (a bundle folder, verified now) a clip
    whose label it confidently sees as another sign is said too.
    """

    def __init__(self, variant: str = "full", no_sign_label: str | None = "idle", model: Path | None = None) -> None:
        self.variant, self.no_sign_label = variant, no_sign_label
        self.label_check = None
        if model is not None:
            from shared.model.label_check import bundle_label_check

            self.label_check = bundle_label_check(model)
        self._landmarker = None
        self._clock_ms = 0.0  # VIDEO mode needs increasing stamps: each clip continues after the last one

    def __call__(self, frames: list[np.ndarray], fps: float, label: str) -> str | None:
        from shared.datasets.handshape import recording_problem
        from shared.hands.video import to_rgb

        if self._landmarker is None:
            from shared.hands.landmarker import HandLandmarks

            self._landmarker = HandLandmarks(self.variant)
        stamps = [round(self._clock_ms + i * 1000 / fps) for i in range(len(frames))]
        self._clock_ms += (len(frames) + 30) * 1000 / fps
        X = np.stack([self._landmarker.detect(to_rgb(f, False), ts) for f, ts in zip(frames, stamps, strict=True)])
        problem = recording_problem(X, no_sign=label == self.no_sign_label)
        if problem is None and self.label_check is not None:
            problem = self.label_check(X, fps, label)
        return problem

    def close(self) -> None:
        """Stop the landmarker (its graph's threads end here, not in a finaliser at interpreter exit)."""
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None

    def __enter__(self) -> HandCheck:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def capture(
    label: str, source: str, root: Path, count: int = 1, seconds: float = 2.0, countdown: float = 3.0,
    say: Callable[[str], None] = print, session: str | None = None, check: ClipCheck | None = None,
) -> list[Path]:  # fmt: skip
    """Record ``count`` clips of ``seconds`` each; returns their paths.

    A source that ends first raises ``CaptureError`` saying how many clips were made (they are kept).
    With ``session`` (who records, e.g. a signer's id) clips go to ``root/session/label/``, which
    ``extract`` reads as the session; without, to ``root/label/`` and the recording day is the session.
    With ``check`` each saved clip is judged at once and a problem said in one line (the clip is kept).
    """
    check_label(label)
    if session is not None:
        check_label(session, "session")
        root = root / session
    frames_iter, fps, release = open_source(source)
    live = source.isdigit() or source.startswith("/dev/video")
    written: list[Path] = []
    try:
        for i in range(count):
            if live and countdown > 0:
                for s in range(int(countdown), 0, -1):
                    say(f"clip {i + 1}/{count} of '{label}' in {s}...")
                    time.sleep(1)
            frames = [f for _, f in zip(range(max(1, round(seconds * fps))), frames_iter, strict=False)]
            if not frames:
                break
            path = next_clip_path(root, label)
            write_clip(frames, fps, path)
            written.append(path)
            total = len(list((root / label).glob("*.mp4")))
            say(f"saved {path} ({len(frames)} frames); '{label}' now has {total} clips")
            problem = check(frames, fps, label) if check else None
            if problem:
                say(f"warning: record {path} again: {problem}")
    finally:
        release()
    if len(written) < count:
        raise CaptureError(f"{source} ended after {len(written)} of {count} clips of '{label}' (those are kept)")
    return written
