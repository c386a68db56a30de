"""The real server under gunicorn (2 workers) on 127.0.0.1: metrics over workers, hot swap under load,
a tampered bundle refused while the old model serves, 413 while the client sends, SIGHUP."""

import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from shared.app.processes import free_port, start_server, stop_server, wait_ready
from shared.contract.protocol import BINARY_CONTENT_TYPE, encode_binary
from shared.model.bundle import SAVED_MODEL_DIR, read_manifest, write_manifest
from tests.workers import all_workers_serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def versions(tiny_bundle, tmp_path_factory):
    """v1 (the tiny bundle), v2 (same network, other labels), and a tampered v3, plus a symlink to v1."""
    root = tmp_path_factory.mktemp("models")
    v1 = root / "v1"
    shutil.copytree(tiny_bundle, v1)
    v2 = root / "v2"
    shutil.copytree(tiny_bundle, v2)
    m = read_manifest(v2)
    write_manifest(v2, m.model_copy(update={"version": "2", "labels": [f"v2-{x}" for x in m.labels]}))
    v3 = root / "v3"
    shutil.copytree(tiny_bundle, v3)
    write_manifest(v3, m.model_copy(update={"version": "3"}))
    victim = next(p for p in sorted((v3 / SAVED_MODEL_DIR).rglob("*")) if p.is_file() and p.stat().st_size > 100)
    data = bytearray(victim.read_bytes())
    data[50] ^= 0xFF
    victim.write_bytes(data)
    link = root / "current"
    link.symlink_to(v1)
    return {"root": root, "v1": v1, "v2": v2, "v3": v3, "link": link, "labels1": m.labels}


def repoint(link, target):
    tmp = link.with_name(".current.tmp")
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(target)
    tmp.replace(link)


@pytest.fixture
def server(versions, tmp_path):
    repoint(versions["link"], versions["v1"])
    port = free_port()
    env = {**os.environ, "SIGNSTREAM_SERVER_POLL_INTERVAL": "1", "SIGNSTREAM_SERVER_RUNTIME_DIR": str(tmp_path)}
    proc = start_server(versions["link"], port, workers=2, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base + "/ready", proc)
        yield base, proc
    finally:
        stop_server(proc)


def window(seed=0):
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.2, 0.8, (30, 126)).astype(np.float32)
    return w


def metric_sum(text, name, **labels):
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_totals_equal_the_requests_sent_over_two_workers(server):
    base, _ = server
    from concurrent.futures import ThreadPoolExecutor

    def one(i):  # a new connection each time; 8 at once, so both workers accept some
        r = requests.post(base + "/predict", data=encode_binary(window(i)),
                          headers={"Content-Type": BINARY_CONTENT_TYPE, "Connection": "close"}, timeout=10)  # fmt: skip
        assert r.status_code == 200
        return requests.get(base + "/ready", headers={"Connection": "close"}, timeout=5).json()["worker"]

    pids, sent = set(), 0
    with ThreadPoolExecutor(8) as pool:
        while sent < 400 and (sent < 60 or len(pids) < 2):  # bounded: stop once both workers answered
            pids.update(pool.map(one, range(sent, sent + 20)))
            sent += 20
    bad = requests.post(base + "/predict", data=b"[1,", headers={"Content-Type": "application/json"}, timeout=5)
    assert bad.status_code == 400
    assert len(pids) == 2, "both workers must have answered for this test to mean anything"
    text = requests.get(base + "/metrics", timeout=5).text
    assert metric_sum(text, "signstream_requests_total", endpoint="/predict", status="200") == sent
    assert metric_sum(text, "signstream_requests_total", endpoint="/predict", status="400") == 1
    assert metric_sum(text, "signstream_windows_total") == sent
    assert metric_sum(text, "signstream_request_seconds_count") == sent + 1
    assert metric_sum(text, "signstream_ready") == 2
    assert metric_sum(text, "signstream_model_info", version="1") == 1


