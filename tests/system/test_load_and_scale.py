"""Load with a promotion in the middle, and two instances behind nginx following one registry pointer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest

from cloud_server.bench_server import run_load
from shared.demo import free_port
from tests.conftest import require_binary
from tests.system.conftest import http, wait_until

pytestmark = pytest.mark.slow
LOAD_SECONDS = float(os.environ.get("SIGNSTREAM_SYSTEM_LOAD_SECONDS", "60"))


def body(seed: int = 0) -> bytes:
    w = np.random.default_rng(seed).uniform(0.2, 0.8, (30, 126)).astype(np.float32)
    return json.dumps({"sequence": w.tolist()}).encode()


def promote(system, version):
    proc = system.cli("promote", "signs", version, "--store", system.store, "--by", "ci", check=False)
    assert proc.returncode == 0 or "already current" in proc.stderr, proc.stderr


def version_of(system, base) -> str:
    status, answer, _ = http("POST", base + "/predict", body(), {"Content-Type": "application/json",
                                                                   "Connection": "close", **system.auth()})  # fmt: skip
    return answer["model"]["version"] if status == 200 else f"HTTP {status}"


def test_16_clients_for_60_s_with_a_promotion_midway(system, capsys):
    base, _, _ = system.start_server("load", extra_env={"SIGNSTREAM_SERVER_RATE_LIMIT": "0"})
    promote(system, "1")
    assert wait_until(lambda: version_of(system, base) == "1", 60)
    promoted = {}

    def midway(t0):
        time.sleep(max(0.0, LOAD_SECONDS / 2 - (time.monotonic() - t0)))
        promote(system, "2")
        promoted["at"] = time.monotonic() - t0

    result = run_load(base + "/predict", body(), "application/json", 16, LOAD_SECONDS, during=midway,
                      headers=system.auth())  # fmt: skip
    with capsys.disabled():
        print(f"\nload: 16 clients x {LOAD_SECONDS:.0f} s, promotion at {promoted.get('at', 0):.0f} s: "
              f"{result['ok']} ok, {result['errors']} failed, {result['rps']:.0f} requests/s, "
              f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
              f"versions {result['versions']}")  # fmt: skip
    assert result["errors"] == 0, result["statuses"]
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

        # One instance killed in the middle of the load costs no failed request.
        def kill_a(t0):
            time.sleep(max(0.0, 5 - (time.monotonic() - t0)))
            os.killpg(proc_a.pid, signal.SIGKILL)

        killed = run_load(front + "/predict", body(), "application/json", 8, 12, during=kill_a, headers=system.auth())
        assert killed["errors"] == 0, killed["statuses"]
        assert killed["ok"] > 0 and proc_a.wait(10) is not None
    finally:
        proxy.send_signal(signal.SIGQUIT)
        try:
            proxy.wait(10)
        except subprocess.TimeoutExpired:
            proxy.kill()
