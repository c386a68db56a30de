"""``signstream bench server --against bentoml,litserve,mlserver``: our server against the serving frameworks.

Every contender serves the same bundle's SavedModel through the project's own predictor (features,
serving signature, calibrated answer: ``bench/frameworks/common.py``), with 2 model processes of one
TensorFlow thread each and batching on, on the same 2 cores as the load generator. Each runs the
client steps (1, 4, 16, 64 keep-alive clients, ``bench.server.run_load``) in turn, alternated: ours,
each framework, then again. Per step: requests/s, p50/p99, errors by status, CPU seconds of the
server's whole process tree per 1,000 answers and resident MB of each of its processes. Beside them,
the model alone in one process (``bench.server.in_process_throughput``) at the batch sizes our server
forms: the ceiling the serving path leaves room for.

A framework runs in a venv of its own, made on first use from ``bench/frameworks/NAME/requirements.txt``
(every package pinned exactly) under a cache folder (``--venvs``, default ``$SIGNSTREAM_BENCH_VENVS`` or
``~/.cache/signstream/bench-venvs``); a changed requirements file makes a new venv.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import proc_stats
from bench.load_client import Connection, HttpError, encode_request
from bench.server import in_process_throughput, run_load, sample_window, start_ours
from shared.app.processes import free_port, stop_server, wait_ready

CHECKOUT = Path(__file__).resolve().parents[1]
FRAMEWORKS_DIR = Path(__file__).resolve().parent / "frameworks"
FRAMEWORKS = ("bentoml", "litserve", "mlserver")
STEPS = (1, 4, 16, 64)
WORKERS = 2  # model processes per contender: one per core
MAX_BATCH = 32  # our server's default max_batch
BATCH_TIMEOUT_S = 0.002  # our server's default batch window
CEILING_BATCHES = (1, 4, 32)  # 4: the most a worker of ours batches at one window a request (4 request threads)
MAX_CLIENT_PROCESSES = 16  # 64 clients: 16 processes x 4 threads (64 interpreters would not fit beside the servers)
VENVS_ENV = "SIGNSTREAM_BENCH_VENVS"


def parse_against(value: str) -> list[str]:
    """``bentoml,litserve`` -> the framework names, in the order given; argparse's error for anything else."""
    names = [v.strip().lower() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in FRAMEWORKS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown framework {', '.join(unknown) or '(none given)'}: choose from {','.join(FRAMEWORKS)}"
        )
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"a framework is named twice in {value!r}")
    return names


def parse_steps(value: str) -> list[int]:
    """``1,4,16`` -> [1, 4, 16] (each a positive client count)."""
    try:
        steps = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        steps = []
    if not steps or min(steps) < 1:
        raise argparse.ArgumentTypeError(f"client steps must be positive whole numbers like 1,4,16,64, not {value!r}")
    return steps


def default_venvs() -> Path:
    """Where framework venvs are cached: ``$SIGNSTREAM_BENCH_VENVS`` or ``~/.cache/signstream/bench-venvs``."""
    return Path(os.environ.get(VENVS_ENV) or Path.home() / ".cache" / "signstream" / "bench-venvs")


class VenvError(RuntimeError):
    """A framework's venv could not be made; the message says why (pip's last lines)."""


def venv_dir(name: str, root: Path) -> Path:
    """The venv for framework ``name`` under ``root``, named for its requirements file's content."""
    digest = hashlib.sha256((FRAMEWORKS_DIR / name / "requirements.txt").read_bytes()).hexdigest()[:12]
    return root / f"{name}-{digest}"


