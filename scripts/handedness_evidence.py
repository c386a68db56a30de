"""Evidence for the HandLandmarker-to-slot rule (docs/handedness.md).

Runs the HandLandmarker on the MSL clips in $SIGN_DATA_DIR/videos and compares, per clip, where each
hand label sits in the frame with where slot 0 and slot 1 sit in msl_msl150.npz (made from the same
clips with Holistic). Prints a table; run: python scripts/handedness_evidence.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shared.hands.task import ensure_task_file


def main() -> None:
    from mediapipe import Image, ImageFormat
    from mediapipe.tasks.python.core.base_options import BaseOptions
    from mediapipe.tasks.python.vision import HandLandmarker, HandLandmarkerOptions, RunningMode

    data = Path(os.environ.get("SIGN_DATA_DIR", "../shared/data"))
    ds = np.load(data / "landmarks" / "msl_msl150.npz")
    print("clip          label  frames  mean wrist x | dataset slot0 x  slot1 x (present share)")
    for clip in sorted((data / "videos").glob("*_001.mp4")):
        sign = clip.stem.split("_")[0]
        opts = HandLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(ensure_task_file("full"))),
            running_mode=RunningMode.VIDEO, num_hands=2,
        )  # fmt: skip
        xs: dict[str, list[float]] = {"Left": [], "Right": []}
        with HandLandmarker.create_from_options(opts) as lm:
            cap = cv2.VideoCapture(str(clip))
            fps = cap.get(cv2.CAP_PROP_FPS) or 30
            i = 0
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                res = lm.detect_for_video(Image(image_format=ImageFormat.SRGB, data=rgb), int(i * 1000 / fps))
                for hand, cats in zip(res.hand_landmarks, res.handedness, strict=True):
                    xs[cats[0].category_name].append(hand[0].x)
                i += 1
        X = ds["X"][ds["y"] == list(ds["classes"]).index(sign)].reshape(-1, 30, 2, 21, 3)
        pres = (X != 0).any(axis=(-1, -2))
        slot_x = [X[..., s, 0, 0][pres[..., s]].mean() if pres[..., s].any() else float("nan") for s in (0, 1)]
        for label in ("Left", "Right"):
            v = xs[label]
            mean = f"{np.mean(v):.3f}" if v else "  -  "
            print(f"{clip.name:<20} {label:<5} {len(v):>4}  {mean} | {slot_x[0]:.3f} ({pres[..., 0].mean():.2f})"
                  f"  {slot_x[1]:.3f} ({pres[..., 1].mean():.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
