"""Handshapes and recording quality in numbers: pure numpy evidence a person can check by eye.

A finger's *ratio* is its fingertip's distance from the wrist divided by the wrist-to-middle-knuckle
length (landmarks 0 and 9): a folded finger reads about 0.6-1.0, an extended one about 1.7-2.3,
whatever the hand's size, distance or side. The *signing hand* of a sequence is the slot that holds
a hand in more frames (the right slot on a tie).
"""

from __future__ import annotations

import warnings

import numpy as np

from shared.contract.spec import COORDS, HANDS, LANDMARKS
from shared.model.predictor import NO_HAND_MAX_FRACTION

FINGERS = ("thumb", "index", "middle", "ring", "pinky")
TIPS = (4, 8, 12, 16, 20)
WRIST, INDEX_MCP, MIDDLE_MCP, PINKY_MCP = 0, 5, 9, 17
MIN_SIZE = 1e-3  # a wrist-to-knuckle length under this is a detection glitch, not a hand
MIN_EXTENT = 0.02  # landmarks all within this (image units) are a point, not a hand (1 in 735,740 real ones)
FOLDED_BELOW, EXTENDED_ABOVE = 1.2, 1.5  # between the two a finger is half bent
MIN_FRAMES = 10  # a recording shorter than this is too short to hold a sign
FROZEN_MIN_FRAMES, FROZEN_MAX_DISTINCT = 10, 2  # a hand in this many frames but at most this many distinct


def landmarks(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, T, 126) raw -> landmarks (N, T, 2, 21, 3) float32 and presence (N, T, 2) bool.

    A slot is present when its landmarks span at least ``MIN_EXTENT`` of the image: zeros, or a few
    pixels of noise around one spot, are no hand.
    """
    n, t = X.shape[:2]
    lm = np.asarray(X, np.float32).reshape(n, t, HANDS, LANDMARKS, COORDS)
    xy = lm[..., :2]
    extent = (xy.max(axis=-2) - xy.min(axis=-2)).max(axis=-1)
    return lm, extent >= MIN_EXTENT


def signing_slot(present: np.ndarray) -> np.ndarray:
    """(N, T, 2) presence -> (N,) int: the slot holding a hand in more frames (1, the right, on a tie)."""
    counts = present.sum(axis=1)
    return (counts[:, 1] >= counts[:, 0]).astype(np.int64)


def signing_hand(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The signing hand of every sequence, as if it were a right hand.

    Returns:
        landmarks (N, T, 21, 3) with x mirrored (1 - x) where the signing hand is in the left slot,
        its presence (N, T) bool, and the slot (N,) int.
    """
    lm, present = landmarks(X)
    slot = signing_slot(present)
    idx = np.arange(len(slot))
    hand = lm[idx, :, slot].copy()  # (N, T, 21, 3)
    here = present[idx, :, slot]
    left = slot == 0
    hand[left, :, :, 0] = np.where(here[left][..., None], 1.0 - hand[left, :, :, 0], 0.0)
    return hand, here, slot


def finger_ratios(hand: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Fingertip-to-wrist over wrist-to-middle-knuckle, per frame.

    Args:
        hand: (..., 21, 3) landmarks; present: (...) bool.
    Returns:
        (..., 5) float32, thumb..pinky, NaN where no hand (or a degenerate one).
    """
    xy = hand[..., :2]
    size = np.linalg.norm(xy[..., MIDDLE_MCP, :] - xy[..., WRIST, :], axis=-1)
    tips = np.linalg.norm(xy[..., TIPS, :] - xy[..., WRIST, None, :], axis=-1)
    ok = present & (size > MIN_SIZE)
    out = tips / np.where(ok, size, 1.0)[..., None]
    return np.where(ok[..., None], out, np.nan).astype(np.float32)


def _nanmedian(x: np.ndarray, axis: int) -> np.ndarray:
    """``np.nanmedian`` that returns NaN for an all-NaN slice without warning."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        valid = np.isfinite(x).any(axis=axis)
        filled = np.where(np.isfinite(x), x, 0.0)
        med = np.nanmedian(np.where(valid[(slice(None),) * axis + (None,)], x, filled), axis=axis)
    return np.where(valid, med, np.nan)


def sequence_handshape(X: np.ndarray) -> np.ndarray:
    """(N, T, 126) raw -> (N, 5): each finger's median ratio over the signing hand's frames (NaN: no hand)."""
    hand, present, _ = signing_hand(X)
    return _nanmedian(finger_ratios(hand, present), axis=1)


def palm_side(X: np.ndarray) -> np.ndarray:
    """(N,) the sign of the signing hand's palm in the image as recorded, +1 or -1 (0: no hand).

    The cross product of wrist->index knuckle and wrist->pinky knuckle flips sign when the image is
    mirrored or the other hand makes the same shape, so one person's recordings that all read the
    other way than everybody's point at a mirrored camera (slot kept) or the other hand (slot flipped).
    """
    lm, present = landmarks(X)
    slot = signing_slot(present)
    idx = np.arange(len(slot))
    hand, here = lm[idx, :, slot], present[idx, :, slot]
    a = hand[..., INDEX_MCP, :2] - hand[..., WRIST, :2]
    b = hand[..., PINKY_MCP, :2] - hand[..., WRIST, :2]
    cross = np.where(here, a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0], 0.0)
    return np.sign(np.sign(cross).sum(axis=1)).astype(np.int64)


