"""Audit a dataset by person-and-sign block: what is wrong with which recordings, with the evidence.

A block is one session's (one person's) sequences of one class. Every check is cheap and gives the
numbers a person needs to agree or not:

- ``another_sign``: a fast classifier (extra trees on ``shared.datasets.handshape.summary_features``), trained
  in person-grouped folds so it never saw the block's person, names the block as one other sign most
  of the time; judged only for signs at least ``min_people`` people recorded.
- ``swapped``: two blocks of one person that each look like the other's sign.
- ``handshape``: the block's median finger ratios sit far from the other people's for that sign
  (which fingers, by how much).
- ``no_hand`` / ``few_hands`` / ``frozen`` / ``too_short``: recordings without a hand, with a hand in
  too few frames, with one hand frame repeated, or shorter than ``min_frames``.
- ``duplicate``: recordings identical to another one, of the same person or of someone else.
- ``person_apart``: a person whose signing hand reads the other way than everybody's for the same
  signs (the other hand, a mirrored camera, or the slots swapped).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from shared.datasets import handshape as hs
from shared.datasets.dataset import Dataset
from shared.model.predictor import NO_HAND_MAX_FRACTION

log = logging.getLogger(__name__)

KINDS = ("another_sign", "swapped", "handshape", "no_hand", "few_hands", "frozen", "too_short", "duplicate",
         "person_apart")  # fmt: skip


@dataclass(frozen=True)
class AuditConfig:
    """Thresholds of the audit; the defaults keep the 98-signer file's flagged share near 5% (docs/training.md)."""

    seed: int = 0
    folds: int = 5
    trees: int = 120
    jobs: int = 2
    min_people: int = 6  # a sign is judged against the others only when this many people recorded it
    another_below: float = 0.2  # the block's own label named at most this often ...
    another_share: float = 0.6  # ... and one other sign at least this often
    learned: float = 0.5  # ... in a sign whose median person's block is named right at least this often
    finger_apart: float = 0.6  # a finger differs by this much ratio (folded ~0.8 vs extended ~2.0) ...
    finger_spread: float = 3.0  # ... and by this many (scaled) median absolute deviations of the others
    no_sign_label: str | None = "idle"  # nobody signs: no handshape, no hand needed
    few_hands_share: float = 0.5  # share of a block's sequences with a hand in <= 10% of frames
    frozen_share: float = 0.5  # share of a block's sequences whose hand is one frame repeated
    min_frames: int = hs.MIN_FRAMES  # a recording shorter than this is too short to hold a sign
    duplicate_mae: float = 2e-4  # mean |difference| of raw coordinates: under half a float16 step
    duplicate_share: float = 0.2  # share of a block's sequences with a duplicate
    apart_share: float = 0.8  # a person's sequences reading the other way than their sign's majority
    apart_majority: float = 0.7  # ... where that majority holds for at least this share of everybody


def _blocks(ds: Dataset) -> list[tuple[str, int, np.ndarray]]:
    """(session, class, indices) of every block, in a stable order."""
    out = []
    for s in np.unique(ds.session):
        in_s = ds.session == s
        for c in np.unique(ds.y[in_s]):
            out.append((str(s), int(c), np.flatnonzero(in_s & (ds.y == c))))
    return out


def _cross_predict(
    ds: Dataset, feats: np.ndarray, judged: np.ndarray, config: AuditConfig, tick: Callable[[], None]
) -> np.ndarray:
    """(N,) class named for every sequence of a judged class by a model that never saw its person; -1 elsewhere."""
    from sklearn.ensemble import ExtraTreesClassifier

    pred = np.full(len(ds), -1, np.int64)
    idx = np.flatnonzero(judged)
    people = np.unique(ds.session[idx])
    rng = np.random.default_rng(config.seed)
    fold_of = dict(zip(rng.permutation(people), np.arange(len(people)) % config.folds, strict=True))
    folds = np.array([fold_of[s] for s in ds.session[idx]])
    for f in range(config.folds):
        test, train = idx[folds == f], idx[folds != f]
        if len(test) and len(np.unique(ds.y[train])) > 1:
            model = ExtraTreesClassifier(
                config.trees, min_samples_leaf=2, n_jobs=config.jobs, random_state=config.seed + f
            )
            pred[test] = model.fit(feats[train], ds.y[train]).predict(feats[test])
        tick()
    return pred


