"""The kiosk's resident memory, in a fresh process: what each part adds as it loads, then peak and steady RSS.

``signstream bench edge`` runs ``python -m bench.kiosk_memory --backend B --variant V --bundle DIR CLIP...``
once per hand backend and landmark model, so nothing loaded for one is counted for another; it
prints one JSON line. The parts load in this order, RSS read after each:

1. Python + numpy (the interpreter, this module, numpy);
2. OpenCV, and one frame of the first clip decoded;
3. the hand backend (MediaPipe's library or LiteRT with the landmark models), one frame detected;
4. the local TFLite model (``LocalModel.load``: LiteRT's interpreter, the bundle, a warm-up answer),
   dropped again since the kiosk loads its own;
5. the rest of the kiosk's code (Flask, the web page and local API, the cloud client, Prometheus);
6. the kiosk built (``build_kiosk``: its own local model, the web server bound, nothing started).

Then the kiosk runs every clip ``--repeats`` times (headless, the local model answering, the web
server serving) while a thread reads RSS every 50 ms: "steady" is the median of those readings (and
of its anonymous and file-backed parts), "peak" the process's high-water mark (VmHWM) at the end.

TensorFlow is blocked by default, as on a Pi (requirements-edge.txt installs none): with both
installed, importing mediapipe imports TensorFlow too, which no kiosk carries.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time

import numpy as np

from shared.app.memory import resident_kb, resident_parts_kb

BLOCKED = ("tensorflow", "keras", "tf_keras")


class _BlockTensorFlow:
    """A meta path finder that makes ``import tensorflow`` fail as where it is not installed (mediapipe
    catches exactly ``ModuleNotFoundError``)."""

    def find_spec(self, name: str, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: the kiosk runs without it)", name=name)
        return None


def measure(backend: str, variant: str, bundle: str, clips: list[str], repeats: int = 1) -> dict:
    """The steps (kB after each), then steady and peak RSS of the running kiosk; see the module docstring."""
    steps: list[tuple[str, int]] = []
    step_parts: dict[str, dict[str, int]] = {}

    def mark(name: str) -> None:
        steps.append((name, resident_kb()[0]))
        step_parts[name] = resident_parts_kb()

    mark("python + numpy")
    from shared.hands.video import video_frames

    rgb, ts = next(iter(video_frames(clips[0], 640)))
    mark("opencv + a decoded frame")
    from shared.hands.landmarker import HandLandmarks

    landmarker = HandLandmarks(variant, backend=backend)
    landmarker.detect(rgb, ts)
    mark(f"hand backend ({landmarker.backend}, {variant})")
    from edge_client.answering import LocalModel

    model = LocalModel.load(bundle)
    mark("local TFLite model")
    del model
    import edge_client.assembly  # noqa: F401 (Flask, the page, the local API, the cloud client)
    from bench.edge import kiosk_settings
    from edge_client.assembly import build_kiosk

    mark("web app + rest of the kiosk")
    kiosk = build_kiosk(kiosk_settings(clips[0], bundle, landmarker.backend, variant), landmarker=landmarker)
    mark("kiosk built")

    samples: list[int] = []
    parts: list[dict[str, int]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            samples.append(resident_kb()[0])
            parts.append(resident_parts_kb())

    sampler = threading.Thread(target=sample, name="rss", daemon=True)
    sampler.start()
    t0 = time.monotonic()
    frames = 0
    try:
        for i in range(repeats):
            for j, clip in enumerate(clips):
                if i or j:  # the first kiosk is the one built above
                    kiosk = build_kiosk(kiosk_settings(clip, bundle, landmarker.backend, variant),
                                        landmarker=landmarker)  # fmt: skip
                kiosk.run(install_signals=False)
                frames += kiosk.pipeline.counters.frames_processed
    finally:
        done.set()
        sampler.join()
        landmarker.close()
    now, peak = resident_kb()
    return {
        "backend": landmarker.backend,
        "variant": variant,
        "steps_kb": dict(steps),
        "steps_parts_kb": step_parts,
        "added_kb": {name: kb - (steps[i - 1][1] if i else 0) for i, (name, kb) in enumerate(steps)},
        "steady_kb": int(statistics.median(samples)) if samples else now,
        "steady_parts_kb": {k: int(statistics.median(p[k] for p in parts)) for k in parts[0]} if parts else None,
        "peak_kb": peak,
        "end_kb": now,
        "samples": len(samples),
        "frames": frames,
        "run_s": round(time.monotonic() - t0, 1),
        "tensorflow_loaded": any(m.split(".")[0] in BLOCKED for m in sys.modules),
        "mediapipe_loaded": "mediapipe" in sys.modules,
        "numpy": np.__version__,
    }


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.kiosk_memory``: one JSON line on stdout."""
    p = argparse.ArgumentParser(prog="python -m bench.kiosk_memory", description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=("auto", "mediapipe", "litert"), default="auto")
    p.add_argument("--variant", choices=("full", "lite"), default="full")
    p.add_argument("--bundle", required=True, help="bundle folder the local model comes from")
    p.add_argument("--repeats", type=int, default=1, help="runs over the clips (default 1)")
    p.add_argument("--allow-tensorflow", action="store_true", help="do not block TensorFlow (a dev machine's view)")
    p.add_argument("clips", nargs="+", help="video clips the kiosk runs on")
    args = p.parse_args(argv)
    print(json.dumps(measure(args.backend, args.variant, args.bundle, args.clips, args.repeats)))


if __name__ == "__main__":
    if "--allow-tensorflow" not in sys.argv:  # before anything can import it
        sys.meta_path.insert(0, _BlockTensorFlow())
    main()
