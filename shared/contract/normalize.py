"""Feature normalisation and resampling: pure numpy, chosen by the model's spec.

Whoever runs a model (server, edge fallback, training) calls ``features(window, spec)``, so a
model trained with a new normalisation needs no client update, only this module.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from shared.app.errors import SpecMismatchError
from shared.contract.spec import COORDS, HANDS, LANDMARKS, MAX_INPUT_FRAMES, RAW_DIM, SUPPORTED_LAYOUT, FeatureSpec

WRIST = 0
MCP = (5, 9, 13, 17)  # knuckles: wrist-to-knuckle distance is the hand's size
MIN_HAND_SIZE = 1e-3
FEATURE_CLIP = 20.0


def hands_present(frames: np.ndarray) -> np.ndarray:
    """(T, 126) raw frames -> (T, 2) bool: which hand slots hold a hand."""
    hands = frames.reshape(frames.shape[0], HANDS, LANDMARKS * COORDS)
    return np.any(hands != 0, axis=-1)


def resample(frames: np.ndarray, length: int, any_length: bool = False) -> np.ndarray:
    """Resample a window of any length to ``length`` frames, linearly in time.

    A hand is interpolated only between two frames that both hold it; otherwise the nearer
    frame's value is taken, so a missing hand (zeros) is never blended with a real one.

    Args:
        frames: (T, 126) raw frames, 1 <= T <= MAX_INPUT_FRAMES (any T >= 1 with ``any_length``,
            for whole recordings rather than windows).
        length: frames wanted.
    Returns:
        (length, 126) float32.
    """
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim != 2 or frames.shape[1] != RAW_DIM:
        raise SpecMismatchError(f"a window must be (frames, {RAW_DIM}), got {frames.shape}")
    t = frames.shape[0]
    if t < 1 or (t > MAX_INPUT_FRAMES and not any_length):
        raise SpecMismatchError(f"a window must have 1..{MAX_INPUT_FRAMES} frames, got {t}")
    if t == length:
        return frames.copy()
    pos = np.linspace(0.0, t - 1, length) if length > 1 else np.zeros(1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, t - 1)
    w = (pos - lo).astype(np.float32)
    hands = frames.reshape(t, HANDS, LANDMARKS * COORDS)
    present = hands_present(frames)
    a, b = hands[lo], hands[hi]
    both = (present[lo] & present[hi])[..., None]
    nearest = np.where((w < 0.5)[:, None, None], a, b)
    blended = a + (b - a) * w[:, None, None]
    out = np.where(both, blended, nearest)
    return out.reshape(length, RAW_DIM).astype(np.float32)


def to_rate(frames: np.ndarray, fps: float | None, spec: FeatureSpec) -> np.ndarray:
    """Resample a recording made at ``fps`` to the spec's frame rate (unchanged if ``fps`` is None)."""
    if fps is None or abs(fps - spec.fps) < 1e-6:
        return frames
    return resample(frames, max(1, round(len(frames) * spec.fps / fps)), any_length=True)


def clip_windows(frames: np.ndarray, fps: float | None, spec: FeatureSpec, overlap: float = 2 / 3) -> list[np.ndarray]:
    """Cut a recording into the windows a live client would send.

    A recording of unknown rate, or no longer than 1.25 windows at the spec's rate, is one window.
    A longer one is brought to the spec's rate and cut into ``spec.frames`` windows overlapping by
    ``overlap``, the last one ending at the recording's end.

    Args:
        frames: (T, 126) raw frames recorded at ``fps``.
    Returns:
        windows, each (<= spec.frames, 126).
    """
    if fps is None:
        return [frames]
    frames = to_rate(frames, fps, spec)
    n, w = len(frames), spec.frames
    if n <= 1.25 * w:
        return [frames]
    stride = max(1, round(w * (1 - overlap)))
    starts = list(range(0, n - w + 1, stride))
    if starts[-1] != n - w:
        starts.append(n - w)
    return [frames[s : s + w] for s in starts]


