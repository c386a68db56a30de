"""Does the edge stack run on this machine? Hands on a few frames of a clip, then one answer from a bundle.

    python -m edge_client.selfcheck --clip CLIP.mp4 --bundle BUNDLE_DIR [--frames 3] [--backend auto]

Runs the kiosk's own code (``HandLandmarks``, ``video_frames``, ``LocalModel``) and prints one JSON
line: the machine, the CPU features MediaPipe's library would lack, the hand backend chosen, hands
found per frame with their seconds, and the bundle's answer. Exit 0 when hands were found in at least
one frame and the bundle answered with one of its labels; 1 otherwise; 2 on bad arguments. Used by
CI under emulation (scripts/arm64_smoke.sh) and by an operator on a new Raspberry Pi.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path


def _versions(backend: str) -> dict[str, str]:
    import cv2
    import numpy as np

    out = {"numpy": np.__version__, "cv2": cv2.__version__}
    try:
        from importlib.metadata import version

        out["ai_edge_litert"] = version("ai-edge-litert")
        if backend == "mediapipe":
            out["mediapipe"] = version("mediapipe")
    except Exception:  # versions are information, never a failure
        pass
    return out


def run(clip: Path, bundle: Path, frames: int, backend: str, hand_model: str, max_side: int) -> dict:
    """The check's report (see the module docstring); raises on a broken install."""
    import numpy as np

    from edge_client.answering import LocalModel
    from shared.hands.cpu import choose_backend, mediapipe_missing
    from shared.hands.landmarker import HandLandmarks
    from shared.hands.video import video_frames

    started = time.perf_counter()
    cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace") if Path("/proc/cpuinfo").exists() else ""
    chosen = choose_backend(backend)
    report: dict = {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "mediapipe_lacks": sorted(mediapipe_missing(platform.machine(), cpuinfo)),
        "backend": chosen,
        "hand_model": hand_model,
        "versions": _versions(chosen),
    }
    t = time.perf_counter()
    rows, seconds = [], []
    with HandLandmarks(hand_model, backend=chosen) as landmarks:
        report["landmarker_load_s"] = round(time.perf_counter() - t, 2)
        for rgb, ts in video_frames(str(clip), max_side):
            t = time.perf_counter()
            rows.append(landmarks.detect(rgb, ts))
            seconds.append(round(time.perf_counter() - t, 3))
            if len(rows) >= frames:
                break
    report["frames"] = len(rows)
    report["frames_with_hands"] = int(sum(bool(np.any(r)) for r in rows))
    report["detect_s"] = seconds
    t = time.perf_counter()
    model = LocalModel.load(bundle)
    report["bundle_load_s"] = round(time.perf_counter() - t, 2)
    spec = model.manifest.spec
    window = np.resize(np.stack(rows) if rows else np.zeros((1, spec.raw_dim), np.float32), (spec.frames, spec.raw_dim))
    t = time.perf_counter()
    answer = model.predict(window.astype(np.float32))
    report["predict_s"] = round(time.perf_counter() - t, 3)
    labels = list(model.manifest.labels)
    report["answer"] = {"label": answer.label, "confidence": round(float(answer.confidence), 4)}
    report["labels"] = labels
    report["total_s"] = round(time.perf_counter() - started, 2)
    report["ok"] = report["frames_with_hands"] >= 1 and answer.label in labels
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_client.selfcheck", description=__doc__.split("\n")[0])
    parser.add_argument("--clip", type=Path, required=True, help="a video file with a hand in its first frames")
    parser.add_argument("--bundle", type=Path, required=True, help="a model bundle folder (its TFLite model answers)")
    parser.add_argument("--frames", type=int, default=3, help="frames to look for hands in (default 3)")
    parser.add_argument("--backend", choices=("auto", "mediapipe", "litert"), default="auto")
    parser.add_argument("--hand-model", choices=("full", "lite"), default="full")
    parser.add_argument("--frame-max-side", type=int, default=640, help="as the kiosk shrinks frames (default 640)")
    args = parser.parse_args(argv)
    if args.frames < 1:
        parser.error("--frames must be at least 1")
    for path, what in ((args.clip, "clip"), (args.bundle, "bundle")):
        if not path.exists():
            parser.error(f"no {what} at {path}")
    try:
        report = run(args.clip, args.bundle, args.frames, args.backend, args.hand_model, args.frame_max_side)
    except Exception as err:  # one line for whoever runs the check
        print(json.dumps({"ok": False, "error": f"{type(err).__name__}: {err}"}))
        return 1
    print(json.dumps(report))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
