"""Label noise by person: recordings a person filed under a sign that the other signers make otherwise.

Hobby datasets hold whole blocks like that (one person's `iloveyou` folder holds flat hands, two
people's `thanks` and `iloveyou` are swapped, another's `no` is an open palm). A network learns the
shared form of a sign in its first epochs and memorises such blocks only later, so after a short
warm-up a block the model still misnames, while the class has enough other signers to say what the
sign looks like, is left out of the rest of the training (and reported, so someone can look at the
recordings). Measured in docs/benchmarks.md ("Strangers").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LEARNED = 0.75  # a class is judged once the warmed-up model names its median person's block this well


@dataclass(frozen=True)
class SuspectBlock:
    """One person's recordings of one class that the warmed-up model mostly names otherwise."""

    session: str
    label: str
    sequences: int
    accuracy: float  # the warmed-up model's top-1 accuracy on them
    looks_like: str | None = None  # the sign the model names them most often instead
    looks_like_share: float = 0.0

    def describe(self) -> str:
        instead = f" ('{self.looks_like}' {self.looks_like_share:.0%})" if self.looks_like else ""
        return (
            f"left out {self.sequences} '{self.label}' sequences of session {self.session}: the model names "
            f"{self.accuracy:.0%} of them '{self.label}'{instead} after its warm-up, while it names most other "
            "people's right (another form of the sign, or mislabelled: look at these recordings)"
        )

    def evidence(self) -> dict:
        """The block as the audit reports one (``signstream audit``): session, class, kinds, evidence."""
        return {
            "session": self.session,
            "class": self.label,
            "sequences": self.sequences,
            "kinds": ["another_sign"],
            "evidence": {
                "another_sign": {
                    "looks_like": self.looks_like,
                    "share": round(self.looks_like_share, 3),
                    "own_label_share": round(self.accuracy, 3),
                    "judged_by": "the model being trained, after its warm-up",
                }
            },
            "left_out_by": "train (label noise by person)",
        }


def suspect_blocks(
    pred: np.ndarray,
    y: np.ndarray,
    sessions: np.ndarray,
    labels: list[str],
    below: float,
    min_sessions: int,
) -> tuple[np.ndarray, list[SuspectBlock]]:
    """Which training sequences to keep, and the blocks left out.

    A block is one session's sequences of one class. It is left out when the model's top-1 accuracy on
    it is under ``below`` while its class has at least ``min_sessions`` sessions and the model already
    names most of them right (median block accuracy at least ``LEARNED``): a sign only a few people
    recorded is never judged by the majority of so few, nor a class the warm-up has not learned yet
    (a rare class is learned later than a common one).

    Args:
        pred: (N,) the warmed-up model's top-1 on the training sequences; y: (N,) their classes;
        sessions: (N,) their sessions; labels: class names by index.
    Returns:
        ((N,) bool keep mask, the blocks left out, worst first).
    """
    keep = np.ones(len(y), bool)
    out: list[SuspectBlock] = []
    for c in np.unique(y):
        in_class = y == c
        people = np.unique(sessions[in_class])
        if len(people) < min_sessions:
            continue
        scored = []
        for s in people:
            block = in_class & (sessions == s)
            scored.append((float((pred[block] == c).mean()), str(s), block))
        if np.median([a for a, _, _ in scored]) < LEARNED:
            continue
        for acc, s, block in scored:
            if acc < below:
                keep &= ~block
                named = pred[block]
                others, counts = np.unique(named[named != c], return_counts=True)
                top = (None, 0.0)
                if len(others):
                    top = (labels[int(others[counts.argmax()])], float(counts.max() / block.sum()))
                out.append(SuspectBlock(s, labels[c], int(block.sum()), acc, *top))
    return keep, sorted(out, key=lambda b: (b.accuracy, b.session, b.label))
