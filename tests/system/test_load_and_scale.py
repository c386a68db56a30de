"""Load with a promotion in the middle, and two instances behind nginx following one registry pointer."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from bench.server import run_load
from shared.app.processes import free_port
from shared.registry.registry import Registry
from shared.registry.store import open_store
from tests.conftest import require_binary
from tests.system.conftest import http, wait_until

pytestmark = pytest.mark.slow
LOAD_SECONDS = float(os.environ.get("SIGNSTREAM_SYSTEM_LOAD_SECONDS", "60"))
HOGS = int(os.environ.get("SIGNSTREAM_SYSTEM_CPU_HOGS", "3"))
# what the server's log says about workers and models: a failed request is read beside these lines
LOG_EVENTS = ("WORKER TIMEOUT", "Booting worker", "exited", "Worker", "CRITICAL", "ERROR", "serving model",
              "sync updated", "heap settled")  # fmt: skip


def body(seed: int = 0) -> bytes:
    w = np.random.default_rng(seed).uniform(0.2, 0.8, (30, 126)).astype(np.float32)
    return json.dumps({"sequence": w.tolist()}).encode()


def promote(system, version):
    proc = system.cli("promote", "signs", version, "--store", system.store, "--by", "ci",
                      "--signing-key", str(system.private_key), check=False)  # fmt: skip
    assert proc.returncode == 0 or "already current" in proc.stderr, proc.stderr


def version_of(system, base) -> str:
    status, answer, _ = http("POST", base + "/predict", body(), {"Content-Type": "application/json",
                                                                   "Connection": "close", **system.auth()})  # fmt: skip
    return answer["model"]["version"] if status == 200 else f"HTTP {status}"


@contextlib.contextmanager
def cpu_hogs(n: int):
    """``n`` busy-loop processes at normal priority beside the test: other jobs loading the 2 cores."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield hogs
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def log_events(log, start: int) -> str:
    """The server log's worker and model lines written since byte ``start``."""
    with open(log, "rb") as fh:
        fh.seek(start)
        lines = fh.read().decode(errors="replace").splitlines()
    return "\n".join(line for line in lines if any(e in line for e in LOG_EVENTS))


def test_16_clients_for_60_s_with_a_promotion_midway_beside_a_cpu_hog(system, capsys, monkeypatch):
    # Six of 15,978 requests once failed at the connection level on a machine busy with other jobs;
    # the hogs make that machine every run, and the error kinds say what broke if it happens again.
    base, _, log = system.start_server("load", extra_env={"SIGNSTREAM_SERVER_RATE_LIMIT": "0"})
    promote(system, "1")
    assert wait_until(lambda: version_of(system, base) == "1", 60)
    promoted = {}
    for key, value in system.operator_env().items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)  # the operator's direct route to S3, for the in-process promotion
    registry = Registry(open_store(system.store))

    def midway(t0):
        # Promoting takes long beside the hogs and the 16 clients: the CLI (a new Python process) took
        # 10-20 s and once 46 s, so the swap fell after the load ended; through the registry's API in
        # this process it took 15 s. Started early, the swap still lands well inside the load.
        time.sleep(max(0.0, LOAD_SECONDS / 12 - (time.monotonic() - t0)))
        registry.promote("signs", "2", by="ci", signing_key=system.private_key)
        promoted["at"] = time.monotonic() - t0

    log_start = log.stat().st_size
    with cpu_hogs(HOGS):
        result = run_load(base + "/predict", body(), "application/json", 16, LOAD_SECONDS, during=midway,
                          headers=system.auth())  # fmt: skip
    events = log_events(log, log_start)
    with capsys.disabled():
        print(f"\nload: 16 clients x {LOAD_SECONDS:.0f} s beside {HOGS} CPU hogs, promotion at "
              f"{promoted.get('at', 0):.0f} s: {result['ok']} ok, {result['errors']} failed, "
              f"{result['rps']:.0f} requests/s, p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
              f"max {result['max_ms']:.0f} ms, versions {result['versions']}, "
              f"connection errors {result['error_kinds'] or 'none'}, "
              f"idle connections closed between requests and reopened {result['reopened']}")  # fmt: skip
        if result["errors"]:
            print(f"failed at (s from the start, kind): {result['failures_at_s']}\nserver log:\n{events}")
    assert result["errors"] == 0, (result["statuses"], result["error_kinds"], result["failures_at_s"], events)
    assert result["versions"] == ["1", "2"], result["versions"]
    promote(system, "1")