def ensure_venv(name: str, root: Path, log: Callable[[str], None] = print) -> Path:
    """The framework's venv, made first if absent: built under a temporary name, renamed when complete.

    Its programs are always run as ``VENV/bin/python -m ...`` (a renamed venv keeps its interpreter
    but not its scripts' first lines).
    """
    target = venv_dir(name, root)
    if (target / "bin" / "python").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=root))
    log(f"making the {name} venv in {target} (once; pip, from {FRAMEWORKS_DIR / name / 'requirements.txt'})")
    try:
        # no pip inside (ensurepip takes seconds): this interpreter's pip installs into it
        venv = [sys.executable, "-m", "venv", "--clear", "--without-pip", str(tmp)]
        subprocess.run(venv, check=True, capture_output=True)
        pip = [sys.executable, "-m", "pip", "--python", str(tmp / "bin" / "python"), "install", "--quiet",
               "--disable-pip-version-check"]  # fmt: skip
        req = FRAMEWORKS_DIR / name / "requirements.txt"
        done = subprocess.run([*pip, "--no-deps", "-r", str(req)], capture_output=True, text=True)
        if done.returncode != 0:
            tail = " | ".join(line for line in done.stderr.strip().splitlines()[-3:])
            raise VenvError(f"{name} did not install from {req}: {tail}")
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


@dataclass
class Contender:
    """One server to race: how to start it, where to post and what."""

    name: str
    setup: str  # how it runs: processes, threads, batching (for the report)
    path: str  # the URL path answers are posted to
    body: bytes
    ctype: str
    start: Callable[[int, Path], subprocess.Popen]  # (port, scratch folder) -> the running server, ready


def _bodies() -> dict[str, bytes]:
    """The request each contender gets, all carrying the same window in the same JSON numbers.

    Ours and LitServe take ``{"sequence": W}`` (the same bytes); BentoML's batchable input is a batch
    (``{"sequence": [W]}``); MLServer speaks the V2 inference protocol (W flattened, shape [1, 30, 126]).
    """
    w = sample_window().tolist()
    flat = [x for frame in w for x in frame]
    v2 = {"inputs": [{"name": "sequence", "shape": [1, len(w), len(w[0])], "datatype": "FP32", "data": flat}]}
    return {
        "ours": json.dumps({"sequence": w}).encode(),
        "litserve": json.dumps({"sequence": w}).encode(),
        "bentoml": json.dumps({"sequence": [w]}).encode(),
        "mlserver": json.dumps(v2).encode(),
    }


def _framework_env(bundle: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(CHECKOUT),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "SIGNSTREAM_BENCH_BUNDLE": str(bundle.resolve()),
        "SIGNSTREAM_BENCH_WORKERS": str(WORKERS),
        "SIGNSTREAM_BENCH_MAX_BATCH": str(MAX_BATCH),
        "SIGNSTREAM_BENCH_BATCH_TIMEOUT_S": str(BATCH_TIMEOUT_S),
    }


def _launch(cmd: list[str], env: dict, cwd: Path, scratch: Path) -> subprocess.Popen:
    scratch.mkdir(parents=True, exist_ok=True)
    with (scratch / "server.log").open("ab") as log:
        return subprocess.Popen(cmd, env=env, cwd=cwd, start_new_session=True, stdout=log, stderr=subprocess.STDOUT)


def warm_up(port: int, path: str, body: bytes, ctype: str, answers: int, timeout: float = 120.0) -> None:
    """Post ``body`` over fresh connections until ``answers`` 200s came back (every worker loaded and warm)."""
    host = f"127.0.0.1:{port}"
    request = encode_request("POST", path, host, {"Content-Type": ctype, "Connection": "close"}, body)
    deadline, ok, last = time.monotonic() + timeout, 0, ""
    while ok < answers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {ok} of {answers} warm-up answers in {timeout:.0f} s (last: {last})")
        conn = Connection("127.0.0.1", port, timeout=30)
        try:
            status, data = conn.exchange(request)
            ok += status == 200
            last = f"{status} {data[:200]!r}"
        except HttpError as err:
            last = str(err)
            time.sleep(0.3)
        finally:
            conn.close()


def _started(proc: subprocess.Popen, ready_url: str, scratch: Path) -> subprocess.Popen:
    try:
        wait_ready(ready_url, proc, timeout=240)
    except Exception as err:
        stop_server(proc)
        log = (scratch / "server.log").read_text(errors="replace").strip().splitlines()[-5:]
        raise RuntimeError(f"{err}; its log ends: {' | '.join(log)}") from err
    return proc


