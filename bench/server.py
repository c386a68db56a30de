"""``signstream bench server``: our server against the reference server, side by side, same run.

Each configuration runs on 127.0.0.1 with 2 gunicorn workers while 16 concurrent clients (one process
each, like 16 devices; a keep-alive connection; the request encoded once) post windows
for a fixed time; the load generator shares the machine's 2 cores, as a kiosk fleet's server would. Reported:
requests/s, p50/p99 latency, errors, the ratio to the baseline, served windows/s as a fraction of
the model's own in-process batched throughput, and a model swap in the middle of a longer load.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

import numpy as np

from bench.load_client import Connection, HttpError, describe_error, encode_request
from shared.app.processes import free_port, stop_server, wait_ready


def _worker_of(conn: Connection, host: str, headers: dict | None = None) -> int | None:
    """The server worker holding this connection (our ``/ready`` names it), or None."""
    try:
        status, data = conn.exchange(encode_request("GET", "/ready", host, headers))
        return int(json.loads(data)["worker"]) if status == 200 else None
    except (HttpError, ValueError, KeyError, TypeError):
        return None


class ClientRun(NamedTuple):
    """What one client thread saw while posting."""

    worker: int | None  # the server worker holding the connection at the start (None if it does not say)
    results: list[tuple[float, int, str]]  # per request: (seconds, status or -1, model version)
    cpu_s: float  # this thread's CPU seconds while posting
    failures: list[tuple[float, str, float | None]]  # per status -1: (monotonic time, kind, idle seconds)
    reopened: int  # keep-alive connections the server closed between requests (reopened, not failures)


def _post_loop(url: str, body: bytes, headers: dict, gate: Callable[[Callable[[], object]], float]) -> ClientRun:
    """Connect, wait at ``gate`` (it returns the common end time), then post ``body`` until then.

    ``gate(ping)`` calls ``ping`` every ``GATE_PING_S`` while it waits: the connection asks ``/ready``
    again, so the server does not close it as idle before the first request (gunicorn's keep-alive
    timeout is 5 s here; starting 16 client processes beside other jobs took up to 17 s, and the
    first request on each connection closed meanwhile failed).

    A request that failed at the connection level (status -1) is noted with its kind
    (``load_client.HttpError.kind``). The request is encoded once and the answers read by
    ``load_client`` (not ``http.client`` or ``requests``): on these shared 2 cores every millisecond of
    the generator's CPU is taken from the server it measures.
    """
    parts = urlsplit(url)
    host = f"{parts.hostname}:{parts.port}"
    conn = Connection(parts.hostname or "127.0.0.1", parts.port or 80)
    request = encode_request("POST", parts.path or "/", host, headers, body)
    worker = _worker_of(conn, host)
    end = gate(lambda: _worker_of(conn, host))
    conn.reopened = 0
    cpu0 = time.thread_time()
    out: list[tuple[float, int, str]] = []
    failures: list[tuple[float, str, float | None]] = []
    while time.monotonic() < end:
        t0 = time.perf_counter()
        try:
            status, data = conn.exchange(request)  # a closed connection reopens by itself
            version = ""
            if status == 200:
                answer = json.loads(data)
                if isinstance(answer, list) and answer:  # a framework's batchable API answers a batch of one
                    answer = answer[0]
                version = str(answer.get("model", {}).get("version", ""))
            out.append((time.perf_counter() - t0, status, version))
        except (HttpError, ValueError, AttributeError) as err:
            out.append((time.perf_counter() - t0, -1, ""))
            failures.append((time.monotonic(), describe_error(err), getattr(err, "idle_s", None)))
    cpu = time.thread_time() - cpu0
    conn.close()
    return ClientRun(worker, out, cpu, failures, conn.reopened)


def _client_proc(
    url: str, body: bytes, ctype: str, threads: int, start: Start, out: mp.Queue, headers: dict | None
) -> None:
    runs: list[ClientRun] = []
    lock = threading.Lock()
    all_headers = {"Content-Type": ctype, **(headers or {})}

    def gate(ping: Callable[[], object]) -> float:
        start.ready.put(1)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not start.go.wait(GATE_PING_S):
            if time.monotonic() > deadline:
                raise RuntimeError("the load generator never started")
            ping()  # keep the connection from idling out while the other clients start
        return start.end.value

    def run() -> None:
        mine = _post_loop(url, body, all_headers, gate)
        with lock:
            runs.append(mine)

    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put(runs)


START_TIMEOUT_S = 120.0
GATE_PING_S = 1.0  # well under any keep-alive timeout a server would use (gunicorn's default is 2 s)


class Start:
    """The starting line: every client connects and reports ready, then all run until one common end time.

    Starting a process while the server is already under load takes seconds here; without the line the
    first clients ran long before the last, so a "16-client" run was partly a run with fewer clients.
    """

    def __init__(self, ctx) -> None:
        self.ready = ctx.Queue()
        self.go = ctx.Event()
        self.end = ctx.Value("d", 0.0)


def run_load(
    url: str,
    body: bytes,
    ctype: str,
    clients: int,
    duration: float,
    during=None,
    headers: dict | None = None,
    processes: int | None = None,
) -> dict:
    """``clients`` concurrent clients for ``duration`` s; ``during(t0)`` runs alongside (t0: monotonic start).

    One process per client unless ``processes`` is given (then ``clients // processes`` threads in each):
    threads sharing one interpreter queue for its lock and add that wait to the latency they measure.
    Every client is connected before any sends, and all stop at the same moment (see ``Start``).
    """
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start = Start(ctx)
    per = max(1, clients // (processes or clients))
    procs = [ctx.Process(target=_client_proc, args=(url, body, ctype, per, start, out, headers))
             for _ in range(clients // per)]  # fmt: skip
    for p in procs:
        p.start()
    try:
        for _ in range(per * len(procs)):
            start.ready.get(timeout=START_TIMEOUT_S)
    except queue.Empty:
        for p in procs:
            p.kill()
        raise RuntimeError("the load generator's clients did not start") from None
    t0 = time.monotonic()
    start.end.value = t0 + duration
    start.go.set()
    if during is not None:
        during(t0)
    runs: list[ClientRun] = [run for _ in procs for run in out.get()]
    results = [r for run in runs for r in run.results]
    held = Counter(run.worker for run in runs if run.worker is not None)
    client_cpu = sum(run.cpu_s for run in runs)
    failures = sorted((round(at - t0, 2), kind, None if idle is None else round(idle, 2))
                      for run in runs for at, kind, idle in run.failures)  # fmt: skip
    wall = time.monotonic() - t0
    for p in procs:
        p.join()
    ok = [lat for lat, status, _ in results if status == 200]
    statuses: dict[str, int] = {}
    for _, status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    lat = np.array(ok) * 1000 if ok else np.array([np.nan])
    return {
        "requests": len(results),
        "ok": len(ok),
        "errors": len(results) - len(ok),
        "statuses": statuses,
        "rps": len(ok) / duration,
        "wall_s": wall,
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "p999_ms": float(np.percentile(lat, 99.9)),
        "max_ms": float(lat.max()),
        "versions": sorted({v for _, s, v in results if s == 200}),
        # why the requests with status -1 failed (load_client.HttpError.kind), counted per kind; and
        # the first 100: (seconds from the start, kind, seconds a reused connection had been idle)
        "error_kinds": dict(Counter(kind for _, kind, _ in failures).most_common()),
        "failures_at_s": failures[:100],
        # keep-alive connections the server closed while idle, between requests: reopened, no request lost
        "reopened": sum(run.reopened for run in runs),
        # keep-alive connections held by each server worker at the start (empty if the server does not say)
        "connections_per_worker": sorted(held.values(), reverse=True),
        # the generator's own CPU while posting (it shares the cores with the server it measures)
        "client_cpu_ms_per_request": client_cpu / len(results) * 1000 if results else float("nan"),
    }


def sample_window(seed: int = 0) -> np.ndarray:
    """The window every client posts: 30 frames of 126 uniform values in [0.2, 0.8), float32."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.2, 0.8, (30, 126)).astype(np.float32)


def _ready_pid(port: int) -> int | None:
    """The pid of the worker that answered ``/ready`` on a fresh connection, or None."""
    conn = Connection("127.0.0.1", port, timeout=10)
    try:
        return _worker_of(conn, f"127.0.0.1:{port}", {"Connection": "close"})
    finally:
        conn.close()


def wait_all_workers(port: int, workers: int, timeout: float = 180.0) -> None:
    """Return once ``workers`` distinct workers answered ``/ready``; RuntimeError after ``timeout`` s.

    ``/ready`` answers as soon as one worker is up, and load started then goes to that worker alone:
    a burst of 16 connections all landed on it (353 requests/s against about 800 with both working).
    """
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    with ThreadPoolExecutor(8) as pool:
        while True:
            seen.update(pid for pid in pool.map(lambda _: _ready_pid(port), range(8)) if pid is not None)
            if len(seen) >= workers:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(seen)} of {workers} server workers became ready in {timeout:.0f} s")
            time.sleep(0.2)


