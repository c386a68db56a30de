"""MediaPipe's hand landmarker graph on LiteRT: the same two models, for CPUs MediaPipe's library cannot run on.

mediapipe >= 1.0's aarch64 library is built for ARMv8.2 (LSE atomics, dot product, fp16) and dies
with SIGILL on a Raspberry Pi 4's Cortex-A72 (ARMv8.0), and the older wheels that run there have no
Python 3.13 build. This module runs the palm detector and the hand landmark model from the same
``hand_landmarker.task`` through LiteRT (``ai-edge-litert``, which runs on ARMv8.0) and reproduces the
Tasks graph around them (hand_detector_graph, hand_landmarks_detector_graph, hand_landmarker_graph
in VIDEO mode): letterboxed 192x192 palm detection, SSD anchors, weighted non-maximum suppression,
the rotated hand rectangle, a 224x224 crop for the landmark model, projection back to the image,
and tracking from the previous frame's landmarks so that palm detection runs only while fewer hands
than wanted are tracked. Constants are MediaPipe's (the graph options, not tuned here); the
agreement with MediaPipe on the real clips is measured in tests/shared/hands/test_litert_realdata.py.
"""

from __future__ import annotations

import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from shared.app.native_notices import native_notices_dropped
from shared.model.tflite import interpreter_class

DETECTOR, LANDMARKS = "hand_detector.tflite", "hand_landmarks_detector.tflite"
PALM_SIZE, HAND_SIZE = 192, 224
NUM_LANDMARKS = 21
# hand_detector_graph: SsdAnchorsCalculator and TensorsToDetectionsCalculator options.
_ANCHOR_STRIDES = (8, 16, 16, 16)
_NUM_KEYPOINTS = 7
_SCORE_CLIP = 100.0
_NMS_IOU = 0.3
# DetectionsToRects (keypoint 0 wrist -> keypoint 2 middle finger base) + RectTransformation. The Tasks
# hand detector sets the target angle through the field in radians to 90, so it is 90 radians (about
# 116.6 degrees), not the 90 degrees of the older graph; the landmarks are trained around what it
# does, and matching MediaPipe here is the point, so the same number is used.
_PALM_TARGET_ANGLE = 90.0
_PALM_SCALE, _PALM_SHIFT_Y = 2.6, -0.5
# hand_landmarks_to_rect: the landmarks that are steadier than the finger tips, and the transformation.
_ROI_LANDMARKS = (0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18)
_TRACK_SCALE, _TRACK_SHIFT_Y = 2.0, -0.1
_NORMALIZE_Z = 0.4
# HandLandmarksDeduplicationCalculator: a hand is a duplicate of an earlier one when at least 10 of its
# 21 landmarks lie within 0.2 of the larger "baseline" (longest side of wrist / index base / pinky base)
# and their landmark boxes overlap by an IoU above 0.2.
_DUPLICATE_RATIO, _DUPLICATE_MATCHES, _DUPLICATE_IOU = 0.2, 10, 0.2


@dataclass(frozen=True)
class Rect:
    """A rotated rectangle in normalised image coordinates (MediaPipe's NormalizedRect)."""

    x: float
    y: float
    w: float
    h: float
    rotation: float


@dataclass(frozen=True)
class Hand:
    """One hand: (21, 3) landmarks (x, y normalised to the image, z as MediaPipe scales it), handedness label."""

    landmarks: np.ndarray
    handedness: str
    handedness_score: float
    presence: float