def nanmedian_last_axis(x: np.ndarray) -> np.ndarray:
    """``np.nanmedian(x, axis=-1)`` for rows that hold at least one number, without its slow path.

    For short rows (under 600 values, every window here) numpy takes a masked-array route that cost
    0.67 ms of the 1.4 ms of one window's features. Sorting puts NaNs last; the median is then the
    middle of each row's valid prefix (the mean of the two middle values for an even count).
    """
    ordered = np.sort(x, axis=-1)
    valid = np.count_nonzero(~np.isnan(x), axis=-1)
    lo = np.take_along_axis(ordered, ((valid - 1) // 2)[..., None], axis=-1)[..., 0]
    hi = np.take_along_axis(ordered, (valid // 2)[..., None], axis=-1)[..., 0]
    return (lo + hi) / 2


def _length(d: np.ndarray) -> np.ndarray:
    """Lengths of 2-D vectors (..., 2) -> (...): ``np.linalg.norm(d, axis=-1)``'s bits, without its reduction over 2."""
    x, y = d[..., 0], d[..., 1]
    return np.sqrt(x * x + y * y)


def _hands(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Landmarks (..., T, H, 21, 3) float32, which hands are present (..., T, H), and each hand's size."""
    lead, t = frames.shape[:-2], frames.shape[-2]
    lm = frames.reshape(*lead, t, HANDS, LANDMARKS, COORDS).astype(np.float32)
    present = np.any(lm != 0, axis=(-2, -1))
    size = np.maximum(_length(lm[..., MCP, :2] - lm[..., WRIST, None, :2]).mean(axis=-1), MIN_HAND_SIZE)
    return lm, present, size


def _hand_frame(
    frames: np.ndarray, shape_coords: int, hands: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """The 'hand-frame' normalisation; v1 keeps x, y, z in the hand shape, v2 only x, y.

    Per hand and frame: the 21 landmarks relative to the wrist, divided by the hand's size (mean
    wrist-to-knuckle distance) -> 21 x ``shape_coords`` values, independent of where the hand is and
    how far from the camera. Then the wrist's x, y relative to the window's mean wrist position,
    divided by the window's median hand size -> 2 values (where the hands are relative to each other
    and over time). Then the wrist's x, y relative to the frame centre -> 2 values (where in the
    frame). Then 1.0 for a present hand. A missing hand is all zeros.

    Args:
        frames: (T, 126) raw frames, or a batch (N, T, 126) of windows of one length.
        hands: ``_hands(frames)`` when the caller has it already.
    Returns:
        (T, 2 * (21 * shape_coords + 5)) float32 (with the batch's leading N).
    """
    lead, t = frames.shape[:-2], frames.shape[-2]
    lm, present, size = hands if hands is not None else _hands(frames)
    wrist = lm[..., WRIST, :]  # (..., T, H, 3)
    shape = ((lm - wrist[..., None, :]) / size[..., None, None])[..., :shape_coords]
    # per window: mean wrist position and median hand size over the frames that hold a hand
    count = present.sum(axis=(-2, -1))  # (...)
    some = count > 0
    total = (wrist[..., :2] * present[..., None]).sum(axis=(-3, -2))  # (..., 2)
    centre = np.where(some[..., None], total / np.maximum(count, 1)[..., None], np.float32(0.5))
    sizes = np.where(present, size, np.nan).reshape(*lead, -1)
    sizes[~some] = 1.0  # a window without hands: scale 1 (and no all-NaN median)
    scale = np.where(some, np.maximum(nanmedian_last_axis(sizes), MIN_HAND_SIZE), 1.0)
    rel = (wrist[..., :2] - centre[..., None, None, :]) / scale[..., None, None, None]
    in_frame = wrist[..., :2] - 0.5
    flag = np.ones((*lead, t, HANDS, 1), np.float32)
    per_hand = np.concatenate([shape.reshape(*lead, t, HANDS, -1), rel, in_frame, flag], axis=-1)
    per_hand = np.where(present[..., None], per_hand, 0.0)
    return np.clip(per_hand.reshape(*lead, t, -1), -FEATURE_CLIP, FEATURE_CLIP).astype(np.float32)


_FINGER_CHAINS = np.array(
    [[0, 1, 2, 3, 4], [0, 5, 6, 7, 8], [0, 9, 10, 11, 12], [0, 13, 14, 15, 16], [0, 17, 18, 19, 20]]
)
_TIPS = [4, 8, 12, 16, 20]
_TIP_PAIRS = np.array([(a, b) for i, a in enumerate(_TIPS) for b in _TIPS[i + 1 :]])


def _hand_frame_v3(frames: np.ndarray) -> np.ndarray:
    """v2 plus, per hand, 15 joint bend cosines (2-D) and 10 fingertip distances in hand sizes.

    Args:
        frames: (T, 126) raw frames, or a batch (N, T, 126) of windows of one length.
    """
    hands = _hands(frames)
    base = _hand_frame(frames, 2, hands)
    lead, t = frames.shape[:-2], frames.shape[-2]
    lm, present, size = hands[0][..., :2], hands[1], hands[2]
    bones = np.diff(lm[..., _FINGER_CHAINS, :], axis=-2)  # (..., T, H, 5 fingers, 4 bones, 2)
    a, b = bones[..., :-1, :], bones[..., 1:, :]
    dot = a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1] + 0.0  # + 0.0: a zero is +0.0, as a sum's
    cosines = dot / (_length(a) * _length(b) + 1e-6)
    tips = lm[..., _TIP_PAIRS[:, 0], :] - lm[..., _TIP_PAIRS[:, 1], :]  # (..., T, H, 10, 2)
    dists = _length(tips) / size[..., None]
    extra = np.concatenate([cosines.reshape(*lead, t, HANDS, 15), dists], axis=-1)
    extra = np.where(present[..., None], extra, 0.0)
    per_hand_base = base.reshape(*lead, t, HANDS, -1)
    out = np.concatenate([per_hand_base, extra], axis=-1).reshape(*lead, t, -1)
    return np.clip(out, -FEATURE_CLIP, FEATURE_CLIP).astype(np.float32)


def _hand_frame_v3_mirror() -> np.ndarray:
    """Mirror for v3: v2's block, then 25 mirror-invariant values per hand that only swap hands."""
    v2 = _hand_frame_mirror(2)
    per2, extra = v2.shape[0] // HANDS, 25
    per = per2 + extra
    m = np.zeros((HANDS * per, HANDS * per), np.float32)
    for h in range(HANDS):
        d = HANDS - 1 - h
        m[h * per : h * per + per2, d * per : d * per + per2] = v2[h * per2 : (h + 1) * per2, d * per2 : (d + 1) * per2]
        m[h * per + per2 : (h + 1) * per, d * per + per2 : (d + 1) * per] = np.eye(extra)
    return m


def _hand_frame_mirror(shape_coords: int) -> np.ndarray:
    """(F, F) matrix M with features(mirror(w)) == features(w) @ M for 'hand-frame'."""
    n_shape = LANDMARKS * shape_coords
    per_hand = n_shape + 5
    sign = np.ones(per_hand, np.float32)
    sign[0:n_shape:shape_coords] = -1  # shape x
    sign[n_shape] = -1  # wrist x relative to the window centre
    sign[n_shape + 2] = -1  # wrist x relative to the frame centre
    m = np.zeros((HANDS * per_hand, HANDS * per_hand), np.float32)
    for h in range(HANDS):
        src, dst = h * per_hand, (HANDS - 1 - h) * per_hand
        m[src : src + per_hand, dst : dst + per_hand] = np.diag(sign)
    return m


# v2 drops z from the hand shape: Holistic's and the HandLandmarker's z disagree on the same clips
# (docs/training.md), so z tied a model to the extractor of its training data.
_MIRRORS = {
    ("hand-frame", 1): lambda: _hand_frame_mirror(3),
    ("hand-frame", 2): lambda: _hand_frame_mirror(2),
    ("hand-frame", 3): _hand_frame_v3_mirror,
}


def feature_mirror(spec: FeatureSpec) -> np.ndarray:
    """(F, F) matrix that turns a window's features into those of its mirror image (flip x, swap hands).

    Lets a model average its answer over a window and its mirror inside its own graph, so every
    runtime answers the same for a left- and a right-handed signer.
    """
    try:
        return _MIRRORS[(spec.normalization, spec.normalization_version)]()
    except KeyError as err:
        raise SpecMismatchError(
            f"no mirror for normalisation {spec.normalization} v{spec.normalization_version}"
        ) from err


_NORMALIZERS: dict[tuple[str, int], tuple[Callable[[np.ndarray], np.ndarray], int]] = {
    ("hand-frame", 1): (lambda f: _hand_frame(f, 3), HANDS * (LANDMARKS * 3 + 5)),
    ("hand-frame", 2): (lambda f: _hand_frame(f, 2), HANDS * (LANDMARKS * 2 + 5)),
    ("hand-frame", 3): (_hand_frame_v3, HANDS * (LANDMARKS * 2 + 5 + 25)),
}


def known_normalizations() -> set[tuple[str, int]]:
    """(name, version) pairs this installation can compute."""
    return set(_NORMALIZERS)


def check_supported(spec: FeatureSpec, what: str) -> None:
    """Raise SpecMismatchError unless this code can run models with ``spec``.

    The raw layout must be the one on the wire and the normalisation must be one this
    installation knows (below).
    """
    SUPPORTED_LAYOUT.check_same_layout(spec, what)
    key = (spec.normalization, spec.normalization_version)
    if key not in known_normalizations():
        known = ", ".join(f"{n} v{v}" for n, v in sorted(known_normalizations()))
        raise SpecMismatchError(
            f"{what} uses normalisation {key[0]} v{key[1]}, which this installation lacks (knows: {known})"
        )


def _normalizer(spec: FeatureSpec) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
    try:
        return _NORMALIZERS[(spec.normalization, spec.normalization_version)]
    except KeyError as err:
        raise SpecMismatchError(f"unknown normalisation {spec.normalization} v{spec.normalization_version}") from err


def feature_dim(spec: FeatureSpec) -> int:
    """Values per frame after normalisation."""
    return _normalizer(spec)[1]


def features(window: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """Raw window (T, 126), any 1 <= T <= MAX_INPUT_FRAMES -> model input (spec.frames, feature_dim)."""
    fn, _ = _normalizer(spec)
    return fn(resample(window, spec.frames))


def features_batch(windows: np.ndarray | list[np.ndarray], spec: FeatureSpec) -> np.ndarray:
    """A batch of raw windows (each (T_i, 126)) -> (N, spec.frames, feature_dim) float32.

    Each window is resampled on its own, then the whole batch is normalised at once (the same
    numbers as ``features`` window by window, a fraction of the time).
    """
    fn, dim = _normalizer(spec)
    raw = np.empty((len(windows), spec.frames, RAW_DIM), np.float32)
    for i, w in enumerate(windows):
        raw[i] = resample(w, spec.frames)
    if not len(windows):
        return np.empty((0, spec.frames, dim), np.float32)
    return fn(raw)