def _start(cmd: list[str], env: dict, port: int, workers: int) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(f"http://127.0.0.1:{port}/ready", proc, timeout=180)
    try:
        wait_all_workers(port, workers)
    except RuntimeError:
        stop_server(proc)
        raise
    return proc


def start_ours(model: Path, port: int, runtime: Path, workers: int = 2, **settings: str) -> subprocess.Popen:
    env = {**os.environ, "SIGNSTREAM_SERVER_LOG_REQUESTS": "false", "TF_CPP_MIN_LOG_LEVEL": "2",
           "SIGNSTREAM_SERVER_RUNTIME_DIR": str(runtime),
           **{f"SIGNSTREAM_SERVER_{k.upper()}": v for k, v in settings.items()}}  # fmt: skip
    cmd = [sys.executable, "-m", "signstream.cli", "serve", "--model", str(model), "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(workers), "--no-auth"]  # fmt: skip
    return _start(cmd, env, port, workers)


def start_baseline(port: int) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    checkout = str(Path(__file__).resolve().parents[1])  # gunicorn imports bench.baseline_server from there
    cmd = [sys.executable, "-m", "gunicorn", "-k", "sync", "-w", "2", "-b", f"127.0.0.1:{port}", "--timeout", "120",
           "--chdir", checkout, "bench.baseline_server:create_app()"]  # fmt: skip
    return _start(cmd, env, port, 2)


def in_process_throughput(
    model: Path, seconds: float = 5.0, batch: int = 32, callers: int = 1, runtime: str = "savedmodel"
) -> float:
    """Windows/s of the bundle in one process: shared features + the model, batches of ``batch`` windows.

    ``callers`` threads call the model at once (as that many server workers would). With the
    SavedModel they share one model whose calls run in the calling thread, one TensorFlow thread
    each as in a worker (one caller gets every core); with "tflite" each caller has its own
    interpreter of one thread, as each server worker does (both release the GIL while they run).
    """
    code = (
        "import sys,threading,time,numpy as np\n"
        "from cloud_server.inference import runner_factory\n"
        "from cloud_server.model_holder import load_model\n"
        "b,c,s,rt=int(sys.argv[2]),int(sys.argv[3]),float(sys.argv[4]),sys.argv[5]\n"
        "f=runner_factory(rt,0 if c==1 and rt=='savedmodel' else 1)\n"
        "ms=[load_model(sys.argv[1],f)]*c if rt=='savedmodel' else [load_model(sys.argv[1],f) for _ in range(c)]\n"
        "w=[np.random.default_rng(i).uniform(0.2,0.8,(30,126)).astype(np.float32) for i in range(b)]\n"
        "[m.predict(w,3) for m in ms]; n=[0]*c; t0=time.perf_counter()\n"
        "def run(i):\n"
        "    while time.perf_counter()-t0<s: ms[i].predict(w,3); n[i]+=b\n"
        "ts=[threading.Thread(target=run,args=(i,)) for i in range(c)]\n"
        "[t.start() for t in ts]; [t.join() for t in ts]\n"
        "print(sum(n)/(time.perf_counter()-t0))\n"
    )
    args = [str(model), str(batch), str(callers), str(seconds), runtime]
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, check=True)  # fmt: skip
    return float(out.stdout.strip().splitlines()[-1])


