"""From per-window answers to the label people see: confident, stable, held for a moment.

Rules (each a setting):
- an answer counts as a vote for its label only when its confidence reaches the threshold
  (the model's own, unless overridden); otherwise it votes for "nothing";
- a label is shown once it has ``k`` of the last ``n`` votes within the current sign; a sign that
  ends with fewer than ``k`` windows is named when all of its windows voted for the same label
  (so a short sign with a single window is still named, and only once it is over);
- a new sign's votes start afresh; a shown label stays ``hold`` seconds after its last support, then
  the display goes blank;
- a label is supported by its own votes and, while its sign goes on, by every window of that sign
  that idle does not win: a sign's middle often reads unsure (the hands move between shapes), and
  the person has not stopped. So the display goes blank only ``hold`` seconds after the hands left
  (no window of the sign comes any more, or the sign ended) or after idle (a confident no-sign
  answer) won ``k`` of the last ``n`` windows (the hands rest in view).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from edge_client.answering import Answer


@dataclass(frozen=True)
class Shown:
    """What the display shows: ``label`` None means nothing; the rest describes the answer behind it."""

    label: str | None
    confidence: float = 0.0
    answered_by: str = ""
    model_name: str = ""
    model_version: str = ""


NOTHING = Shown(None)
IDLE = object()  # the vote of a confident no-sign answer: never shown, it lets a held label go


class Smoother:
    """Stateful and single-threaded: feed it answers and sign ends in window order.

    Every method returns the new ``Shown`` when what is shown changes, else None.
    """

    def __init__(
        self, k: int = 2, n: int = 3, hold: float = 1.5, threshold: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        if not 1 <= k <= n:
            raise ValueError("smoothing needs 1 <= k <= n")
        self.k, self.n, self.hold, self.threshold, self._clock = k, n, hold, threshold, clock
        self._votes: deque[tuple[object, Answer]] = deque(maxlen=n)
        self._sign_votes: list[object] = []
        self._sign: int | None = None
        self._shown_sign: int | None = None  # the sign the shown label was named in
        self.shown: Shown = NOTHING
        self._support_at = 0.0

    def _confident(self, a: Answer) -> bool:
        threshold = a.threshold if self.threshold is None else self.threshold
        return a.confidence >= threshold

    def _vote(self, a: Answer) -> object:
        """The answer's label, IDLE, or None (unsure)."""
        if not self._confident(a):
            return None
        return IDLE if a.no_sign else a.label

    def _show(self, a: Answer) -> Shown | None:
        self._support_at = self._clock()
        self._shown_sign = self._sign
        new = Shown(a.label, a.confidence, a.answered_by, a.model_name, a.model_version)
        changed = new.label != self.shown.label
        self.shown = new
        return new if changed else None

    def update(self, answer: Answer, sign: int) -> Shown | None:
        """One window's answer; ``sign`` is the window's sign number."""
        if sign != self._sign:
            self._sign = sign
            self._votes.clear()
            self._sign_votes = []
        vote = self._vote(answer)
        self._votes.append((vote, answer))
        self._sign_votes.append(vote)
        if isinstance(vote, str) and sum(v == vote for v, _ in self._votes) >= self.k:
            return self._show(answer)
        resting = sum(v is IDLE for v, _ in self._votes) >= self.k
        if self.shown.label is not None and self._shown_sign == sign and not resting:
            self._support_at = self._clock()  # mid-sign: the hands are still in view, the label stays
        return self.tick()

    def end_sign(self, sign: int) -> Shown | None:
        """Sign ``sign`` is over: name it if all its (fewer than k) windows agree."""
        if sign != self._sign:
            return self.tick()
        votes, self._sign_votes, self._sign, self._shown_sign = self._sign_votes, [], None, None
        last = self._votes[-1][1] if self._votes else None
        self._votes.clear()
        if (
            last is not None
            and 0 < len(votes) < self.k
            and isinstance(votes[0], str)
            and votes.count(votes[0]) == len(votes)
        ):
            return self._show(last)
        return self.tick()

    def tick(self) -> Shown | None:
        """Call now and then: blanks the display once the hold time has passed without support."""
        if self.shown.label is not None and self._clock() - self._support_at > self.hold:
            self.shown = NOTHING
            return NOTHING
        return None