def _duplicates(ds: Dataset, share: np.ndarray, config: AuditConfig) -> np.ndarray:
    """(N,) index of an identical recording (mean |difference| under ``duplicate_mae``), -1 if none.

    Candidates are nearest neighbours in a 24-dimensional PCA of the raw coordinates, checked on all of them.
    """
    from sklearn.decomposition import PCA
    from sklearn.neighbors import NearestNeighbors

    out = np.full(len(ds), -1, np.int64)
    ok = np.flatnonzero(share >= 0.5)  # sequences without a hand are all alike: judged by no_hand instead
    if len(ok) < 3:
        return out
    flat = ds.X[ok].reshape(len(ok), -1).astype(np.float32)
    z = PCA(min(24, len(ok) - 1, flat.shape[1]), random_state=config.seed).fit_transform(flat)
    _, nn = NearestNeighbors(n_neighbors=min(4, len(ok))).fit(z).kneighbors(z)
    for k in range(nn.shape[1]):  # an identical pair ties with the sequence itself, in either order
        mae = np.abs(flat - flat[nn[:, k]]).mean(axis=1)
        hit = (mae < config.duplicate_mae) & (out[ok] < 0) & (nn[:, k] != np.arange(len(ok)))
        out[ok[hit]] = ok[nn[hit, k]]
    return out


def _typical(ds: Dataset, ratios: np.ndarray, c: int, not_session: str | None) -> int | None:
    """Index of a typical sequence of class ``c`` (handshape nearest the class median), from another person."""
    idx = np.flatnonzero((ds.y == c) & (ds.session != not_session) & np.isfinite(ratios).all(axis=1))
    if not len(idx):
        return None
    med = np.median(ratios[idx], axis=0)
    return int(idx[np.argmin(np.abs(ratios[idx] - med).sum(axis=1))])


