"""``signstream bench edge``: does the pipeline keep up with its landmark extractor, whatever the network does;
where does a frame's time go, and how much memory does the kiosk hold?

Scenarios: for each real clip in ``$SIGN_DATA_DIR/videos`` and each scenario (server up; server
stopped, so the local model answers; 500 ms added to every answer by a slow proxy) it measures, in the same run:
- the landmark extractor's own frames/s (decode + HandLandmarker, one thread, nothing else);
- the pipeline's frames/s on the same clip (every frame processed; rate up to the last frame's landmarks);
- label latency: from the capture of a window's last frame to the shown (smoothed) label.
Runs alternate extractor/pipeline so load from other processes hits both alike; medians are printed.

Stages: for each hand backend and landmark model, the kiosk (local model answering) runs every clip
and reports the times its own threads recorded (``edge_client.stage_times``): decode, landmarks and
window per frame, answer (with its features and model parts) per window; medians and p90 over every
frame of every clip, configurations interleaved round by round.

Memory: for each hand backend and landmark model, a fresh process (``bench.kiosk_memory``) loads the
kiosk part by part and runs it: RSS after each part, steady and peak RSS while it runs. With
Chromium (``--parts ...,chromium``): the kiosk page's cost in Chromium beside a running kiosk (PSS of
all its processes), headless and in a kiosk window on a virtual screen.
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


def kiosk_settings(clip: str | Path, bundle: str | Path, backend: str, variant: str, **overrides: Any):
    """Settings of a headless kiosk on ``clip`` answered by ``bundle``'s local model, nothing from the environment's
    server (the stages are the kiosk's own, not the network's)."""
    from edge_client.settings import load_settings

    values: dict[str, Any] = {
        "source": str(clip),
        "local_model": bundle,
        "local_only": True,
        "display": "none",
        "web_port": 0,
        "hand_model": variant,
        "hand_backend": backend,
        "counters_interval": 3600,
    }
    return load_settings(**(values | overrides))


def stage_run(clip: Path, bundle: Path, backend: str, variant: str) -> dict[str, Any]:
    """One kiosk run on ``clip`` (it loads its own hand landmarker); the per-item times its stages recorded.

    Returns {"frames", "wall_s" (pipeline start to the end of the run), "stages": {stage: [ms, ...]}, "summary"}.
    """
    from edge_client.assembly import build_kiosk
    from edge_client.stage_times import STAGES

    kiosk = build_kiosk(kiosk_settings(clip, bundle, backend, variant))
    kiosk.run(install_signals=False)
    p = kiosk.pipeline
    return {
        "clip": clip.name,
        "backend": kiosk.owned_landmarker.backend if kiosk.owned_landmarker is not None else backend,
        "frames": p.counters.frames_processed,
        "windows": p.counters.windows_sent,
        "wall_s": time.monotonic() - p.counters.started,
        "stages": {s: p.stage_times.values_ms(s) for s in STAGES},
        "summary": p.stage_times.summary(),
    }


def hand_configs() -> list[tuple[str, str]]:
    """(backend, landmark model) pairs this machine runs: both backends where MediaPipe's library loads."""
    from shared.hands.cpu import choose_backend

    backends = ["mediapipe", "litert"] if choose_backend("auto") == "mediapipe" else ["litert"]
    return [(b, v) for b in backends for v in ("full", "lite")]


def stage_profile(data_dir: Path, bundle: Path, repeats: int = 1, say=print) -> dict[str, Any]:
    """Every clip through the kiosk per backend and model, interleaved by round; p50/p90 per stage."""
    clips = _clips(data_dir)
    rows: dict[str, list[dict[str, Any]]] = {}
    for _ in range(repeats):  # interleaved rounds: a noisy machine slows every configuration alike
        for backend, variant in hand_configs():
            for clip in clips:
                rows.setdefault(f"{backend}/{variant}", []).append(stage_run(clip, bundle, backend, variant))
    out: dict[str, Any] = {}
    for key, runs in rows.items():
        stages = {}
        for stage in runs[0]["stages"]:
            ms = [v for r in runs for v in r["stages"][stage]]
            if ms:
                stages[stage] = {"n": len(ms), "p50_ms": _pct3(ms, 50), "p90_ms": _pct3(ms, 90)}
        frames = sum(r["frames"] for r in runs)
        out[key] = {
            "frames": frames,
            "windows": sum(r["windows"] for r in runs),
            "wall_ms_per_frame": round(1000 * sum(r["wall_s"] for r in runs) / max(1, frames), 2),
            "stages": stages,
            "runs": [{k: v for k, v in r.items() if k != "stages"} for r in runs],
        }
        say(f"{key:<16} " + "  ".join(f"{s} {t['p50_ms']}/{t['p90_ms']}" for s, t in stages.items()))
    return out