def _litserve(venv: Path, bundle: Path) -> Callable[[int, Path], subprocess.Popen]:
    def start(port: int, scratch: Path) -> subprocess.Popen:
        cmd = [str(venv / "bin" / "python"), str(FRAMEWORKS_DIR / "litserve" / "service.py"), str(port)]
        proc = _launch(cmd, _framework_env(bundle), scratch, scratch)
        return _started(proc, f"http://127.0.0.1:{port}/health", scratch)

    return start


def _bentoml(venv: Path, bundle: Path) -> Callable[[int, Path], subprocess.Popen]:
    def start(port: int, scratch: Path) -> subprocess.Popen:
        env = {**_framework_env(bundle), "BENTOML_HOME": str(scratch / "bentoml-home"), "BENTOML_DO_NOT_TRACK": "True"}
        cmd = [str(venv / "bin" / "python"), "-m", "bentoml", "serve", "service:Signs", "--host", "127.0.0.1",
               "--port", str(port)]  # fmt: skip
        proc = _launch(cmd, env, FRAMEWORKS_DIR / "bentoml", scratch)
        return _started(proc, f"http://127.0.0.1:{port}/readyz", scratch)

    return start


def _mlserver(venv: Path, bundle: Path) -> Callable[[int, Path], subprocess.Popen]:
    def start(port: int, scratch: Path) -> subprocess.Popen:
        repo = scratch / "mlserver"
        (repo / "signs").mkdir(parents=True, exist_ok=True)
        settings = {"parallel_workers": WORKERS, "http_port": port, "grpc_port": free_port(),
                    "metrics_port": free_port(), "host": "127.0.0.1", "debug": False,
                    "metrics_dir": str(scratch / "mlserver-metrics")}  # fmt: skip
        (repo / "settings.json").write_text(json.dumps(settings))
        model = {"name": "signs", "implementation": "bench.frameworks.mlserver.service.SignsRuntime",
                 "max_batch_size": MAX_BATCH, "max_batch_time": BATCH_TIMEOUT_S}  # fmt: skip
        (repo / "signs" / "model-settings.json").write_text(json.dumps(model))
        # its console script's first line names the venv's first path: call its entry point instead
        cmd = [str(venv / "bin" / "python"), "-c", "import sys; from mlserver.cli import main; sys.exit(main())",
               "start", str(repo)]  # fmt: skip
        proc = _launch(cmd, _framework_env(bundle), scratch, scratch)
        return _started(proc, f"http://127.0.0.1:{port}/v2/models/signs/ready", scratch)

    return start


def contenders(
    bundle: Path, frameworks: list[str], venvs: dict[str, Path], runtime: str = "savedmodel"
) -> list[Contender]:
    """Ours first (its model on ``runtime``), then each framework that has a venv, in the order asked."""
    from shared.contract.protocol import JSON_CONTENT_TYPE

    bodies = _bodies()

    def ours(port: int, scratch: Path) -> subprocess.Popen:
        return start_ours(bundle, port, scratch, workers=WORKERS, metrics_public="true", model_runtime=runtime)

    out = [Contender("ours", f"gunicorn gthread, {WORKERS} workers x 4 threads, micro-batching (max 32, 2 ms window), "
                     f"model runtime {runtime}", "/predict", bodies["ours"], JSON_CONTENT_TYPE, ours)]  # fmt: skip
    setups = {
        "litserve": (f"{WORKERS} inference workers + {WORKERS} uvicorn API processes, max_batch_size {MAX_BATCH}, "
                     f"batch_timeout {BATCH_TIMEOUT_S * 1000:.0f} ms", "/predict", _litserve),
        "bentoml": (f"{WORKERS} workers (HTTP + model each), adaptive batching, max_batch_size {MAX_BATCH}",
                    "/predict", _bentoml),
        "mlserver": (f"HTTP process + {WORKERS} parallel_workers, adaptive batching, max_batch_size {MAX_BATCH}, "
                     f"max_batch_time {BATCH_TIMEOUT_S * 1000:.0f} ms", "/v2/models/signs/infer", _mlserver),
    }  # fmt: skip
    for name in frameworks:
        if name in venvs:
            setup, path, factory = setups[name]
            out.append(Contender(name, setup, path, bodies[name], "application/json", factory(venvs[name], bundle)))
    return out