def audit(ds: Dataset, config: AuditConfig | None = None, progress: Callable[[str, int], None] | None = None) -> dict:
    """Audit every person-and-sign block of ``ds``.

    Args:
        progress: called with (step name, steps done so far) as the audit goes (``audit_steps(config)`` in all).
    Returns:
        a JSON-ready dict: ``flagged`` (one object per flagged block: session, class, sequences,
        kinds, evidence per kind, a one-line ``summary`` and sequence indices ``examples`` for the
        report), ``people_apart``, ``per_person``, ``per_sign``, counts and the config.
    """
    config = config or AuditConfig()
    start = time.monotonic()
    done = 0

    def tick(step: str = "") -> None:
        nonlocal done
        done += 1
        if progress:
            progress(step, done)

    names = list(ds.classes)
    blocks = _blocks(ds)
    share = hs.hand_share(ds.X, ds.length)
    ratios = hs.sequence_handshape(ds.X)
    hand_frames, distinct = hs.distinct_hand_frames(ds.X)
    _, present = hs.landmarks(ds.X)
    slot, palm = hs.signing_slot(present), hs.palm_side(ds.X)
    feats = hs.summary_features(ds.X)
    tick("features")

    people_per_class = {c: len(np.unique(ds.session[ds.y == c])) for c in range(len(names))}
    judged_class = {c for c, k in people_per_class.items() if k >= config.min_people}
    no_sign = names.index(config.no_sign_label) if config.no_sign_label in names else None
    pred = _cross_predict(ds, feats, np.isin(ds.y, list(judged_class)), config, lambda: tick("cross-validation"))
    dup = _duplicates(ds, share, config)
    tick("duplicates")

    evidence: dict[tuple[str, int], dict] = {}

    def flag(s: str, c: int, kind: str, ev: dict) -> None:
        evidence.setdefault((s, c), {})[kind] = ev

    seen_by_class: dict[int, list[float]] = {}  # own-label share of every block, by class
    for _s, c, idx in blocks:
        seen = idx[share[idx] > NO_HAND_MAX_FRACTION]
        if c in judged_class and len(seen):
            seen_by_class.setdefault(c, []).append(float((pred[seen] == c).mean()))
    # a sign the cheap models do not tell apart from another one for most people (a variant of it, as
    # goodbye is of hello) says nothing about one person's block: judged only once learned
    learned = {c for c, shares in seen_by_class.items() if np.median(shares) >= config.learned}
    looks: dict[tuple[str, int], tuple[int, float]] = {}
    for s, c, idx in blocks:
        n = len(idx)
        seen = idx[share[idx] > NO_HAND_MAX_FRACTION]  # a recording without a hand is judged as no_hand
        if c in judged_class and c != no_sign and len(seen):
            n = len(seen)
            named = pred[seen]
            own = float((named == c).mean())
            others, counts = np.unique(named[named != c], return_counts=True)
            if len(others):
                top = int(others[counts.argmax()])
                top_share = float(counts.max() / n)
                looks[(s, c)] = (top, top_share)
                if own <= config.another_below and top_share >= config.another_share and c in learned:
                    flag(s, c, "another_sign", {"looks_like": names[top], "share": round(top_share, 3),
                                                "own_label_share": round(own, 3), "judged_by": "people-grouped "
                                                f"{config.folds}-fold extra trees on handshape summaries"})  # fmt: skip
        n = len(idx)
        if c != no_sign:
            nohand = share[idx] <= NO_HAND_MAX_FRACTION
            if nohand.all():
                flag(s, c, "no_hand", {"sequences_without_hand": int(nohand.sum()), "of": n})
            elif nohand.mean() >= config.few_hands_share:
                flag(s, c, "few_hands", {"sequences_hand_in_at_most_10pct_frames": int(nohand.sum()), "of": n,
                                         "median_hand_share": round(float(np.median(share[idx])), 3)})  # fmt: skip
            frozen = (hand_frames[idx] >= hs.FROZEN_MIN_FRAMES) & (distinct[idx] <= hs.FROZEN_MAX_DISTINCT)
            if frozen.mean() >= config.frozen_share:
                flag(s, c, "frozen", {"frozen_sequences": int(frozen.sum()), "of": n,
                                      "median_distinct_hand_frames": float(np.median(distinct[idx]))})  # fmt: skip
        if np.median(ds.length[idx]) < config.min_frames:
            median = float(np.median(ds.length[idx]))
            flag(s, c, "too_short", {"median_frames": median, "min_frames": config.min_frames})
        dups = dup[idx] >= 0
        if dups.mean() >= config.duplicate_share:
            other = dup[idx][dups]
            within = int((ds.session[other] == s).sum())
            flag(s, c, "duplicate", {"sequences_with_a_duplicate": int(dups.sum()), "of": n,
                                     "within_person": within, "across_people": int(len(other) - within),
                                     "copies_of": sorted({f"{ds.session[o]}/{names[ds.y[o]]}" for o in other})[:5],
                                     "example": [str(ds.seq_id[idx][dups][0]), str(ds.seq_id[other[0]])]})  # fmt: skip
    tick("checks")

    for (s, c), (top, top_share) in looks.items():  # swapped: each of two blocks looks like the other's sign
        back = looks.get((s, top))
        if top_share >= 0.5 and back and back[0] == c and back[1] >= 0.5 and c < top:
            for a, b, sh in ((c, top, top_share), (top, c, back[1])):
                flag(s, a, "swapped", {"with": names[b], "looks_like_share": round(sh, 3)})

    _handshapes(ds, blocks, ratios, judged_class - {no_sign}, config, flag)
    people_apart = _people_apart(ds, slot, palm, share, no_sign, config)
    for p in people_apart:
        for s, c, _ in blocks:
            if s == p["session"] and c != no_sign:
                flag(s, c, "person_apart", {k: v for k, v in p.items() if k != "session"})
    tick("handshapes")

    flagged = []
    for s, c, idx in blocks:
        ev = evidence.get((s, c))
        if not ev:
            continue
        kinds = [k for k in KINDS if k in ev]
        top = looks.get((s, c))
        looks_like = ev.get("swapped", ev.get("another_sign", {})).get("with") or ev.get("another_sign", {}).get(
            "looks_like"
        )
        if looks_like is None and top and top[1] >= 0.5:
            looks_like = names[top[0]]
        own = _typical(ds, ratios, c, s)
        alike = _typical(ds, ratios, names.index(looks_like), s) if looks_like else None
        sample = idx[np.argsort(-share[idx], kind="stable")[0]]
        flagged.append(
            {
                "session": s,
                "class": names[c],
                "sequences": len(idx),
                "kinds": kinds,
                "evidence": ev,
                "looks_like": looks_like,
                "handshape": hs.describe_fingers(np.nanmedian(ratios[idx], axis=0))
                if np.isfinite(ratios[idx]).any()
                else "no hand",
                "summary": _summary(names[c], kinds, ev),
                "examples": {"block": int(sample), "labelled_sign": own, "looks_like": alike},
            }
        )
    per_person: dict[str, dict[str, int]] = {}
    per_sign: dict[str, dict[str, int]] = {}
    flagged_keys = {(f["session"], f["class"]) for f in flagged}
    for s, c, _ in blocks:
        for table, key in ((per_person, s), (per_sign, names[c])):
            row = table.setdefault(key, {"blocks": 0, "flagged": 0})
            row["blocks"] += 1
            row["flagged"] += (s, names[c]) in flagged_keys
    kind_counts = {k: sum(k in f["kinds"] for f in flagged) for k in KINDS}
    return {
        "blocks": len(blocks),
        "sequences": len(ds),
        "people": len(np.unique(ds.session)),
        "classes": names,
        "judged_classes": [names[c] for c in sorted(judged_class)],
        "flagged_blocks": len(flagged),
        "flagged_share": round(len(flagged) / max(len(blocks), 1), 4),
        "flagged_sequences": int(sum(f["sequences"] for f in flagged)),
        "kinds": kind_counts,
        "flagged": flagged,
        "people_apart": people_apart,
        "per_person": per_person,
        "per_sign": per_sign,
        "cross_validated_accuracy": round(float((pred == ds.y)[pred >= 0].mean()), 4) if (pred >= 0).any() else None,
        "config": asdict(config),
        "seconds": round(time.monotonic() - start, 1),
    }