def memory_profile(data_dir: Path, bundle: Path, repeats: int = 1, allow_tensorflow: bool = False,
                   say=print) -> dict[str, Any]:  # fmt: skip
    """``bench.kiosk_memory`` in a fresh process per backend and model: RSS per part, steady and peak."""
    import subprocess
    import sys

    clips = [str(c) for c in _clips(data_dir)]
    out = {}
    for backend, variant in hand_configs():
        cmd = [sys.executable, "-m", "bench.kiosk_memory", "--backend", backend, "--variant", variant,
               "--bundle", str(bundle), "--repeats", str(repeats), *(["--allow-tensorflow"] * allow_tensorflow),
               *clips]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNSTREAM_EDGE_")}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900,
                              cwd=Path(__file__).resolve().parent.parent)  # fmt: skip
        if proc.returncode != 0:
            raise SignstreamError(f"bench.kiosk_memory {backend}/{variant} failed: {proc.stderr.strip()[-500:]}")
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        out[f"{backend}/{variant}"] = res
        say(f"{backend}/{variant:<10} steady {res['steady_kb'] / 1024:6.1f} MB  peak {res['peak_kb'] / 1024:6.1f} MB  "
            + "  ".join(f"{k} +{v / 1024:.1f}" for k, v in res["added_kb"].items()))  # fmt: skip
    return out


class LoopedClip:
    """A video file played in real time over and over (a camera stand-in for the kiosk page's preview)."""

    live = True

    def __init__(self, path: Path, max_side: int | None) -> None:
        from edge_client.sources import VideoFileSource

        self._clip = VideoFileSource(path, realtime=True, max_side=max_side)

    def frames(self, stop: threading.Event | None = None):
        from edge_client.frames import Image

        stop = stop or threading.Event()
        i, t = 0, 0.0
        while not stop.is_set():
            last = 0.0
            for img in self._clip.frames(stop):
                yield Image(i, t + img.timestamp, img.rgb, img.captured, img.decode_s)
                i, last = i + 1, img.timestamp
            t += last + 1 / self._clip.fps

    def close(self) -> None:
        pass


# The flags deploy/systemd/signstream-kiosk.service.in starts the kiosk's browser with (its profile aside).
KIOSK_FLAGS = ("--kiosk", "--noerrdialogs", "--disable-infobars", "--no-first-run", "--disable-session-crashed-bubble",
               "--disable-features=Translate", "--disable-component-update", "--disable-sync",
               "--check-for-update-interval=31536000", "--password-store=basic")  # fmt: skip
# The flags the browser tests start headless Chromium with (docs: ENGINEERING notes, Browser).
HEADLESS_FLAGS = ("--headless=new", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1280,800",
                  "--remote-debugging-port=0")  # fmt: skip


def _stop_group(proc) -> None:
    """SIGTERM the process group ``proc`` leads (started with start_new_session), SIGKILL if it lingers."""
    import signal
    import subprocess

    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _browser_memory(cmd: list[str], env: dict[str, str], seconds: float) -> dict[str, int]:
    """Start ``cmd``, let the page settle for half of ``seconds``, then the median PSS and summed RSS of its
    processes over the other half (kB), and how many processes it ran."""
    import subprocess

    from shared.app.memory import descendants, proportional_kb, resident_kb

    samples: list[tuple[int, int, int]] = []
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        time.sleep(seconds / 2)  # the page loads, connects and settles
        deadline = time.monotonic() + seconds / 2
        while time.monotonic() < deadline and proc.poll() is None:
            pids = descendants(proc.pid)
            pss = rss = 0
            for pid in pids:
                try:
                    pss += proportional_kb(pid)
                    rss += resident_kb(pid)[0]
                except OSError:  # a helper process ended meanwhile
                    continue
            samples.append((pss, rss, len(pids)))
            time.sleep(0.5)
    finally:
        _stop_group(proc)
    if not samples:
        raise SignstreamError(f"{cmd[0]} ended before its memory could be read (exit code {proc.returncode})")
    return {
        "pss_kb": int(statistics.median(x[0] for x in samples)),
        "rss_sum_kb": int(statistics.median(x[1] for x in samples)),
        "processes": max(x[2] for x in samples),
        "samples": len(samples),
    }


