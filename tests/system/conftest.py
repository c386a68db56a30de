"""The whole system on 127.0.0.1: a moto S3 server (behind a proxy that can cut it off), the registry
CLI, servers under gunicorn following the registry, and (in the edge tests) the edge client.

Every process is started by a fixture and stopped in its finaliser; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from shared.app.processes import free_port, stop_server, wait_ready
from tests.moto_server import moto_server, s3_environment

pytestmark = pytest.mark.slow
AWS_SECRET = "aws-secret-that-must-never-be-logged"
_BUCKETS = itertools.count()


class TcpProxy:
    """Forwards 127.0.0.1:port to a target; ``down()`` refuses and cuts connections, ``up()`` restores,
    ``stall()`` accepts and holds connections without a byte."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self.up()

    def up(self, *, stalled: bool = False) -> None:
        """Forward again; ``stalled``: accept connections but never answer (a store that hangs)."""
        self.stalled = stalled
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        self._listener = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            for c in self._conns:
                with contextlib.suppress(OSError):
                    c.close()
            self._conns.clear()

    def stall(self) -> None:
        """Cut every connection, then accept new ones and never answer them."""
        self.down()
        self.up(stalled=True)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self.stalled:
                with self._lock:
                    self._conns.append(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 10):
    """(status, parsed JSON or text, headers) for one request; never raises for HTTP errors."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw, hdrs = resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        status, raw, hdrs = err.code, err.read(), dict(err.headers)
    except (urllib.error.URLError, OSError) as err:  # refused, reset, timed out: status 0
        return 0, str(err), {}
    try:
        return status, json.loads(raw), hdrs
    except ValueError:
        return status, raw.decode(errors="replace"), hdrs


class System:
    """One registry (moto S3 behind a proxy), keys, a signing key pair, and helpers to run the CLI and servers."""

    def __init__(self, root: Path, s3_url: str) -> None:
        self.root = root
        self.proxy = TcpProxy(int(s3_url.rsplit(":", 1)[1]))
        self.s3_direct = s3_url  # the operator's route: unaffected when the proxy is down
        self.env = {**os.environ, **s3_environment(f"http://127.0.0.1:{self.proxy.port}"),
                    "AWS_SECRET_ACCESS_KEY": AWS_SECRET, "TF_CPP_MIN_LOG_LEVEL": "2"}  # fmt: skip
        self.env.pop("SIGNSTREAM_STORE", None)
        import boto3

        self.bucket = f"fleet-{next(_BUCKETS)}"

        boto3.client("s3", endpoint_url=s3_url, aws_access_key_id="testing", aws_secret_access_key=AWS_SECRET,
                     region_name="us-east-1").create_bucket(Bucket=self.bucket)  # fmt: skip
        self.store = f"s3://{self.bucket}/prod"
        self.keys_file = root / "keys.json"
        self.client_key = self.cli("keys", "add", "kiosk-1", "--file", str(self.keys_file)).stdout.split()[-1]
        self.admin_key = self.cli("keys", "add", "ops", "--admin", "--file", str(self.keys_file)).stdout.split()[-1]
        self.private_key, self.public_key = root / "signing.pem", root / "signing.pub"
        self.cli("signing-key", "--private", str(self.private_key), "--public", str(self.public_key))
        self.servers: list[subprocess.Popen] = []

    def operator_env(self) -> dict:
        """The operator reaches S3 directly (not through the proxy the servers use)."""
        return {**self.env, "AWS_ENDPOINT_URL": self.s3_direct}

    def cli(
        self, *args: str, env: dict | None = None, check: bool = True, timeout: float = 600, **kw
    ) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "signstream.cli", *args], env=env or self.operator_env(),
                              capture_output=True, text=True, timeout=timeout, **kw)  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(f"signstream {' '.join(args)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
        return proc

    def start_server(self, name: str, workers: int = 2, poll: float = 1.0, extra_env: dict | None = None):
        """``signstream serve --store`` on a free port; returns (base URL, process, log path)."""
        port = free_port()
        log = self.root / f"{name}.log"
        env = {**self.env, "SIGNSTREAM_SERVER_POLL_INTERVAL": str(poll),
               "SIGNSTREAM_SERVER_CACHE_DIR": str(self.root / f"{name}-cache"),
               "SIGNSTREAM_SERVER_PUBLIC_KEY": str(self.public_key), **(extra_env or {})}  # fmt: skip
        cmd = [sys.executable, "-m", "signstream.cli", "serve", "--store", self.store, "--model-name", "signs",
               "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
               "--keys-file", str(self.keys_file)]  # fmt: skip
        with open(log, "ab") as fh:
            proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=fh, stderr=subprocess.STDOUT)
        self.servers.append(proc)
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + "/ready", proc, timeout=180)
        return base, proc, log

    def auth(self, admin: bool = False) -> dict:
        return {"Authorization": f"Bearer {self.admin_key if admin else self.client_key}"}

    def stop(self) -> None:
        for proc in self.servers:
            stop_server(proc)
        self.proxy.down()


def wait_until(predicate, timeout: float, interval: float = 0.3) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


@pytest.fixture(scope="session")
def s3_url():
    with moto_server() as url:
        yield url


@pytest.fixture(scope="session")
def bundles(tiny_bundle, tmp_path_factory):
    """Two versions of model `signs` with different labels (v2 relabels v1's network): bundle folders."""
    from shared.model.bundle import read_manifest, write_manifest

    root = tmp_path_factory.mktemp("system-bundles")
    out = {}
    for version, prefix in (("1", ""), ("2", "v2-")):
        folder = root / version
        shutil.copytree(tiny_bundle, folder)
        m = read_manifest(folder)
        write_manifest(folder, m.model_copy(update={"name": "signs", "version": version,
                                                    "labels": [prefix + x for x in m.labels]}))  # fmt: skip
        out[version] = folder
    return out


@pytest.fixture(scope="module")
def system(tmp_path_factory, s3_url, bundles):
    """A fleet registry with v1 and v2 pushed (signed) and v1 promoted."""
    sys_ = System(tmp_path_factory.mktemp("system"), s3_url)
    for version in ("1", "2"):
        sys_.cli("push", str(bundles[version]), "--store", sys_.store, "--signing-key", str(sys_.private_key))
    sys_.cli("promote", "signs", "1", "--store", sys_.store, "--by", "ci", "--signing-key", str(sys_.private_key))
    yield sys_
    sys_.stop()
