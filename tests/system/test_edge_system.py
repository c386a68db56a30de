"""The operator flow end to end with the edge client; rollback; the server killed mid-stream; bad sources."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from shared.app.processes import stop_server, wait_ready
from shared.datasets.dataset import save_dataset
from shared.datasets.synth import generate
from tests.system.conftest import http, wait_until
from tests.workers import all_workers_serve

pytestmark = pytest.mark.slow


class Edge:
    """``signstream edge --headless --json-events`` in the background, its events collected as they come."""

    def __init__(self, system, *args: str, extra_env: dict | None = None) -> None:
        env = {**system.env, "SIGNSTREAM_EDGE_BREAKER_RESET": "2", "SIGNSTREAM_EDGE_CACHE_DIR": str(
            system.root / f"edge-cache-{time.monotonic_ns()}"), **(extra_env or {})}  # fmt: skip
        self.events: list[dict] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "signstream.cli", "edge", "--headless", "--web-port", "0", "--json-events", *args],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        self.stderr: list[str] = []
        self._readers = [threading.Thread(target=self._read, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]  # fmt: skip
        for t in self._readers:
            t.start()

    def _read(self) -> None:
        with self.proc.stdout as out:
            for line in out:
                with contextlib.suppress(ValueError):
                    self.events.append(json.loads(line))

    def _read_stderr(self) -> None:
        with self.proc.stderr as err:
            self.stderr.extend(err)

    def _join(self) -> None:
        for t in self._readers:
            t.join(10)

    def answers(self, **match) -> list[dict]:
        return [e for e in self.events if e.get("event") == "answer" and all(e.get(k) == v for k, v in match.items())]

    def wait(self, timeout: float = 300) -> int:
        code = self.proc.wait(timeout)
        self._join()
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._join()


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    """A synthetic signer none of the models saw: 4 classes x 3 sequences."""
    path = tmp_path_factory.mktemp("replay") / "replay.npz"
    save_dataset(path, generate(classes=4, per_class=3, signers=1, seed=4242))
    return path


@pytest.fixture(scope="module")
def edge_server(system):
    return system.start_server("edge-fleet")


def promote(system, version):
    proc = system.cli("promote", "signs", version, "--store", system.store, "--by", "ci",
                      "--signing-key", str(system.private_key), check=False)  # fmt: skip
    assert proc.returncode == 0 or "already current" in proc.stderr, proc.stderr


def server_version(system, base) -> str:
    import numpy as np

    w = np.full((30, 126), 0.5, np.float32).tolist()
    status, answer, _ = http("POST", base + "/predict", json.dumps({"sequence": w}).encode(),
                             {"Content-Type": "application/json", "Connection": "close", **system.auth()})  # fmt: skip
    return answer["model"]["version"] if status == 200 else f"HTTP {status}"


def edge_run(system, replay, base, *extra: str) -> Edge:
    args = ["--replay", str(replay), "--speed", "0", "--store", system.store, "--model-name", "signs",
            "--public-key", str(system.public_key), *extra]  # fmt: skip
    if base:
        args += ["--server", base, "--api-key", system.client_key]
    edge = Edge(system, *args)
    assert edge.wait(300) == 0, "".join(edge.stderr)[-2000:]
    return edge


def test_operator_flow_train_evaluate_push_promote_then_rollback(system, edge_server, replay, tmp_path):
    base, _, _ = edge_server
    data = tmp_path / "recordings.npz"
    save_dataset(data, generate(classes=4, per_class=16, signers=4, seed=7))
    bundle = tmp_path / "signs-3"
    system.cli("train", "--data", str(data), "--out", str(bundle), "--name", "signs", "--version", "3",
               "--epochs", "4")  # fmt: skip
    evaluation = system.cli("evaluate", "--model", str(bundle), "--data", str(replay), "--json",
                            "--report", str(tmp_path / "report"))  # fmt: skip
    metrics = json.loads(evaluation.stdout.strip().splitlines()[-1])
    assert 0 <= metrics["accuracy"] <= 1 and metrics["n"] == 12
    assert (tmp_path / "report").is_dir()
    system.cli("push", str(bundle), "--store", system.store, "--signing-key", str(system.private_key))
    promote(system, "3")
    assert wait_until(lambda: all_workers_serve(base, "3"), 90), "the server must follow the promotion"  # both workers
    assert server_version(system, base) == "3"

    edge = edge_run(system, replay, base)
    cloud = edge.answers(answered_by="cloud")
    assert cloud and {a["model_version"] for a in cloud} == {"3"}, edge.events[-5:]
    assert any(e.get("event") == "label" and e.get("label") for e in edge.events)
    local = edge_run(system, replay, None, "--local-only")  # the edge's local model followed the pointer too
    assert local.answers() and {a["model_version"] for a in local.answers()} == {"3"}
    assert {a["answered_by"] for a in local.answers()} == {"local"}

    # A second version with other labels, then a rollback: both sides follow, both return.
    promote(system, "2")
    assert wait_until(lambda: all_workers_serve(base, "2"), 90)  # both workers
    assert server_version(system, base) == "2"
    edge = edge_run(system, replay, base)
    assert {a["model_version"] for a in edge.answers(answered_by="cloud")} == {"2"}
    assert all(a["label"].startswith("v2-") for a in edge.answers(answered_by="cloud"))
    system.cli("rollback", "signs", "--store", system.store, "--by", "ci", "--signing-key", str(system.private_key))
    assert wait_until(lambda: all_workers_serve(base, "3"), 90), "the server must follow the rollback"  # both workers
    assert server_version(system, base) == "3"
    local = edge_run(system, replay, None, "--local-only")
    assert {a["model_version"] for a in local.answers()} == {"3"}
    promote(system, "1")


def test_server_killed_mid_stream_the_edge_falls_back_and_returns(system, replay, tmp_path):
    promote(system, "1")
    base, proc, _ = system.start_server("killed", workers=1)
    port = base.rsplit(":", 1)[1]
    long_replay = tmp_path / "long.npz"
    save_dataset(long_replay, generate(classes=4, per_class=12, signers=1, seed=99))
    edge = Edge(system, "--replay", str(long_replay), "--speed", "1", "--server", base, "--api-key",
                system.client_key, "--store", system.store, "--model-name", "signs")  # fmt: skip
    try:
        assert wait_until(lambda: len(edge.answers(answered_by="cloud")) >= 2, 90), edge.stderr[-5:]
        os.killpg(proc.pid, signal.SIGKILL)  # the server dies mid-stream
        proc.wait(10)
        n_before = len(edge.answers())
        assert wait_until(lambda: len(edge.answers(answered_by="local")) >= 2, 60), edge.events[-5:]
        assert all(a["answered_by"] == "local" for a in edge.answers()[n_before + 1 :][:2])
        # The server comes back on the same port: the edge returns to it.
        env = {**system.env, "SIGNSTREAM_SERVER_CACHE_DIR": str(system.root / "killed-cache"),
               "SIGNSTREAM_SERVER_PUBLIC_KEY": str(system.public_key)}  # fmt: skip
        cmd = [sys.executable, "-m", "signstream.cli", "serve", "--store", system.store, "--model-name", "signs",
               "--host", "127.0.0.1", "--port", port, "--workers", "1",
               "--keys-file", str(system.keys_file)]  # fmt: skip
        back = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        system.servers.append(back)
        wait_ready(base + "/ready", back, timeout=180)
        n_back = len(edge.answers())
        assert wait_until(lambda: len(edge.answers(answered_by="cloud")[n_back:]) >= 0
                          and any(a["answered_by"] == "cloud" for a in edge.answers()[n_back:]), 60)  # fmt: skip
        assert any(e.get("event") == "label" and e.get("answered_by") == "local" for e in edge.events)
    finally:
        edge.stop()
    stop_server(back)


def test_a_failing_video_source_is_reported_in_one_line(system, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(os.urandom(4096))
    for source in (str(tmp_path / "missing.mp4"), str(broken)):
        proc = system.cli("edge", "--headless", "--source", source, "--local-only", check=False, timeout=120,
                          env=system.env)  # fmt: skip
        assert proc.returncode != 0 and proc.stderr.strip(), proc
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_a_vanished_camera_is_reported_and_reopened_until_stopped(system, tmp_path):
    edge = Edge(system, "--source", "/dev/video9", "--local-only", "--store", system.store, "--model-name", "signs")
    try:
        # Said once (the kiosk lets a repeated line through once a minute, with a count), then kept
        # trying: still running well after several reopen attempts (1, 2, 4 s apart).
        assert wait_until(lambda: any("reopening" in line for line in edge.stderr), 60), edge.stderr[-5:]
        time.sleep(8)
        assert edge.proc.poll() is None, "the edge must keep trying, not die"
    finally:
        edge.stop()
    assert edge.proc.returncode is not None