def audit_steps(config: AuditConfig) -> int:
    """How many times ``audit`` calls its progress callback."""
    return 1 + config.folds + 3


def _handshapes(ds, blocks, ratios, judged, config: AuditConfig, flag) -> None:
    """Flag blocks whose median finger ratios sit far from the other people's blocks of the same sign."""
    by_class: dict[int, list[tuple[str, np.ndarray]]] = {}
    for s, c, idx in blocks:
        finite = ratios[idx][np.isfinite(ratios[idx]).all(axis=1)]
        if c in judged and len(finite):
            by_class.setdefault(c, []).append((s, np.median(finite, axis=0)))
    for c, rows in by_class.items():
        if len(rows) < config.min_people:
            continue
        table = np.stack([r for _, r in rows])
        for i, (s, block) in enumerate(rows):
            others = np.delete(table, i, axis=0)
            ref = np.median(others, axis=0)
            mad = 1.4826 * np.median(np.abs(others - ref), axis=0)
            diff = block - ref
            # a finger that is folded in one and not in the other; two hands that only read longer
            # all over (a hand tilted towards the camera shortens its palm) are the same handshape
            folded = np.minimum(block, ref) < hs.FOLDED_BELOW
            far = (np.abs(diff) >= config.finger_apart) & (np.abs(diff) >= config.finger_spread * mad) & folded
            if far.any():
                flag(s, c, "handshape", {
                    "fingers": {hs.FINGERS[f]: {"block": round(float(block[f]), 2), "others": round(float(ref[f]), 2)}
                                for f in np.flatnonzero(far)},
                    "block": hs.describe_fingers(block), "others": hs.describe_fingers(ref),
                })  # fmt: skip