def _relabelled_copy(model: Path, dest: Path) -> Path:
    from shared.model.bundle import read_manifest, write_manifest

    shutil.copytree(model, dest)
    m = read_manifest(dest)
    write_manifest(dest, m.model_copy(update={"version": f"{m.version}-swap", "labels": [f"{x}-b" for x in m.labels]}))
    return dest


def bench_server(model: Path, duration: float, swap_seconds: float, clients: int = 16) -> dict:
    """Run every configuration and the swap; return the results."""
    from shared.contract.protocol import BINARY_CONTENT_TYPE, encode_binary

    w = sample_window()
    json_body = json.dumps({"sequence": w.tolist()}).encode()
    binary_body = encode_binary(w)
    results: dict = {"clients": clients, "duration_s": duration, "json_body_bytes": len(json_body),
                     "binary_body_bytes": len(binary_body), "configs": {}}  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="signstream-bench-server-"))
    try:
        port = free_port()
        proc = start_baseline(port)
        try:
            r = run_load(f"http://127.0.0.1:{port}/predict", json_body, "application/json", clients, duration)
            results["configs"]["baseline (Flask, 2 sync workers, LSTM, model.predict, JSON)"] = r
        finally:
            stop_server(proc)
        configs = [
            ("ours JSON, batching + 2 ms window (default)", json_body, "application/json", {}),
            ("ours JSON, no batching", json_body, "application/json", {"batching": "false"}),
            ("ours JSON, batching, no window", json_body, "application/json", {"batch_window_ms": "0"}),
            ("ours JSON, batching, 8 threads", json_body, "application/json", {"threads": "8"}),
            ("ours binary (default settings)", binary_body, BINARY_CONTENT_TYPE, {}),
        ]
        for i, (name, body, ctype, settings) in enumerate(configs):
            port = free_port()
            proc = start_ours(model, port, work / f"run{i}", **settings)
            try:
                results["configs"][name] = run_load(f"http://127.0.0.1:{port}/predict", body, ctype, clients, duration)
            finally:
                stop_server(proc)
        results["in_process_windows_per_s"] = in_process_throughput(model)
        if swap_seconds > 0:
            results["swap"] = _swap_run(model, work, json_body, clients, swap_seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def _swap_run(model: Path, work: Path, body: bytes, clients: int, seconds: float) -> dict:
    import requests

    v1 = work / "v1"
    shutil.copytree(model, v1)
    v2 = _relabelled_copy(model, work / "v2")
    link = work / "current"
    link.symlink_to(v1)
    port = free_port()
    proc = start_ours(link, port, work / "swap-run", poll_interval="3600")
    swapped = {}

    def swap(t0: float) -> None:
        time.sleep(max(0.0, seconds / 2 - (time.monotonic() - t0)))
        tmp = work / "next"
        tmp.symlink_to(v2)
        tmp.replace(link)
        t = time.perf_counter()
        r = requests.post(f"http://127.0.0.1:{port}/admin/reload", timeout=60)
        swapped.update(r.json(), reload_s=time.perf_counter() - t)

    try:
        r = run_load(f"http://127.0.0.1:{port}/predict", body, "application/json", clients, seconds, during=swap)
    finally:
        stop_server(proc)
    return {**r, "reload": swapped}


def _fmt(results: dict) -> str:
    cfgs = results["configs"]
    base = next(iter(cfgs.values()))
    nan = float("nan")
    lines = [
        "| configuration | requests/s | p50 ms | p99 ms | p99.9 ms | max ms | errors | x baseline "
        "| conns per worker | generator CPU ms/req |",
        "| --- " * 10 + "|",
    ]
    for name, r in cfgs.items():
        ratio = r["rps"] / base["rps"] if base["rps"] else float("nan")
        split = " + ".join(map(str, r.get("connections_per_worker", []))) or "-"
        lines.append(
            f"| {name} | {r['rps']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['p999_ms']:.1f} "
            f"| {r['max_ms']:.1f} | {r['errors']} | {ratio:.1f} | {split} "
            f"| {r.get('client_cpu_ms_per_request', nan):.2f} |"
        )
    best = max((r for n, r in cfgs.items() if n.startswith("ours JSON")), key=lambda r: r["rps"])
    inproc = results["in_process_windows_per_s"]
    lines.append(f"\nmodel in-process (features + SavedModel, batch 32, both cores): {inproc:.0f} windows/s; "
                 f"best JSON config serves {best['rps']:.0f}/s = {best['rps'] / inproc:.1%} of it")  # fmt: skip
    if "swap" in results:
        s = results["swap"]
        lines.append(f"swap during {results['swap']['wall_s']:.0f} s of load: {s['ok']} ok, {s['errors']} failed "
                     f"({s['statuses']}; connection errors {s['error_kinds'] or 'none'}), "
                     f"versions answered {s['versions']}, reload {s['reload']}")  # fmt: skip
    return "\n".join(lines)


def main(args: argparse.Namespace) -> None:
    """CLI entry point: print the table (and write JSON with --out)."""
    results = bench_server(args.model, args.duration, args.swap_seconds, args.clients)
    print(_fmt(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