def _mean_batch(port: int) -> tuple[float, float] | None:
    """(sum, count) of our server's ``signstream_batch_size`` histogram, or None if it cannot be read."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        for key in ("signstream_batch_size_sum", "signstream_batch_size_count"):
            if line.startswith(key):
                values[key] = values.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
    if len(values) < 2:
        return None
    return values["signstream_batch_size_sum"], values["signstream_batch_size_count"]


def run_steps(c: Contender, steps: list[int], duration: float, scratch: Path) -> dict:
    """Start ``c``, warm it up, run every client step on it; per step the load's results plus CPU and memory."""
    port = free_port()
    t0 = time.monotonic()
    proc = c.start(port, scratch)
    out: dict = {"setup": c.setup, "start_s": 0.0, "steps": {}}
    try:
        warm_up(port, c.path, c.body, c.ctype, answers=4 * WORKERS)
        out["start_s"] = time.monotonic() - t0
        url = f"http://127.0.0.1:{port}{c.path}"
        for clients in steps:
            cpu0: list[float] = []  # sampled at the start line, once every client is connected

            def at_start(_t0: float, cpu0: list[float] = cpu0) -> None:
                cpu0.append(proc_stats.tree_cpu(proc.pid))

            batches0 = _mean_batch(port) if c.name == "ours" else None
            load0 = os.getloadavg()[0]
            r = run_load(url, c.body, c.ctype, clients, duration, during=at_start,
                         processes=min(clients, MAX_CLIENT_PROCESSES))  # fmt: skip
            cpu = proc_stats.tree_cpu(proc.pid) - cpu0[0]
            r["server_cpu_s"] = cpu
            r["cpu_s_per_1000"] = cpu / r["ok"] * 1000 if r["ok"] else float("nan")
            r["rss_mb"] = proc_stats.tree_rss_mb(proc.pid)
            r["loadavg"] = (load0, os.getloadavg()[0])
            batches1 = _mean_batch(port) if batches0 is not None else None
            if batches0 and batches1 and batches1[1] > batches0[1]:
                r["mean_batch"] = (batches1[0] - batches0[0]) / (batches1[1] - batches0[1])
            r.pop("failures_at_s", None)
            out["steps"][str(clients)] = r
    finally:
        stop_server(proc)
    return out


def ceiling(bundle: Path, seconds: float, runtime: str = "savedmodel") -> dict[str, float]:
    """Windows/s of the model alone (``runtime``'s), one process, 2 calling threads on both cores, per batch size."""
    return {
        str(b): in_process_throughput(bundle, seconds, batch=b, callers=WORKERS, runtime=runtime)
        for b in CEILING_BATCHES
    }


def bench_against(
    bundle: Path,
    frameworks: list[str],
    duration: float,
    rounds: int = 2,
    steps: list[int] | None = None,
    venvs_root: Path | None = None,
    ceiling_seconds: float = 3.0,
    runtime: str = "savedmodel",
) -> dict:
    """Make the venvs, then ``rounds`` alternated rounds of every contender over every step, and the ceiling."""
    steps = list(steps or STEPS)
    root = venvs_root or default_venvs()
    venvs: dict[str, Path] = {}
    missing: dict[str, str] = {}
    for name in frameworks:
        try:
            venvs[name] = ensure_venv(name, root)
        except (VenvError, subprocess.CalledProcessError, OSError) as err:
            missing[name] = str(err)
    results: dict = {"steps": steps, "duration_s": duration, "workers": WORKERS, "runtime": runtime,
                     "not_run": missing, "rounds": []}  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="signstream-bench-against-"))
    try:
        for i in range(rounds):
            rnd: dict = {"contenders": {}, "ceiling": ceiling(bundle, ceiling_seconds, runtime)}
            for c in contenders(bundle, frameworks, venvs, runtime):
                try:
                    rnd["contenders"][c.name] = run_steps(c, steps, duration, work / f"round{i}-{c.name}")
                except RuntimeError as err:  # a framework that does not start: said in the report, the race goes on
                    rnd["contenders"][c.name] = {"setup": c.setup, "error": str(err), "steps": {}}
            results["rounds"].append(rnd)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def _rss(values: list[float]) -> str:
    return " + ".join(f"{v:.0f}" for v in values) if values else "-"