def _people_apart(ds: Dataset, slot, palm, share, no_sign, config: AuditConfig) -> list[dict]:
    """People whose signing hand reads the other way (slot, palm side) than their signs' majority."""
    signing = (share > NO_HAND_MAX_FRACTION) & (ds.y != (no_sign if no_sign is not None else -1)) & (palm != 0)
    majority: dict[int, tuple[int, int]] = {}
    for c in np.unique(ds.y[signing]):
        m = signing & (ds.y == c)
        if len(np.unique(ds.session[m])) < config.min_people:
            continue
        pairs, counts = np.unique(np.stack([slot[m], palm[m]], axis=1), axis=0, return_counts=True)
        if counts.max() / counts.sum() >= config.apart_majority:
            majority[int(c)] = tuple(int(v) for v in pairs[counts.argmax()])
    out = []
    for s in np.unique(ds.session):
        m = signing & (ds.session == s) & np.isin(ds.y, list(majority))
        if m.sum() < 5:
            continue
        want_slot = np.array([majority[int(c)][0] for c in ds.y[m]])
        want_palm = np.array([majority[int(c)][1] for c in ds.y[m]])
        slot_flip = float((slot[m] != want_slot).mean())
        palm_flip = float((palm[m] != want_palm).mean())
        if max(slot_flip, palm_flip) < config.apart_share:
            continue
        if slot_flip >= config.apart_share and palm_flip >= config.apart_share:
            which = "other_hand"
            why = "the signing hand reads as the other hand (other slot, mirrored palm): a signer using the other " \
                  "hand, or a mirrored camera that also swapped the slots"  # fmt: skip
        elif palm_flip >= config.apart_share:
            which = "mirrored_camera"
            why = "the palm reads mirrored while the hand stays in the usual slot: a mirrored (selfie) camera image"
        else:
            which = "slots_swapped"
            why = "the hand sits in the other slot with the usual palm: left and right hand labels swapped"
        out.append({"session": str(s), "which": which, "why": why, "sequences": int(m.sum()),
                    "other_slot_share": round(slot_flip, 3), "mirrored_palm_share": round(palm_flip, 3)})  # fmt: skip
    return out


def _summary(label: str, kinds: list[str], ev: dict) -> str:
    """One line a person reads first."""
    parts = []
    if "swapped" in ev:
        parts.append(f"swapped with this person's '{ev['swapped']['with']}'")
    elif "another_sign" in ev:
        a = ev["another_sign"]
        parts.append(f"made like '{a['looks_like']}' ({a['share']:.0%} of it; '{label}' {a['own_label_share']:.0%})")
    if "handshape" in ev:
        fingers = ", ".join(f"{k} {v['block']:.2f} vs {v['others']:.2f}" for k, v in ev["handshape"]["fingers"].items())
        parts.append(f"handshape apart ({fingers})")
    for kind in ("no_hand", "few_hands", "frozen", "too_short", "duplicate"):
        if kind in ev:
            parts.append(kind.replace("_", " "))
    if "person_apart" in ev:
        parts.append(f"person apart: {ev['person_apart']['which'].replace('_', ' ')}")
    return "; ".join(parts)


def handshape_evidence(ds: Dataset, session: str, label: str, config: AuditConfig | None = None) -> dict | None:
    """The ``handshape`` evidence of one block against the other people's blocks of its sign, if it differs."""
    config = config or AuditConfig()
    c = ds.classes.index(label)
    in_class = np.flatnonzero(ds.y == c)
    sub = ds.subset(in_class)
    ratios = hs.sequence_handshape(sub.X)
    found: dict = {}
    _handshapes(sub, _blocks(sub), ratios, {c}, config, lambda s, _c, _k, ev: found.update({s: ev}))
    return found.get(session)