def test_hot_swap_under_load_to_other_labels_and_tampered_refused(server, versions):
    base, _ = server
    labels = {"1": set(versions["labels1"]), "2": {f"v2-{x}" for x in versions["labels1"]}}
    stop = threading.Event()
    answers, failures = [], []

    def client(seed):
        session = requests.Session()
        body = json.dumps({"sequences": [window(seed).tolist()] * 3}).encode()
        while not stop.is_set():
            try:
                r = session.post(base + "/predict", data=body, headers={"Content-Type": "application/json"}, timeout=10)
            except requests.RequestException as err:
                failures.append(repr(err))
                continue
            if r.status_code != 200:
                failures.append(r.status_code)
                continue
            a = r.json()
            answers.append((a["model"]["version"], [p["label"] for p in a["results"]]))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.5)
        repoint(versions["link"], versions["v2"])  # the workers notice within the 1 s poll
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (answers and answers[-1][0] == "2"):
            time.sleep(0.2)
        while time.monotonic() < deadline and not all_workers_serve(base, "2"):  # both swap under load
            time.sleep(0.2)
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(15)
    assert not failures, failures[:5]
    seen = {v for v, _ in answers}
    assert seen == {"1", "2"}, seen
    for version, labs in answers:  # every answer wholly from the version it names
        assert set(labs) <= labels[version], (version, labs)
    assert answers[-1][0] == "2"
    assert all_workers_serve(base, "2"), "both workers should have swapped"

    repoint(versions["link"], versions["v3"])  # tampered: checksums do not match
    r = requests.post(base + "/admin/reload", timeout=60)
    assert r.status_code == 200 and r.json() == {"outcome": "rejected", "version": "2"}
    deadline = time.monotonic() + 10  # the other worker sees the request (and its poll) and refuses it too
    while True:
        text = requests.get(base + "/metrics", timeout=5).text
        if metric_sum(text, "signstream_model_load_failures_total") >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert metric_sum(text, "signstream_model_load_failures_total") >= 2  # both workers refused it
    assert all_workers_serve(base, "2"), "the old version keeps serving on every worker"
    for i in range(6):
        a = requests.post(base + "/predict", json={"sequence": window(i).tolist()},
                          headers={"Connection": "close"}, timeout=10).json()  # fmt: skip
        assert a["model"]["version"] == "2"


