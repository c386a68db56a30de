"""``signstream bench edge``: does the pipeline keep up with its landmark extractor, whatever the network does?

For each real clip in ``$SIGN_DATA_DIR/videos`` and each scenario (server up; server stopped, so the
local model answers; 500 ms added to every answer by a slow proxy) it measures, in the same run:
- the landmark extractor's own frames/s (decode + HandLandmarker, one thread, nothing else);
- the pipeline's frames/s on the same clip (every frame processed; rate up to the last frame's landmarks);
- label latency: from the capture of a window's last frame to the shown (smoothed) label.
Runs alternate extractor/pipeline so load from other processes hits both alike; medians are printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from shared.app.errors import SignstreamError

log = logging.getLogger(__name__)


class SlowProxy:
    """Forwards every request to ``target`` after ``delay`` seconds: added server latency, on 127.0.0.1."""

    def __init__(self, target: str, delay: float) -> None:
        import requests

        session = requests.Session()
        proxy = self
        self.target, self.delay, self.forwarded = target.rstrip("/"), delay, 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                time.sleep(proxy.delay)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                resp = session.request(method, proxy.target + self.path, data=body, headers=headers, timeout=30)
                proxy.forwarded += 1
                self.send_response(resp.status_code)
                self.send_header("Content-Type", resp.headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(resp.content)))
                self.end_headers()
                self.wfile.write(resp.content)

            def do_GET(self) -> None:
                self._forward("GET")

            def do_POST(self) -> None:
                self._forward("POST")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="slow-proxy", daemon=True)

    def start(self) -> SlowProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def extractor_fps(clip: Path, variant: str, max_side: int | None) -> tuple[float, int]:
    """The extractor alone: decode and detect every frame in one thread; (frames/s, frames)."""
    from shared.hands.landmarker import HandLandmarks
    from shared.hands.video import video_frames

    with HandLandmarks(variant) as lm:
        t0 = time.perf_counter()
        n = sum(1 for rgb, ts in video_frames(str(clip), max_side) if lm.detect(rgb, ts) is not None)
        return n / (time.perf_counter() - t0), n


def pipeline_run(clip: Path, server: str, bundle: Path, variant: str) -> dict[str, Any]:
    """One headless client run on ``clip``; its frame rate, answers by whom, label latencies."""
    from edge_client.assembly import build_kiosk
    from edge_client.settings import load_settings
    from shared.hands.landmarker import HandLandmarks

    settings = load_settings(source=str(clip), server=server, local_model=bundle, display="none", web_port=0,
                             hand_model=variant, counters_interval=3600)  # fmt: skip
    landmarker = HandLandmarks(variant, mirrored=settings.mirror)
    try:
        runner = build_kiosk(settings, landmarker=landmarker)
        summary = runner.run(install_signals=False)
    finally:
        landmarker.close()
    p = runner.pipeline
    elapsed = p.last_frame_done - p.counters.started
    return {
        "fps": p.counters.frames_processed / elapsed if elapsed > 0 else 0.0,
        "frames": p.counters.frames_processed,
        "dropped": p.counters.frames_dropped,
        "cloud": summary["answers_cloud"],
        "local": summary["answers_local"],
        "windows_dropped": summary["windows_dropped"],
        "label_latency_ms": list(p.counters.label_latency_ms),
        "labels": summary["labels_shown"],
    }


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def run_bench(data_dir: Path, bundle: Path, repeats: int = 3, delay: float = 0.5, variant: str = "full",
              say=print) -> dict[str, Any]:  # fmt: skip
    """Every scenario on every clip; returns the per-scenario medians and the raw rows."""
    from edge_client.settings import EdgeSettings
    from shared.app.processes import free_port, start_server, stop_server, wait_ready

    clips = sorted((data_dir / "videos").glob("*.mp4"))
    if not clips:
        raise SignstreamError(f"{data_dir}/videos has no .mp4 clips")
    max_side = EdgeSettings.model_fields["frame_max_side"].default
    port = free_port()
    server = f"http://127.0.0.1:{port}"
    proc = start_server(bundle, port, workers=2)
    proxy = None
    results: dict[str, Any] = {"clips": [c.name for c in clips], "repeats": repeats, "delay_s": delay, "scenarios": {}}
    try:
        wait_ready(server + "/ready", proc)
        proxy = SlowProxy(server, delay).start()
        scenarios = {
            "server up": server,
            "server stopped (local model)": f"http://127.0.0.1:{free_port()}",
            f"+{int(delay * 1000)} ms server latency": proxy.url,
        }
        for name, url in scenarios.items():
            rows = []
            for clip in clips:
                for _ in range(repeats):
                    ex_fps, n = extractor_fps(clip, variant, max_side)
                    run = pipeline_run(clip, url, bundle, variant)
                    rows.append({"clip": clip.name, "extractor_fps": ex_fps, "extractor_frames": n, **run})
                ex = statistics.median(r["extractor_fps"] for r in rows if r["clip"] == clip.name)
                pl = statistics.median(r["fps"] for r in rows if r["clip"] == clip.name)
                say(f"{name:<30} {clip.name:<26} extractor {ex:6.1f} fps  pipeline {pl:6.1f} fps  ratio {pl / ex:.3f}")
            lat = [x for r in rows for x in r["label_latency_ms"]]
            ratios = [
                statistics.median(r["fps"] for r in rows if r["clip"] == c.name)
                / statistics.median(r["extractor_fps"] for r in rows if r["clip"] == c.name)
                for c in clips
            ]
            results["scenarios"][name] = {
                "extractor_fps_median": round(statistics.median(r["extractor_fps"] for r in rows), 1),
                "pipeline_fps_median": round(statistics.median(r["fps"] for r in rows), 1),
                "ratio_median": round(statistics.median(ratios), 3),
                "ratio_min": round(min(ratios), 3),
                "frames_dropped": sum(r["dropped"] for r in rows),
                "answers_cloud": sum(r["cloud"] for r in rows),
                "answers_local": sum(r["local"] for r in rows),
                "windows_dropped": sum(r["windows_dropped"] for r in rows),
                "label_latency_p50_ms": _pct(lat, 50),
                "label_latency_p95_ms": _pct(lat, 95),
                "labels": len(lat),
                "rows": rows,
            }
    finally:
        if proxy is not None:
            proxy.stop()
        stop_server(proc)
    return results


def main(args: argparse.Namespace) -> None:
    """``signstream bench edge``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    data_dir = args.data_dir or (Path(os.environ["SIGN_DATA_DIR"]) if os.environ.get("SIGN_DATA_DIR") else None)
    if data_dir is None or not (data_dir / "videos").is_dir():
        raise SignstreamError("give --data-dir or set SIGN_DATA_DIR to the real data folder (it has videos/)")
    res = run_bench(data_dir, args.model, args.repeats, args.delay)
    print(f"\n{'scenario':<30} {'extractor fps':>13} {'pipeline fps':>12} {'ratio':>6} {'min':>6} "
          f"{'label p50 ms':>12} {'p95 ms':>7} {'cloud':>6} {'local':>6}")  # fmt: skip
    for name, s in res["scenarios"].items():
        print(f"{name:<30} {s['extractor_fps_median']:>13} {s['pipeline_fps_median']:>12} {s['ratio_median']:>6} "
              f"{s['ratio_min']:>6} {s['label_latency_p50_ms']!s:>12} {s['label_latency_p95_ms']!s:>7} "
              f"{s['answers_cloud']:>6} {s['answers_local']:>6}")  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(res, indent=2))
        print(f"wrote {args.out}")