def hand_share(X: np.ndarray, length: np.ndarray | None = None) -> np.ndarray:
    """(N,) share of each sequence's recorded frames holding any hand."""
    _, present = landmarks(X)
    any_hand = present.any(axis=-1)
    if length is None:
        return any_hand.mean(axis=1)
    frames = np.arange(X.shape[1])[None, :] < np.asarray(length)[:, None]
    return (any_hand & frames).sum(axis=1) / np.maximum(frames.sum(axis=1), 1)


def distinct_hand_frames(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N,) frames holding a hand, and how many of them differ from the frame before.

    A recording whose hand is one frame repeated (a frozen detection, a still image) has a hand in
    many frames but almost no change between them; real hands jitter by a pixel from frame to frame.
    """
    _, present = landmarks(X)
    flat = np.asarray(X, np.float32)
    any_hand = present.any(axis=-1)
    changed = np.any(flat[:, 1:] != flat[:, :-1], axis=-1) & any_hand[:, 1:]
    return any_hand.sum(axis=1), changed.sum(axis=1) + any_hand[:, 0]


def recording_problem(X: np.ndarray, no_sign: bool = False) -> str | None:
    """Why one recording should be made again, in a few words, or None if nothing is wrong with it.

    The audit's per-recording checks, for a volunteer who is still there: no hand, a hand in at most
    ``NO_HAND_MAX_FRACTION`` of the frames, one hand frame repeated, too short.

    Args:
        X: (T, 126) raw landmarks of one recording.
        no_sign: the recording is of nobody signing (the no-sign class): it needs no hand.
    """
    t = len(X)
    if t == 0:
        return "no frames"
    if not no_sign:
        with_hand = round(float(hand_share(X[None])[0]) * t)
        if with_hand == 0:
            return f"no hand in any of its {t} frames"
        if with_hand <= NO_HAND_MAX_FRACTION * t:
            return f"a hand in only {with_hand} of its {t} frames"
        frames, distinct = (int(v[0]) for v in distinct_hand_frames(X[None]))
        if frames >= FROZEN_MIN_FRAMES and distinct <= FROZEN_MAX_DISTINCT:
            return f"the hand is one picture repeated ({distinct} distinct of {frames} frames with a hand)"
    if t < MIN_FRAMES:
        return f"only {t} frames (a sign needs at least {MIN_FRAMES})"
    return None


def describe_fingers(ratios: np.ndarray) -> str:
    """A few words for (5,) ratios: which fingers are extended, folded or half bent."""
    words = []
    for name, r in zip(FINGERS, ratios, strict=True):
        if not np.isfinite(r):
            continue
        state = "extended" if r > EXTENDED_ABOVE else "folded" if r < FOLDED_BELOW else "half bent"
        words.append(f"{name} {state} ({r:.2f})")
    return ", ".join(words) or "no hand"


def summary_features(X: np.ndarray) -> np.ndarray:
    """(N, T, 126) raw -> (N, F) float32: a mirror-free summary of each sequence for a fast classifier.

    The signing hand is mirrored to a right hand; its landmarks relative to the wrist, divided by
    the wrist-to-middle-knuckle length, are averaged over each third of the sequence (shape over
    time), with their spread; then the finger ratios, the wrist's path (five points and how much it
    moves, in hand sizes), whether a second hand is there and where, and the share of frames with a hand.
    Missing values are 0.
    """
    n, t = X.shape[:2]
    hand, here, slot = signing_hand(X)
    lm, present = landmarks(X)
    wrist = hand[..., WRIST, :2]  # (N, T, 2)
    size = np.linalg.norm(hand[..., MIDDLE_MCP, :2] - wrist, axis=-1)
    ok = here & (size > MIN_SIZE)
    shape = (hand[..., :2] - wrist[..., None, :]) / np.where(ok, size, 1.0)[..., None, None]
    shape = np.where(ok[..., None, None], shape, np.nan).reshape(n, t, -1)  # (N, T, 42)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices (no hand) become 0 below
        thirds = [np.nanmean(part, axis=1) for part in np.array_split(shape, 3, axis=1)]
        spread = np.nanstd(shape, axis=1)
        ratios = _nanmedian(finger_ratios(hand, here), axis=1)
        scale = _nanmedian(np.where(ok, size, np.nan), axis=1)
        w = np.where(ok[..., None], wrist, np.nan)
        centre = np.nanmean(w, axis=1)
        rel = (w - centre[:, None]) / scale[:, None, None]
        path = np.concatenate([np.nanmean(p, axis=1) for p in np.array_split(rel, 5, axis=1)], axis=1)
        motion = np.nanmean(np.abs(np.diff(rel, axis=1)), axis=1)
        other = lm[np.arange(n), :, 1 - slot]
        other_here = present[np.arange(n), :, 1 - slot]
        other_wrist = np.where(other_here[..., None], other[..., WRIST, :2], np.nan)
        left = slot == 0  # the other hand mirrored like the signing one
        other_wrist[left, :, 0] = 1.0 - other_wrist[left, :, 0]
        other_rel = np.nanmean((other_wrist - centre[:, None]) / scale[:, None, None], axis=1)
    feats = np.concatenate(
        [
            *thirds,
            spread,
            ratios,
            path,
            motion,
            other_rel,
            other_here.mean(axis=1, keepdims=True),
            here.mean(axis=1, keepdims=True),
        ],
        axis=1,
    )
    return np.nan_to_num(feats, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
