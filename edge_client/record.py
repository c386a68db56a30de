"""Opt-in storage of sent windows (landmarks only, never pictures) for operators who turn it on.

Privacy: nothing is stored unless ``record_dir`` is set. Each window becomes one new ``.npz``
(landmarks (T, 126) float32, the answer); existing files are never overwritten.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np

from edge_client.answering import Answer
from edge_client.window import Window


class WindowRecorder:
    """Writes each answered window to ``folder/<time>-<n>.npz`` (created exclusively)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._n = itertools.count()
        self.written = 0

    def __call__(self, window: Window, answer: Answer) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        while True:
            path = self.folder / f"{stamp}-{next(self._n):06d}.npz"
            try:
                fh = open(path, "xb")  # noqa: SIM115 - exclusive create: never replaces a file
            except FileExistsError:
                continue
            break
        with fh:
            np.savez(fh, landmarks=window.frames.astype(np.float32), label=answer.label,
                     confidence=answer.confidence, answered_by=answer.answered_by,
                     model_version=answer.model_version, sign=window.sign)  # fmt: skip
        self.written += 1