def landmark_rates(data_dir: Path, repeats: int = 3, say=print) -> dict[str, Any]:
    """Per-frame time of each hand landmark backend and model on every clip (same frames, same run).

    Returns {"backend/variant": {"ms_median": ..., "fps": ..., "ratio": time / mediapipe-full time}}.
    """
    from edge_client.settings import EdgeSettings
    from shared.hands.cpu import choose_backend
    from shared.hands.landmarker import HandLandmarks
    from shared.hands.video import video_frames

    clips = sorted((data_dir / "videos").glob("*.mp4"))
    if not clips:
        raise SignstreamError(f"{data_dir}/videos has no .mp4 clips")
    max_side = EdgeSettings.model_fields["frame_max_side"].default
    frames = {c.name: list(video_frames(str(c), max_side)) for c in clips}
    backends = ["mediapipe", "litert"] if choose_backend("auto") == "mediapipe" else ["litert"]
    times: dict[str, list[float]] = {}
    for _ in range(repeats):  # interleaved rounds: a noisy machine slows every configuration alike
        for backend in backends:
            for variant in ("full", "lite"):
                key = f"{backend}/{variant}"
                for clip in clips:
                    with HandLandmarks(variant, backend=backend) as lm:
                        t0 = time.perf_counter()
                        for rgb, ts in frames[clip.name]:
                            lm.detect(rgb, ts)
                        times.setdefault(key, []).append((time.perf_counter() - t0) / len(frames[clip.name]))
    base = statistics.median(times[f"{backends[0]}/full"])
    out = {}
    for key, values in times.items():
        ms = statistics.median(values) * 1000
        out[key] = {"ms_median": round(ms, 1), "fps": round(1000 / ms, 1), "ratio": round(ms / 1000 / base, 2)}
        say(f"{key:<16} {ms:7.1f} ms/frame  {1000 / ms:6.1f} fps  x{out[key]['ratio']:.2f} of {backends[0]}/full")
    return out


def landmarks_main(args: argparse.Namespace) -> None:
    """``signstream bench landmarks``."""
    data_dir = args.data_dir or (Path(os.environ["SIGN_DATA_DIR"]) if os.environ.get("SIGN_DATA_DIR") else None)
    if data_dir is None or not (data_dir / "videos").is_dir():
        raise SignstreamError("give --data-dir or set SIGN_DATA_DIR to the real data folder (it has videos/)")
    res = landmark_rates(data_dir, args.repeats)
    if args.out:
        args.out.write_text(json.dumps(res, indent=2))
        print(f"wrote {args.out}")