def format_against(results: dict) -> str:
    """The report: one Markdown table row per round, contender and step; the ceiling; what did not run."""
    lines = [
        "| round | server | clients | req/s | p50 ms | p99 ms | errors | CPU s / 1,000 answers | RSS MB per process "
        "| ours / best framework | load avg |",
        "| --- " * 11 + "|",
    ]
    for n, rnd in enumerate(results["rounds"], 1):
        conts = rnd["contenders"]
        for step in map(str, results["steps"]):
            others = [c["steps"][step]["rps"] for name, c in conts.items() if name != "ours" and step in c["steps"]]
            best = max(others, default=0.0)
            for name, c in conts.items():
                if step not in c["steps"]:
                    continue
                r = c["steps"][step]
                errors = r["errors"]
                if errors:
                    kinds = {k: v for k, v in r["statuses"].items() if k != "200"}
                    errors = f"{errors} {kinds}"
                ratio = f"{r['rps'] / best:.2f}" if name == "ours" and best else ""
                lines.append(
                    f"| {n} | {name} | {step} | {r['rps']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {errors} "
                    f"| {r['cpu_s_per_1000']:.2f} | {_rss(r['rss_mb'])} | {ratio} | {r['loadavg'][1]:.1f} |"
                )
    lines.append("")
    for n, rnd in enumerate(results["rounds"], 1):
        ceil = rnd["ceiling"]
        text = ", ".join(f"batch {b}: {v:.0f}" for b, v in ceil.items())
        runtime = results.get("runtime", "savedmodel")
        lines.append(
            f"round {n} ceiling ({runtime} alone, one process, {results['workers']} threads), windows/s: {text}"
        )
        ours = rnd["contenders"].get("ours", {}).get("steps", {})
        for step, r in ours.items():
            batch = r.get("mean_batch")
            ref = _ceiling_at(ceil, batch)
            lines.append(f"  ours at {step} clients: {r['rps']:.0f} windows/s = {r['rps'] / ref:.1%} of the ceiling at "
                         f"batch {_nearest(ceil, batch)} (mean batch formed {batch or float('nan'):.2f})")  # fmt: skip
        for name, c in rnd["contenders"].items():
            if "error" in c:
                lines.append(f"  {name} did not run: {c['error']}")
    for name, why in results["not_run"].items():
        lines.append(f"{name}: not run ({why})")
    for name, c in results["rounds"][0]["contenders"].items() if results["rounds"] else []:
        lines.append(f"{name}: {c['setup']}")
    return "\n".join(lines)


def _nearest(ceil: dict[str, float], batch: float | None) -> str:
    """The measured batch size closest to ``batch`` (ratio-wise); the smallest above 1 when unknown."""
    sizes = sorted(int(b) for b in ceil)
    if batch is None:
        return str(next((b for b in sizes if b > 1), sizes[0]))
    return str(min(sizes, key=lambda b: abs((b / batch) - 1) if b >= batch else abs((batch / b) - 1)))


def _ceiling_at(ceil: dict[str, float], batch: float | None) -> float:
    return ceil[_nearest(ceil, batch)]


def main(args: argparse.Namespace) -> None:
    """``bench server --against``: print the table (and write JSON with --out)."""
    results = bench_against(args.model, args.against, args.duration, args.rounds, args.steps, args.venvs,
                            runtime=args.runtime)  # fmt: skip
    print(format_against(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