NGINX_CONF = """
worker_processes 1;
user root;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
daemon off;
events {{ worker_connections 512; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream signstream {{
        server 127.0.0.1:{a} max_fails=1 fail_timeout=30s;
        server 127.0.0.1:{b} max_fails=1 fail_timeout=30s;
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 4m;
        location / {{
            proxy_pass http://signstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 2s;
            proxy_read_timeout 30s;
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
            proxy_next_upstream_tries 2;
        }}
    }}
}}
"""


def _predict_count(system, base) -> float:
    text = http("GET", base + "/metrics", headers=system.auth(admin=True))[1]
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith('signstream_requests_total{endpoint="/predict",status="200"}'))  # fmt: skip


def test_two_instances_behind_nginx_follow_one_pointer_and_survive_one_dying(system, tmp_path):
    nginx = require_binary("nginx")
    promote(system, "1")
    a, proc_a, _ = system.start_server("scale-a", workers=1, extra_env={"SIGNSTREAM_SERVER_RATE_LIMIT": "0"})
    b, _proc_b, _ = system.start_server("scale-b", workers=1, extra_env={"SIGNSTREAM_SERVER_RATE_LIMIT": "0"})
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp_path, a=a.rsplit(":", 1)[1], b=b.rsplit(":", 1)[1], port=port))
    with open(tmp_path / "nginx.stderr", "wb") as err:
        proxy = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp_path)], stderr=err)
    front = f"http://127.0.0.1:{port}"
    try:
        started = wait_until(lambda: http("GET", front + "/health")[0] == 200, 20)
        assert started, f"nginx did not start: {(tmp_path / 'nginx.stderr').read_text()[-1000:]}"
        # A promotion reaches both instances.
        promote(system, "2")
        assert wait_until(lambda: version_of(system, a) == "2" and version_of(system, b) == "2", 60)
        promote(system, "1")
        assert wait_until(lambda: version_of(system, a) == "1" and version_of(system, b) == "1", 60)

        # Load through nginx is spread over both.
        before = (_predict_count(system, a), _predict_count(system, b))
        spread = run_load(front + "/predict", body(), "application/json", 8, 8, headers=system.auth())
        served = (_predict_count(system, a) - before[0], _predict_count(system, b) - before[1])
        assert spread["errors"] == 0 and sum(served) == spread["ok"], (spread, served)
        assert min(served) > 0.2 * sum(served), served

        # One instance killed in the middle of the load: nginx sends every request that has not reached a
        # dead instance, or got no answer from it, to the other one. What no proxy can save is an answer
        # the killed instance was writing when SIGKILL came (gunicorn writes the headers and the body in
        # two sends; nginx has passed the headers on and must cut the client's connection): at most one
        # per client, in the instant of the kill. Seen 1 in 2649 in CI (session 7); the kiosk's
        # transport retries such a request. Anything else, or later, fails the test.
        killed_at: list[float] = []

        def kill_a(t0):
            time.sleep(max(0.0, 5 - (time.monotonic() - t0)))
            os.killpg(proc_a.pid, signal.SIGKILL)
            killed_at.append(time.monotonic() - t0)

        clients = 8
        auth = system.auth()
        killed = run_load(front + "/predict", body(), "application/json", clients, 12, during=kill_a, headers=auth)
        cut = [f for f in killed["failures_at_s"] if killed_at[0] - 0.05 <= f[0] <= killed_at[0] + 1.0]
        assert killed["errors"] == len(cut) <= clients, (killed["error_kinds"], killed["failures_at_s"], killed_at)
        assert killed["ok"] > 0 and proc_a.wait(10) is not None
    finally:
        proxy.send_signal(signal.SIGQUIT)
        try:
            proxy.wait(10)
        except subprocess.TimeoutExpired:
            proxy.kill()
