"""Synthetic landmark data: a kinematic hand moved along a trajectory per gesture class.

Each class is a handshape (flexion of the five fingers), a path of the wrist, a wrist twist and one
or two hands. Each synthetic signer (a session) has its own bone lengths, hand size (distance to the
camera), position in the frame and speed; each sample adds timing, amplitude and pixel noise, and
sometimes a dropped detection. Output follows the dataset layout, slot 0 being the signer's left
hand (the one on the image's right, as Holistic reports it), slot 1 the right (dominant) hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared.contract.spec import COORDS, HANDS, LANDMARKS
from shared.datasets.dataset import Dataset

# Finger bases as (angle from the hand's up axis in degrees, distance from the wrist) and the
# lengths of their three bones, for a right hand seen from the front with the thumb on image-left.
_FINGERS = [
    (-52.0, 0.35, (0.35, 0.30, 0.25)),  # thumb
    (-12.0, 0.95, (0.40, 0.25, 0.20)),  # index
    (0.0, 0.95, (0.45, 0.28, 0.22)),  # middle
    (12.0, 0.90, (0.42, 0.26, 0.20)),  # ring
    (25.0, 0.82, (0.33, 0.20, 0.18)),  # pinky
]

# name: (finger flexion thumb..pinky in 0..1, path, path amplitude, twist amplitude, two hands)
_CLASSES: list[tuple[str, tuple[float, ...], str, float, float, bool]] = [
    ("wave", (0.0, 0.0, 0.0, 0.0, 0.0), "side", 0.08, 0.5, False),
    ("circle", (0.5, 0.5, 0.5, 0.5, 0.5), "circle", 0.07, 0.0, False),
    ("fist-nod", (0.7, 1.0, 1.0, 1.0, 1.0), "updown", 0.06, 0.0, False),
    ("push", (0.0, 0.0, 0.0, 0.0, 0.0), "push", 0.05, 0.0, True),
    ("point-up", (0.8, 0.0, 1.0, 1.0, 1.0), "rise", 0.10, 0.0, False),
    ("pinch", (0.5, 0.6, 0.0, 0.0, 0.0), "still", 0.01, 0.2, False),
    ("swipe", (0.0, 0.0, 0.0, 0.0, 0.0), "swipe", 0.15, 0.0, False),
    ("clap", (0.0, 0.0, 0.0, 0.0, 0.0), "clap", 0.05, 0.0, True),
    ("victory", (0.8, 0.0, 0.0, 1.0, 1.0), "still", 0.01, 0.1, False),
    ("call-me", (0.0, 1.0, 1.0, 1.0, 0.0), "side", 0.04, 0.8, False),
    ("zigzag", (0.8, 0.0, 0.0, 1.0, 1.0), "zigzag", 0.08, 0.0, False),
    ("both-up", (0.0, 0.0, 0.0, 0.0, 0.0), "rise", 0.08, 0.0, True),
]
MAX_CLASSES = len(_CLASSES)


@dataclass(frozen=True)
class Signer:
    """A synthetic signer: body proportions and habits shared by all their sequences."""

    bone_scale: np.ndarray  # (5,) per finger
    hand_size: float  # wrist-to-middle-knuckle length in image units
    centre: np.ndarray  # (2,) where their dominant hand rests
    speed: float
    left_handed: bool


def class_names(n: int) -> list[str]:
    """The first ``n`` synthetic class names."""
    if not 2 <= n <= MAX_CLASSES:
        raise ValueError(f"synthetic classes must be 2..{MAX_CLASSES}, got {n}")
    return [c[0] for c in _CLASSES[:n]]


def hand_pose(flexion: np.ndarray, bone_scale: np.ndarray, size: float, angle: float) -> np.ndarray:
    """21 landmarks (x, y, z) of a right hand at the origin, before placement.

    Args:
        flexion: (5,) 0 = straight, 1 = curled, thumb..pinky.
        bone_scale: (5,) per-finger length factors.
        size: image units per hand unit.
        angle: in-plane rotation in radians (0 = fingers up).
    Returns:
        (21, 3) float64; y grows downwards as in image coordinates.
    """
    pts = np.zeros((LANDMARKS, COORDS))
    for f, (base_deg, base_len, bones) in enumerate(_FINGERS):
        theta = np.deg2rad(base_deg)
        direction = np.array([np.sin(theta), -np.cos(theta)])
        pos = np.array([*(direction * base_len), 0.0])
        pts[1 + 4 * f] = pos
        bend = 0.0
        for j, length in enumerate(bones):
            bend += flexion[f] * np.deg2rad(75 if f else 40) * (1.0 if j else 0.6)
            step = length * bone_scale[f]
            pos = pos + np.array([*(direction * step * np.cos(bend)), -step * np.sin(bend)])
            pts[2 + 4 * f + j] = pos
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    pts[:, :2] = pts[:, :2] @ rot.T
    return pts * size


def _path(kind: str, phase: np.ndarray, amp: float) -> np.ndarray:
    """(T, 2) wrist offset for a path, phase in 0..1."""
    two_pi = 2 * np.pi * phase
    zero = np.zeros_like(phase)
    paths = {
        "side": (np.sin(2 * two_pi), zero),
        "circle": (np.cos(two_pi), np.sin(two_pi)),
        "updown": (zero, np.sin(2 * two_pi)),
        "push": (zero, -np.sin(np.pi * phase)),
        "rise": (zero, 1.0 - 2 * phase),
        "still": (zero, zero),
        "swipe": (1.0 - 2 * phase, 0.2 * np.sin(np.pi * phase)),
        "clap": (np.abs(np.sin(2 * two_pi)), zero),
        "zigzag": (np.sign(np.sin(3 * two_pi)) * 0.6, 1.0 - 2 * phase),
    }
    dx, dy = paths[kind]
    return np.stack([dx, dy], axis=-1) * amp


def make_signer(rng: np.random.Generator) -> Signer:
    """Draw a signer's proportions and habits."""
    return Signer(
        bone_scale=rng.uniform(0.9, 1.1, 5),
        hand_size=rng.uniform(0.07, 0.13),
        centre=np.array([rng.uniform(0.3, 0.45), rng.uniform(0.45, 0.65)]),
        speed=rng.uniform(0.8, 1.25),
        left_handed=bool(rng.random() < 0.2),
    )