def test_413_reaches_a_client_still_sending_a_large_body(server):
    base, _ = server
    big = b"[" + b"0.5," * 2_500_000 + b"0.5]"  # 10 MB, over the 4 MB limit
    r = requests.post(base + "/predict", data=big, headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 413 and r.json()["reason"] == "request_entity_too_large"

    def chunks():  # no Content-Length: the limit trips while reading
        for _ in range(100):
            yield b"0" * 100_000

    r = requests.post(base + "/predict", data=chunks(), headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 413 and r.json()["error"]
    assert requests.get(base + "/health", timeout=5).status_code == 200


def test_sighup_replaces_workers_with_the_current_model(server, versions):
    base, proc = server
    before = set(_worker_pids(proc.pid))
    repoint(versions["link"], versions["v2"])
    os.kill(proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = set(_worker_pids(proc.pid))
        if now and not now & before and len(now) == 2:
            break
        time.sleep(0.3)
    wait_ready(base + "/ready", proc)
    assert not set(_worker_pids(proc.pid)) & before, "gunicorn should have replaced every worker"
    a = requests.post(base + "/predict", json={"sequence": window().tolist()}, timeout=10).json()
    assert a["model"]["version"] == "2"


def test_sighup_under_load_leaves_no_gap_in_answers(server, versions):
    """16 clients post windows while SIGHUP replaces both workers: answers never stop for a second."""
    base, proc = server
    before = set(_worker_pids(proc.pid))
    body = encode_binary(window()[None])
    answered, failed, stop = [], [], threading.Event()

    def client() -> None:
        session = requests.Session()
        while not stop.is_set():
            try:
                r = session.post(base + "/predict", data=body, headers={"Content-Type": BINARY_CONTENT_TYPE},
                                 timeout=10)  # fmt: skip
                (answered if r.status_code == 200 else failed).append((time.monotonic(), r.status_code))
            except requests.RequestException as err:
                failed.append((time.monotonic(), type(err).__name__))

    threads = [threading.Thread(target=client) for _ in range(16)]
    for t in threads:
        t.start()
    try:
        time.sleep(2.0)
        hup_at = time.monotonic()
        os.kill(proc.pid, signal.SIGHUP)
        deadline = hup_at + 60
        while time.monotonic() < deadline and (set(_worker_pids(proc.pid)) & before or len(_worker_pids(proc.pid)) < 2):
            time.sleep(0.2)
        replaced_at = time.monotonic()
        time.sleep(3.0)
        end = time.monotonic()
    finally:
        stop.set()
        for t in threads:
            t.join(15)
    assert not set(_worker_pids(proc.pid)) & before, "every old worker must have been replaced"
    times = [t for t, _ in sorted(answered) if t >= hup_at - 1] + [end]  # silence up to the end counts too
    gaps = [b - a for a, b in itertools.pairwise(times)]
    print(f"SIGHUP under 16 clients: {len(answered)} answered, {len(failed)} failed {failed[:5]}, "
          f"old workers gone {replaced_at - hup_at:.1f} s after the signal, longest gap {max(gaps):.3f} s")  # fmt: skip
    assert max(gaps) < 1.0
    assert not [f for f in failed if isinstance(f[1], int)], "no error answer"
    assert len(failed) <= 2, "a connection the old worker closes may take at most a request or two with it"


def _worker_pids(pid):
    path = f"/proc/{pid}/task/{pid}/children"
    try:
        with open(path) as fh:
            return [int(p) for p in re.findall(r"\d+", fh.read())]
    except OSError:
        return []


def test_serve_follows_the_registry_pointer(versions, tmp_path):
    """--store file://...: the workers serve the promoted version, follow a promotion and a rollback."""
    from shared.registry.registry import Registry
    from shared.registry.store import open_store

    (tmp_path / "registry").mkdir()
    url = f"file://{tmp_path / 'registry'}"
    registry = Registry(open_store(url))
    registry.push_bundle(versions["v1"])
    registry.push_bundle(versions["v2"])
    registry.promote("tiny", "1", by="test")
    port = free_port()
    env = {**os.environ, "SIGNSTREAM_SERVER_POLL_INTERVAL": "1", "SIGNSTREAM_SERVER_CACHE_DIR": str(tmp_path / "cache"),
           "SIGNSTREAM_SERVER_RUNTIME_DIR": str(tmp_path / "run")}  # fmt: skip
    cmd = [sys.executable, "-m", "signstream.cli", "serve", "--store", url, "--model-name", "tiny",
           "--host", "127.0.0.1", "--port", str(port), "--workers", "2", "--no-auth"]  # fmt: skip
    log = open(tmp_path / "serve.log", "w+")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(cmd, start_new_session=True, env=env, stderr=log)
    base = f"http://127.0.0.1:{port}"

    def versions_answering(n=8):
        return {requests.post(base + "/predict", json={"sequence": window(i).tolist()},
                              headers={"Connection": "close"}, timeout=10).json()["model"]["version"]
                for i in range(n)}  # fmt: skip

    def wait_for(version):  # every worker, not just whichever accepted the connections
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all_workers_serve(base, version):
                return True
            time.sleep(0.5)
        return False

    try:
        wait_ready(base + "/ready", proc)
        assert wait_for("1")
        assert versions_answering() == {"1"}
        registry.promote("tiny", "2", by="test")
        assert wait_for("2"), "both workers should follow the promotion"
        assert versions_answering() == {"2"}
        registry.rollback("tiny", by="test")
        assert wait_for("1"), "both workers should follow the rollback"
        assert versions_answering() == {"1"}
        deadline = time.monotonic() + 10  # a worker counts its check just after it swapped
        while True:
            text = requests.get(base + "/metrics", timeout=5).text
            updated = metric_sum(text, "signstream_model_sync_total", outcome="updated")
            if updated >= 6 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert updated == 6, [line for line in text.splitlines() if "model_sync" in line]  # 2 workers x 3 versions
    finally:
        stop_server(proc)
        log.seek(0)
        lines = log.read().splitlines()
        log.close()

    # without -v (as the systemd unit runs it) every lifecycle event is logged.
    def count(*parts):
        return sum(all(p in line for p in parts) for line in lines)

    assert count("INFO cloud_server.serve: starting on 127.0.0.1:", "2 workers x 4 threads", "tiny from file://") == 1
    assert count("Booting worker with pid") == 2, lines
    assert count("INFO cloud_server.model_holder: serving model tiny 1 from") == 4, lines  # at start, after rollback
    assert count("INFO shared.registry.sync: tiny sync updated:", "(promoted by test at") == 4, lines
    assert count("INFO cloud_server.model_holder: serving model tiny 2 from") == 2, lines
    assert count("INFO shared.registry.sync: tiny sync updated:", "(rolled back by test at") == 2, lines
    assert count("Handling signal: term") == 1 and count("Shutting down: Master") == 1, lines
    assert count("cloud_server.serve: stopped") == 1, lines  # the arbiter's, not each worker's too
    assert lines[-1].endswith("INFO cloud_server.serve: stopped"), lines[-3:]


def test_the_tflite_runtime_serves_the_savedmodels_answers_without_tensorflow_and_swaps(versions, tmp_path):
    from cloud_server.model_holder import load_model

    repoint(versions["link"], versions["v1"])
    port = free_port()
    env = {**os.environ, "SIGNSTREAM_SERVER_POLL_INTERVAL": "1", "SIGNSTREAM_SERVER_RUNTIME_DIR": str(tmp_path),
           "SIGNSTREAM_SERVER_MODEL_RUNTIME": "tflite"}  # fmt: skip
    proc = start_server(versions["link"], port, workers=2, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base + "/ready", proc)
        windows = [window(i) for i in range(6)]
        expected = load_model(versions["v1"]).predict(windows, 3)  # the SavedModel, in this process
        for w, want in zip(windows, expected, strict=True):
            got = requests.post(base + "/predict", json={"sequence": w.tolist()}, timeout=10).json()
            assert got["label"] == want.label and abs(got["confidence"] - want.confidence) < 1e-4
        workers = _worker_pids(proc.pid)
        assert len(workers) == 2
        for pid in workers:  # LiteRT alone: TensorFlow's library is never loaded
            maps = Path(f"/proc/{pid}/maps").read_text()
            assert "ai_edge_litert" in maps and "libtensorflow_framework" not in maps
        repoint(versions["link"], versions["v2"])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all_workers_serve(base, "2"):
            time.sleep(0.2)
        assert all_workers_serve(base, "2")
        got = requests.post(base + "/predict", json={"sequence": windows[0].tolist()}, timeout=10).json()
        assert got["model"]["version"] == "2" and got["label"] == f"v2-{expected[0].label}"
    finally:
        stop_server(proc)
