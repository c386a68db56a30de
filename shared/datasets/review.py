"""Review decisions, kept apart from the data: a JSON-lines file, one decision per person-and-sign block.

Each line: ``{"session": ..., "class": ..., "action": "keep" | "drop" | "relabel", "new_class": ...
(relabel only), "who": ..., "when": ...}``. A later line about the same block replaces an earlier
one, so a file can be appended to. Applying a review returns a new Dataset; the dataset file is
never touched.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shared.app.errors import DatasetError
from shared.datasets.dataset import Dataset

ACTIONS = ("keep", "drop", "relabel")


@dataclass(frozen=True)
class Decision:
    """What a reviewer decided about one session's recordings of one class."""

    session: str
    label: str
    action: str
    new_class: str | None = None
    who: str = ""
    when: str = ""


@dataclass
class Review:
    """A parsed review file: its decisions (last one per block) and the file's identity."""

    path: str
    sha256: str
    decisions: list[Decision] = field(default_factory=list)

    def describe(self, trained: list[str] | None = None) -> dict:
        """What a bundle records about the review it was trained with.

        Args:
            trained: the classes trained (None: all of the data's). A drop or relabel that cannot change
                what is trained (its class is not trained, nor a relabel's new class) is listed apart,
                in ``not_applied``, never as dropped or relabelled.
        """
        applied, not_applied = [], []
        for d in self.decisions:
            if trained is not None and d.label not in trained and d.new_class not in trained:
                not_applied.append(d)
            else:
                applied.append(d)
        return {
            "file": self.path,
            "sha256": self.sha256,
            "decisions": len(self.decisions),
            "dropped": [f"{d.session}/{d.label}" for d in applied if d.action == "drop"],
            "relabelled": [f"{d.session}/{d.label} -> {d.new_class}" for d in applied if d.action == "relabel"],
            "not_applied": [
                {"block": f"{d.session}/{d.label}", "action": d.action, "reason": "class not trained"}
                for d in not_applied
                if d.action != "keep"
            ],
        }


def load_review(path: str | Path) -> Review:
    """Read and check a review file; raise DatasetError naming the first bad line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DatasetError(f"{path}: cannot read the review file ({err.strerror or err})") from err
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DatasetError(f"{path}: a review file is UTF-8 JSON lines") from err
    latest: dict[tuple[str, str], Decision] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError as err:
            raise DatasetError(f"{path}:{n}: not JSON ({err.msg})") from err
        if not isinstance(d, dict):
            raise DatasetError(f"{path}:{n}: a decision is a JSON object")
        for key in ("session", "class", "action"):
            if not isinstance(d.get(key), str) or not d[key]:
                raise DatasetError(f"{path}:{n}: '{key}' must be a non-empty string")
        if d["action"] not in ACTIONS:
            raise DatasetError(f"{path}:{n}: action must be one of {', '.join(ACTIONS)}, got {d['action']!r}")
        new = d.get("new_class")
        if d["action"] == "relabel" and (not isinstance(new, str) or not new or new == d["class"]):
            raise DatasetError(f"{path}:{n}: relabel needs 'new_class', another class name")
        latest[(d["session"], d["class"])] = Decision(
            d["session"], d["class"], d["action"], new if d["action"] == "relabel" else None,
            str(d.get("who", "")), str(d.get("when", "")),
        )  # fmt: skip
    return Review(str(path), hashlib.sha256(raw).hexdigest(), list(latest.values()))


def apply_review(ds: Dataset, review: Review) -> Dataset:
    """A new Dataset with the review's drops and relabels applied (a relabel may add a class).

    Raises:
        DatasetError when a decision names a block the data does not hold (a review for other data).
    """
    keep = np.ones(len(ds), bool)
    y = ds.y.copy()
    classes = list(ds.classes)
    labels = ds.labels
    for d in review.decisions:
        block = (ds.session == d.session) & (labels == d.label)
        if not block.any():
            raise DatasetError(
                f"{review.path}: the data holds no '{d.label}' recordings of session {d.session!r} "
                "(a review of other data?)"
            )
        if d.action == "drop":
            keep &= ~block
        elif d.action == "relabel":
            if d.new_class not in classes:
                classes.append(d.new_class)
            y[block] = classes.index(d.new_class)
    out = Dataset(ds.X, y, classes, ds.seq_id, ds.session, ds.length, list(ds.sources), list(ds.licences), ds.fps)
    return out if keep.all() else out.subset(keep)