def sequence(cls: int, signer: Signer, frames: int, rng: np.random.Generator, noise: float = 0.003) -> np.ndarray:
    """One (frames, 126) float32 sequence of class ``cls`` by ``signer``."""
    _, flex, path, amp, twist, two_hands = _CLASSES[cls]
    start = rng.uniform(0.0, 0.15)
    phase = np.clip(start + np.linspace(0, 1, frames) * signer.speed * rng.uniform(0.85, 1.15), 0, 1.2)
    amp *= rng.uniform(0.8, 1.2)
    flexion = np.clip(np.array(flex) + rng.normal(0, 0.07, 5), 0, 1)
    offset = _path(path, phase, amp)
    out = np.zeros((frames, HANDS, LANDMARKS, COORDS))
    base_angle = rng.normal(0, 0.12)
    for t in range(frames):
        angle = base_angle + twist * np.sin(4 * np.pi * phase[t])
        right = hand_pose(flexion, signer.bone_scale, signer.hand_size, angle)
        wrist = signer.centre + offset[t]
        out[t, 1] = right + np.array([*wrist, 0.0])
        if two_hands:
            left = right.copy()
            left[:, 0] *= -1
            mirrored = np.array([1.0 - wrist[0], wrist[1]])
            if path == "clap":
                mirrored[0] = 1.0 - signer.centre[0] - offset[t, 0]
            out[t, 0] = left + np.array([*mirrored, 0.0])
    # Pixel noise on the hands in view only: a hand out of view is all zeros, as MediaPipe reports it.
    shown = np.any(out != 0, axis=(-2, -1))[..., None, None]  # (frames, hands, 1, 1)
    out[..., :2] += np.where(shown, rng.normal(0, noise, out[..., :2].shape), 0.0)
    out[..., 2] += np.where(shown[..., 0], rng.normal(0, noise / 2, out[..., 2].shape), 0.0)
    flat = out.reshape(frames, -1)
    if signer.left_handed:
        flat = flat.reshape(frames, HANDS, LANDMARKS, COORDS)
        flat = flat[:, ::-1].copy()
        present = np.any(flat != 0, axis=(-2, -1))
        flat[..., 0] = np.where(present[..., None], 1.0 - flat[..., 0], 0.0)
        flat = flat.reshape(frames, -1)
    drop = rng.random(frames) < 0.03
    flat[drop] = 0.0
    return flat.astype(np.float32)


def generate(classes: int = 6, per_class: int = 40, signers: int = 4, frames: int = 30, seed: int = 0) -> Dataset:
    """A synthetic dataset: ``per_class`` sequences per class, spread over ``signers`` sessions."""
    names = class_names(classes)
    if per_class < 1 or signers < 1:
        raise ValueError("per_class and signers must be at least 1")
    rng = np.random.default_rng(seed)
    people = [make_signer(rng) for _ in range(signers)]
    X, y, seq_id, session = [], [], [], []
    for c, name in enumerate(names):
        for i in range(per_class):
            s = i % signers
            X.append(sequence(c, people[s], frames, rng))
            y.append(c)
            seq_id.append(f"signer{s}/{name}/{i}")
            session.append(f"signer{s}")
    return Dataset(
        X=np.stack(X),
        y=np.array(y, np.int64),
        classes=names,
        seq_id=np.array(seq_id),
        session=np.array(session),
        length=np.full(len(y), frames, np.int64),
        sources=[f"signstream synthetic generator (seed {seed})"],
        licences=["generated, no licence needed"],
    )