def _normalize_radians(angle: float) -> float:
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def ssd_anchors() -> np.ndarray:
    """(2016, 2) anchor centres of the palm detector (fixed anchor size: width and height are 1)."""
    rows = []
    layer = 0
    while layer < len(_ANCHOR_STRIDES):
        stride = _ANCHOR_STRIDES[layer]
        per_cell = 0
        while layer < len(_ANCHOR_STRIDES) and _ANCHOR_STRIDES[layer] == stride:
            per_cell += 2  # aspect ratio 1.0 plus the interpolated scale
            layer += 1
        side = math.ceil(PALM_SIZE / stride)
        ys, xs = np.mgrid[0:side, 0:side]
        centres = np.stack([(xs + 0.5) / side, (ys + 0.5) / side], -1).reshape(-1, 1, 2)
        rows.append(np.repeat(centres, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(rows).astype(np.float32)


def crop(rgb: np.ndarray, rect: Rect, size: int, border: int = cv2.BORDER_CONSTANT) -> np.ndarray:
    """(size, size, 3) float32 in [0, 1]: the rotated ``rect`` of the frame (ImageToTensor).

    Outside the frame: zeros (the palm detector's letterbox) or ``cv2.BORDER_REPLICATE`` (the
    landmark model's crop, MediaPipe's default border).
    """
    h, w = rgb.shape[:2]
    box = ((rect.x * w, rect.y * h), (rect.w * w, rect.h * h), math.degrees(rect.rotation))
    src = cv2.boxPoints(box).astype(np.float32)  # bottom-left, top-left, top-right, bottom-right
    dst = np.array([[0, size], [0, 0], [size, 0], [size, size]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    out = cv2.warpPerspective(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=border)
    return out.astype(np.float32) * (1.0 / 255.0)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two (xmin, ymin, xmax, ymax) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou: float = _NMS_IOU):
    """MediaPipe's weighted non-maximum suppression, best first.

    Args:
        boxes: (N, 4) xmin, ymin, xmax, ymax; keypoints: (N, K, 2); scores: (N,).
    Returns:
        A list of (box (4,), keypoints (K, 2), score), each the score-weighted mean of its overlapping group.
    """
    order = list(np.argsort(-scores, kind="stable"))
    out = []
    while order:
        top = order[0]
        group = [i for i in order if _iou(boxes[top], boxes[i]) > iou]
        order = [i for i in order if i not in group]
        weights = scores[group][:, None]
        total = float(weights.sum())
        box = (boxes[group] * weights).sum(0) / total
        kps = (keypoints[group] * weights[:, :, None]).sum(0) / total
        out.append((box, kps, float(scores[top])))
    return out


def _transform(rect: Rect, width: int, height: int, scale: float, shift_y: float) -> Rect:
    """RectTransformationCalculator: shift along the rotated y axis, square on the long side, scale."""
    r = rect.rotation
    x = rect.x + (-height * rect.h * shift_y * math.sin(r)) / width
    y = rect.y + (height * rect.h * shift_y * math.cos(r)) / height
    side = max(rect.w * width, rect.h * height)
    return Rect(x, y, side / width * scale, side / height * scale, r)


def palm_rect(box: np.ndarray, keypoints: np.ndarray, width: int, height: int) -> Rect:
    """The hand's search rectangle from a palm detection (normalised box and keypoints)."""
    x0, y0 = keypoints[0, 0] * width, keypoints[0, 1] * height
    x1, y1 = keypoints[2, 0] * width, keypoints[2, 1] * height
    rotation = _normalize_radians(_PALM_TARGET_ANGLE - math.atan2(-(y1 - y0), x1 - x0))
    rect = Rect((box[0] + box[2]) / 2, (box[1] + box[3]) / 2, box[2] - box[0], box[3] - box[1], rotation)
    return _transform(rect, width, height, _PALM_SCALE, _PALM_SHIFT_Y)


def landmarks_rect(landmarks: np.ndarray, width: int, height: int) -> Rect:
    """The next frame's search rectangle from this frame's (21, 3) landmarks (hand_landmarks_to_rect)."""
    pts = landmarks[list(_ROI_LANDMARKS), :2].astype(np.float64)
    x0, y0 = pts[0, 0] * width, pts[0, 1] * height
    mid = (pts[4] + pts[8]) / 2  # index and ring finger bases, then with the middle finger's
    x1 = (mid[0] + pts[6, 0]) / 2 * width
    y1 = (mid[1] + pts[6, 1]) / 2 * height
    rotation = _normalize_radians(math.pi / 2 - math.atan2(-(y1 - y0), x1 - x0))
    lo, hi = pts.min(0), pts.max(0)
    centre = (lo + hi) / 2
    c, s = math.cos(-rotation), math.sin(-rotation)
    px = (pts[:, 0] - centre[0]) * width
    py = (pts[:, 1] - centre[1]) * height
    rx, ry = px * c - py * s, px * s + py * c
    pcx, pcy = (rx.min() + rx.max()) / 2, (ry.min() + ry.max()) / 2
    c, s = math.cos(rotation), math.sin(rotation)
    cx = pcx * c - pcy * s + width * centre[0]
    cy = pcx * s + pcy * c + height * centre[1]
    rect = Rect(cx / width, cy / height, (rx.max() - rx.min()) / width, (ry.max() - ry.min()) / height, rotation)
    return _transform(rect, width, height, _TRACK_SCALE, _TRACK_SHIFT_Y)


def _rect_box(rect: Rect) -> np.ndarray:
    return np.array([rect.x - rect.w / 2, rect.y - rect.h / 2, rect.x + rect.w / 2, rect.y + rect.h / 2])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _outputs_by_name(interpreter) -> list[int]:
    details = sorted(interpreter.get_output_details(), key=lambda d: (len(d["name"]), d["name"]))
    return [d["index"] for d in details]


def _baseline(points: np.ndarray) -> float:
    wrist, index, pinky = points[0], points[5], points[17]
    return float(max(np.linalg.norm(wrist - index), np.linalg.norm(index - pinky), np.linalg.norm(pinky - wrist)))


def deduplicate(hands: list[Hand], width: int, height: int) -> list[Hand]:
    """Drop each hand that repeats an earlier one (two search rectangles on one hand), keeping order."""
    kept: list[tuple[Hand, np.ndarray, np.ndarray, float]] = []
    for hand in hands:
        points = hand.landmarks[:, :2].astype(np.float64) * (width, height)
        box = np.concatenate([hand.landmarks[:, :2].min(0), hand.landmarks[:, :2].max(0)])
        base = _baseline(points)
        duplicate = any(
            int(np.sum(np.linalg.norm(points - other, axis=1) < max(base, other_base) * _DUPLICATE_RATIO))
            >= _DUPLICATE_MATCHES
            and _iou(box, other_box) > _DUPLICATE_IOU
            for _, other, other_box, other_base in kept
        )
        if not duplicate:
            kept.append((hand, points, box, base))
    return [k[0] for k in kept]


def read_task(path: str | Path) -> tuple[bytes, bytes]:
    """The palm detector and hand landmark models inside a ``hand_landmarker.task`` zip."""
    with zipfile.ZipFile(path) as task:
        return task.read(DETECTOR), task.read(LANDMARKS)


class LiteRTHandLandmarker:
    """Hands in a video's frames, as MediaPipe's HandLandmarker gives them in VIDEO mode, on LiteRT.

    Not thread-safe: one instance per frame stream (it keeps the previous frame's hands to track them).
    """

    def __init__(
        self, task_path: str | Path, num_hands: int = 2, min_detection: float = 0.5, min_presence: float = 0.5,
        min_tracking: float = 0.5, threads: int | None = None,
    ) -> None:  # fmt: skip
        detector, landmarks = read_task(task_path)
        threads = threads or min(4, os.cpu_count() or 1)
        interpreter = interpreter_class()
        with native_notices_dropped():  # LiteRT's delegate and buffer-alignment notices
            self._palm = interpreter(model_content=detector, num_threads=threads)
            self._hand = interpreter(model_content=landmarks, num_threads=threads)
            for model in (self._palm, self._hand):
                model.allocate_tensors()
        self._palm_in = self._palm.get_input_details()[0]["index"]
        # Outputs by name: Identity (regressors / landmarks), Identity_1 (scores / presence), Identity_2 (handedness).
        self._palm_out = _outputs_by_name(self._palm)
        self._hand_in = self._hand.get_input_details()[0]["index"]
        self._hand_out = _outputs_by_name(self._hand)
        self._anchors = ssd_anchors()
        self.num_hands, self.min_detection = num_hands, min_detection
        self.min_presence, self.min_tracking = min_presence, min_tracking
        self._tracked: list[Rect] = []

    def detect(self, rgb: np.ndarray) -> list[Hand]:
        """(H, W, 3) uint8 RGB frame -> the hands found (tracked ones first); the next call tracks them."""
        height, width = rgb.shape[:2]
        rects = list(self._tracked)
        if len(rects) < self.num_hands:
            for rect in self._palms(rgb):
                box = _rect_box(rect)
                if all(_iou(box, _rect_box(r)) < self.min_tracking for r in rects):
                    rects.append(rect)
        hands = [hand for hand in (self._landmarks(rgb, r) for r in rects[: self.num_hands]) if hand is not None]
        hands = deduplicate(hands, width, height)
        self._tracked = [landmarks_rect(h.landmarks, width, height) for h in hands]
        return hands

    def reset(self) -> None:
        """Forget the tracked hands (a new video)."""
        self._tracked = []

    def close(self) -> None:
        self._tracked = []

    def _palms(self, rgb: np.ndarray) -> list[Rect]:
        height, width = rgb.shape[:2]
        side = max(width, height)
        tensor = crop(rgb, Rect(0.5, 0.5, side / width, side / height, 0.0), PALM_SIZE)
        self._palm.set_tensor(self._palm_in, tensor[None])
        self._palm.invoke()
        raw_boxes, raw_scores = (self._palm.get_tensor(i)[0] for i in self._palm_out[:2])  # (2016, 18), (2016, 1)
        scores = _sigmoid(np.clip(raw_scores[:, 0], -_SCORE_CLIP, _SCORE_CLIP))
        keep = np.flatnonzero(scores >= self.min_detection)
        if keep.size == 0:
            return []
        raw, anchors = raw_boxes[keep] / PALM_SIZE, self._anchors[keep]
        cx, cy = raw[:, 0] + anchors[:, 0], raw[:, 1] + anchors[:, 1]
        boxes = np.stack([cx - raw[:, 2] / 2, cy - raw[:, 3] / 2, cx + raw[:, 2] / 2, cy + raw[:, 3] / 2], 1)
        keypoints = raw[:, 4 : 4 + 2 * _NUM_KEYPOINTS].reshape(-1, _NUM_KEYPOINTS, 2) + anchors[:, None, :]
        # Undo the letterbox: tensor coordinates -> image coordinates.
        scale = np.array([side / width, side / height])
        boxes = (boxes.reshape(-1, 2, 2) - 0.5) * scale + 0.5
        keypoints = (keypoints - 0.5) * scale + 0.5
        found = weighted_nms(boxes.reshape(-1, 4), keypoints, scores[keep])
        return [palm_rect(box, kps, width, height) for box, kps, _ in found[: self.num_hands]]

    def _landmarks(self, rgb: np.ndarray, rect: Rect) -> Hand | None:
        self._hand.set_tensor(self._hand_in, crop(rgb, rect, HAND_SIZE, cv2.BORDER_REPLICATE)[None])
        self._hand.invoke()
        raw = self._hand.get_tensor(self._hand_out[0])[0].reshape(NUM_LANDMARKS, 3).astype(np.float64)
        presence = float(self._hand.get_tensor(self._hand_out[1]).reshape(-1)[0])
        right = float(self._hand.get_tensor(self._hand_out[2]).reshape(-1)[0])
        if presence < self.min_presence:
            return None
        x, y = raw[:, 0] / HAND_SIZE - 0.5, raw[:, 1] / HAND_SIZE - 0.5
        c, s = math.cos(rect.rotation), math.sin(rect.rotation)
        points = np.stack(
            [
                (c * x - s * y) * rect.w + rect.x,
                (s * x + c * y) * rect.h + rect.y,
                raw[:, 2] / HAND_SIZE / _NORMALIZE_Z * rect.w,
            ],
            1,
        ).astype(np.float32)
        label, score = ("Right", right) if right > 0.5 else ("Left", 1.0 - right)
        return Hand(points, label, score, presence)
