"""Hostile bytes from clients without a key, 64 at once against 2 workers, beside honest clients.

Every framing trick a probe tried (signed, prefixed and underscored chunk sizes, junk, oversize lines,
data longer than its size, a header line without a colon, lying lengths, pipelined requests) is sent
over and over while a probe asks ``/health`` and keyed clients post windows. The server must keep
answering everyone: ``/health`` within a second, windows with p99 under 200 ms, no 5xx and no
traceback in its log.
"""

import os
import socket
import threading
import time

import numpy as np
import pytest
import requests

from cloud_server.keys import add_key
from shared.app.processes import free_port, start_server, stop_server, wait_ready
from shared.contract.protocol import BINARY_CONTENT_TYPE, encode_binary
from tests.slow_clients import raise_fd_limit

pytestmark = pytest.mark.slow
HOSTILE, HONEST, SECONDS = 64, 4, 12.0
HEAD = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
CHUNKED = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
ATTACKS = [
    CHUNKED + b"-6\r\n",
    CHUNKED + b"-100\r\n",
    CHUNKED + b"+5\r\nhello\r\n0\r\n\r\n",
    CHUNKED + b"0x10\r\n",
    CHUNKED + b"1_0\r\n",
    CHUNKED + b"zz\r\n",
    CHUNKED + b"5;" + b"a" * 5000 + b"\r\n",
    CHUNKED + b"3\r\nhello\r\n0\r\n\r\n",
    HEAD + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    HEAD + b"Content-Length: 2\r\n\r\n{}GET /health HTTP/1.1\r\nHost: x\r\n\r\n" * 20,  # pipelined, keyless
    HEAD + b"Content-Length: 10\r\n\r\n{}" + b"junk" * 50,  # longer than its length: the rest is no request
    b"GET /health HTTP/1.1\r\nHost: x\r\nAuthorization Bearer SECRET-IN-A-LINE\r\n\r\n",
    b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n",
    HEAD + b"Content-Length: 1000\r\n\r\n{",  # a lying length: held until the body timeout
]


@pytest.fixture
def server(tiny_bundle, tmp_path):
    raise_fd_limit(4096)
    keys_file = tmp_path / "keys.json"
    key = add_key(keys_file, "kiosk-1")
    port = free_port()
    env = {**os.environ, "SIGNSTREAM_SERVER_BODY_TIMEOUT": "3", "SIGNSTREAM_SERVER_LOG_REQUESTS": "false",
           "SIGNSTREAM_SERVER_RATE_LIMIT": "0"}  # fmt: skip
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        proc = start_server(tiny_bundle, port, workers=2, env=env, keys_file=keys_file, log=log)
    try:
        wait_ready(f"http://127.0.0.1:{port}/ready", proc)
        time.sleep(2.0)  # the second worker too
        yield port, key, log_path
    finally:
        stop_server(proc)


def attacker(port: int, n: int, stop: threading.Event, statuses: list) -> None:
    while not stop.is_set():
        attack = ATTACKS[n % len(ATTACKS)]
        n += HOSTILE
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(attack)
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
            statuses += [int(line.split()[1]) for line in data.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]
        except OSError:
            pass  # a refused attack may be reset: only the honest clients' answers are judged


def test_hostile_framing_from_64_keyless_clients_does_not_stop_the_server(server):
    port, key, log_path = server
    base = f"http://127.0.0.1:{port}"
    stop = threading.Event()
    statuses, health, latencies, honest_failures = [], [], [], []
    body = encode_binary(np.random.default_rng(0).uniform(0.2, 0.8, (1, 30, 126)).astype(np.float32))

    def honest() -> None:
        session = requests.Session()
        headers = {"Content-Type": BINARY_CONTENT_TYPE, "Authorization": f"Bearer {key}"}
        while not stop.is_set():
            t0 = time.perf_counter()
            try:
                r = session.post(base + "/predict", data=body, headers=headers, timeout=10)
                (latencies if r.status_code == 200 else honest_failures).append(
                    time.perf_counter() - t0 if r.status_code == 200 else r.status_code
                )
            except requests.RequestException as err:
                honest_failures.append(type(err).__name__)

    def probe() -> None:
        while not stop.is_set():
            t0 = time.perf_counter()
            try:
                ok = requests.get(base + "/health", timeout=5, headers={"Connection": "close"}).status_code == 200
            except requests.RequestException:
                ok = False
            health.append((ok, time.perf_counter() - t0))
            time.sleep(0.2)

    threads = [threading.Thread(target=attacker, args=(port, i, stop, statuses)) for i in range(HOSTILE)]
    threads += [threading.Thread(target=honest) for _ in range(HONEST)] + [threading.Thread(target=probe)]
    for t in threads:
        t.start()
    time.sleep(SECONDS)
    stop.set()
    for t in threads:
        t.join(15)
    assert latencies and health, "no honest client or probe was answered at all"
    p99 = float(np.percentile(latencies, 99))
    slowest_health = max(t for _, t in health)
    print(f"hostile: {len(statuses)} refusals {sorted(set(statuses))}; honest: {len(latencies)} answered, "
          f"p99 {p99 * 1000:.1f} ms, failures {honest_failures[:5]}; /health {len(health)} probes, slowest "
          f"{slowest_health:.3f} s")  # fmt: skip
    assert statuses and all(400 <= s < 500 or s in (200, 501) for s in statuses), sorted(set(statuses))
    assert all(ok for ok, _ in health) and slowest_health < 1.0
    assert not honest_failures and p99 < 0.2
    log = log_path.read_bytes()
    assert b"Traceback" not in log and b"SECRET-IN-A-LINE" not in log