def chromium_memory(clip: Path, bundle: Path, seconds: float = 20.0, chromium: str = "/usr/bin/chromium",
                    say=print) -> dict[str, Any]:  # fmt: skip
    """The kiosk page in Chromium while a kiosk runs ``clip`` in a loop: PSS and RSS of Chromium's processes.

    Measured twice: headless (the browser tests' flags) and, where Xvfb is installed, in a 1280x800
    window on a virtual screen with the kiosk service's flags (``--kiosk``; software rendering here,
    where a Pi composites on its GPU). The kiosk runs in this process on a free port (preview and
    event stream live); each browser and the X server are stopped by their process groups.
    """
    import shutil
    import subprocess
    import tempfile

    from edge_client.assembly import build_kiosk
    from shared.app.processes import free_port

    if not Path(chromium).is_file():
        raise SignstreamError(f"{chromium}: no Chromium to measure")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    s = kiosk_settings(clip, bundle, "auto", "full", web_port=port, realtime=True)
    kiosk = build_kiosk(s)
    kiosk.pipeline.source = LoopedClip(clip, s.frame_max_side)
    runner = threading.Thread(target=kiosk.run, kwargs={"install_signals": False}, name="kiosk", daemon=True)
    runner.start()
    res: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory() as profile:
            cmd = [chromium, *HEADLESS_FLAGS, "--no-sandbox", f"--user-data-dir={profile}", url]
            res["headless"] = _browser_memory(cmd, dict(os.environ), seconds)
        xvfb = shutil.which("Xvfb")
        if xvfb:
            display = next(n for n in range(90, 200) if not Path(f"/tmp/.X11-unix/X{n}").exists())
            xproc = subprocess.Popen([xvfb, f":{display}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)  # fmt: skip
            try:
                time.sleep(1.0)
                with tempfile.TemporaryDirectory() as profile:
                    cmd = [chromium, *KIOSK_FLAGS, "--no-sandbox", f"--user-data-dir={profile}", url]
                    res["kiosk_window"] = _browser_memory(cmd, dict(os.environ, DISPLAY=f":{display}"), seconds)
            finally:
                _stop_group(xproc)
    finally:
        kiosk.stop.set()
        runner.join(15)
    res["frames_captured"] = kiosk.pipeline.counters.frames_captured
    res["frames_processed"] = kiosk.pipeline.counters.frames_processed
    for mode in ("headless", "kiosk_window"):
        if mode in res:
            m = res[mode]
            say(f"chromium ({mode}, kiosk page): PSS {m['pss_kb'] / 1024:.1f} MB over {m['processes']} processes "
                f"(RSS summed {m['rss_sum_kb'] / 1024:.1f} MB)")  # fmt: skip
    return res


def _clips(data_dir: Path) -> list[Path]:
    clips = sorted((data_dir / "videos").glob("*.mp4"))
    if not clips:
        raise SignstreamError(f"{data_dir}/videos has no .mp4 clips")
    return clips


def _pct3(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3)


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


def print_stages(stages: dict[str, Any]) -> None:
    """The stage table: p50 / p90 ms per stage (decode, landmarks, window per frame; answer per window)."""
    from edge_client.stage_times import STAGES

    cols = [s for s in STAGES if any(s in v["stages"] for v in stages.values())]
    print(f"\n{'backend/model':<16} " + " ".join(f"{s + ' p50/p90':>17}" for s in cols) + f" {'wall/frame':>10}")
    for key, v in stages.items():
        cells = [f"{v['stages'][s]['p50_ms']:.2f}/{v['stages'][s]['p90_ms']:.2f}" if s in v["stages"] else "-"
                 for s in cols]  # fmt: skip
        print(f"{key:<16} " + " ".join(f"{c:>17}" for c in cells) + f" {v['wall_ms_per_frame']:>10.2f}")
    print("ms; decode, landmarks, window per frame; answer (features + model + the rest) per window")


def print_memory(memory: dict[str, Any]) -> None:
    """The memory table: MB each part adds as it loads, then steady and peak RSS of the running kiosk."""
    parts = list(next(iter(memory.values()))["added_kb"])
    heads = ["numpy", "opencv", "hands", "tflite", "web+rest", "built"]
    print(f"\n{'backend/model':<16} " + " ".join(f"{h:>9}" for h in heads[: len(parts)])
          + f" {'steady':>8} {'peak':>8}")  # fmt: skip
    for key, m in memory.items():
        added = list(m["added_kb"].values())
        print(f"{key:<16} " + " ".join(f"{kb / 1024:>9.1f}" for kb in added)
              + f" {m['steady_kb'] / 1024:>8.1f} {m['peak_kb'] / 1024:>8.1f}")  # fmt: skip
    print("MB of RSS each part adds as it loads (in that order); steady (median) and peak while the kiosk runs")


def main(args: argparse.Namespace) -> None:
    """``signstream bench edge``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    data_dir = args.data_dir or (Path(os.environ["SIGN_DATA_DIR"]) if os.environ.get("SIGN_DATA_DIR") else None)
    if data_dir is None or not (data_dir / "videos").is_dir():
        raise SignstreamError("give --data-dir or set SIGN_DATA_DIR to the real data folder (it has videos/)")
    res: dict[str, Any] = {}
    if "stages" in args.parts:
        res["stages"] = stage_profile(data_dir, args.model, args.repeats)
        print_stages(res["stages"])
    if "memory" in args.parts:
        res["memory"] = memory_profile(data_dir, args.model)
        print_memory(res["memory"])
    if "chromium" in args.parts:
        res["chromium"] = chromium_memory(_clips(data_dir)[0], args.model)
    if "scenarios" in args.parts:
        res |= run_bench(data_dir, args.model, args.repeats, args.delay)
        _print_scenarios(res)
    if args.out:
        args.out.write_text(json.dumps(res, indent=2))
        print(f"wrote {args.out}")


def _print_scenarios(res: dict[str, Any]) -> None:
    print(f"\n{'scenario':<30} {'extractor fps':>13} {'pipeline fps':>12} {'ratio':>6} {'min':>6} "
          f"{'label p50 ms':>12} {'p95 ms':>7} {'cloud':>6} {'local':>6}")  # fmt: skip
    for name, s in res["scenarios"].items():
        print(f"{name:<30} {s['extractor_fps_median']:>13} {s['pipeline_fps_median']:>12} {s['ratio_median']:>6} "
              f"{s['ratio_min']:>6} {s['label_latency_p50_ms']!s:>12} {s['label_latency_p95_ms']!s:>7} "
              f"{s['answers_cloud']:>6} {s['answers_local']:>6}")  # fmt: skip


def landmark_rates(data_dir: Path, repeats: int = 3, say=print) -> dict[str, Any]:
    """Per-frame time of each hand landmark backend and model on every clip (same frames, same run).

    Returns {"backend/variant": {"ms_median": ..., "fps": ..., "ratio": time / mediapipe-full time,
    "frame_p50_ms", "frame_p90_ms": over single frames}}.
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
    frame_ms: dict[str, list[float]] = {}
    for _ in range(repeats):  # interleaved rounds: a noisy machine slows every configuration alike
        for backend in backends:
            for variant in ("full", "lite"):
                key = f"{backend}/{variant}"
                for clip in clips:
                    with HandLandmarks(variant, backend=backend) as lm:
                        t0 = t = time.perf_counter()
                        for rgb, ts in frames[clip.name]:
                            lm.detect(rgb, ts)
                            now = time.perf_counter()
                            frame_ms.setdefault(key, []).append((now - t) * 1000)
                            t = now
                        times.setdefault(key, []).append((time.perf_counter() - t0) / len(frames[clip.name]))
    base = statistics.median(times[f"{backends[0]}/full"])
    out = {}
    for key, values in times.items():
        ms = statistics.median(values) * 1000
        p50, p90 = _pct3(frame_ms[key], 50), _pct3(frame_ms[key], 90)
        out[key] = {"ms_median": round(ms, 1), "fps": round(1000 / ms, 1), "ratio": round(ms / 1000 / base, 2),
                    "frame_p50_ms": p50, "frame_p90_ms": p90}  # fmt: skip
        say(f"{key:<16} {ms:7.1f} ms/frame  {1000 / ms:6.1f} fps  x{out[key]['ratio']:.2f} of {backends[0]}/full"
            f"  single frames p50 {p50:.1f} p90 {p90:.1f} ms")  # fmt: skip
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
