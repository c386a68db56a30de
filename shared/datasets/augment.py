"""On-the-fly augmentation of raw landmark windows (before normalisation).

Every function takes and returns (T, 126) raw frames, keeps missing hands all zeros and draws its
randomness from the generator it is given.
"""

from __future__ import annotations

import numpy as np

from shared.contract.handedness import mirror
from shared.contract.normalize import hands_present
from shared.contract.spec import COORDS, HANDS, LANDMARKS


def _hands(frames: np.ndarray) -> np.ndarray:
    return frames.reshape(frames.shape[0], HANDS, LANDMARKS, COORDS)


def affine(frames: np.ndarray, rng: np.random.Generator, scale=0.15, rotate_deg=12.0, shift=0.08) -> np.ndarray:
    """Scale, rotate in the image plane and shift the whole scene about its centre."""
    out = _hands(frames.copy())
    present = hands_present(frames)
    if not present.any():
        return frames.copy()
    centre = out[..., :2][present].reshape(-1, 2).mean(axis=0)
    s = rng.uniform(1 - scale, 1 + scale)
    a = np.deg2rad(rng.uniform(-rotate_deg, rotate_deg))
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], np.float32) * s
    xy = (out[..., :2] - centre) @ rot.T + centre + rng.uniform(-shift, shift, 2)
    out[..., :2] = xy
    out[..., 2] *= s
    out[~present] = 0.0
    return out.reshape(frames.shape)


def time_warp(frames: np.ndarray, rng: np.random.Generator, strength=0.25) -> np.ndarray:
    """Resample along a random monotone time map (speed changes, start/end trimmed)."""
    t = frames.shape[0]
    start = rng.uniform(0, strength / 2) * (t - 1)
    end = (t - 1) - rng.uniform(0, strength / 2) * (t - 1)
    knots = np.sort(rng.uniform(start, end, 2))
    src = np.interp(np.linspace(0, 1, t), [0, 1 / 3, 2 / 3, 1], [start, *knots, end])
    idx = np.clip(np.rint(src).astype(int), 0, t - 1)
    return frames[idx].copy()


def dropout(frames: np.ndarray, rng: np.random.Generator, frame_p=0.08, hand_p=0.05) -> np.ndarray:
    """Blank random frames, and now and then one hand for a stretch of frames."""
    out = _hands(frames.copy())
    out[rng.random(frames.shape[0]) < frame_p] = 0.0
    if rng.random() < hand_p * frames.shape[0] / 4:
        h = rng.integers(HANDS)
        a = rng.integers(frames.shape[0])
        out[a : a + rng.integers(2, 6), h] = 0.0
    return out.reshape(frames.shape)


def augment(frames: np.ndarray, rng: np.random.Generator, mirror_p: float = 0.5) -> np.ndarray:
    """The training augmentation: mirror (slot swap), affine, time warp, dropout."""
    out = mirror(frames) if rng.random() < mirror_p else frames
    out = affine(out, rng)
    out = time_warp(out, rng)
    return dropout(out, rng)
