"""A real S3 API on 127.0.0.1 for tests: moto's server mode in a subprocess, started and stopped here.

Usage (any test folder's conftest.py)::

    from tests.moto_server import moto_server, s3_environment

    @pytest.fixture(scope="session")
    def s3_endpoint():
        with moto_server() as url:
            yield url

    def test_x(s3_endpoint, monkeypatch):
        for key, value in s3_environment(s3_endpoint).items():
            monkeypatch.setenv(key, value)
        ...  # boto3 clients now talk to the moto server

Tests that use it need moto (the dev venv has it; the edge-only venv does not): the helper skips
with a clear reason when it is missing.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

START_TIMEOUT = 60.0  # generous: the machine is shared; startup is ~1 s when idle


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def s3_environment(endpoint: str, region: str = "us-east-1") -> dict[str, str]:
    """Environment that points boto3 at ``endpoint`` with dummy credentials and no user AWS config."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "2",
    }


@contextlib.contextmanager
def moto_server(host: str = "127.0.0.1") -> Iterator[str]:
    """Start ``python -m moto.server -H host -p <free port>``, wait until it answers, yield its URL, stop it."""
    # moto is a dev dependency: the edge-only venv skips these tests, the dev venv (make test) runs them.
    import pytest

    pytest.importorskip("moto.server", reason="needs moto[server] (dev venv: pip install -e '.[dev]')")
    port = free_port()
    url = f"http://{host}:{port}"
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in finally; not a pipe: moto logs every request and a full pipe would block it
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"moto server exited with {proc.returncode}: {log.read().decode()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/moto-api/reset", data=b"", timeout=2):
                    break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not answer on {url} within {START_TIMEOUT} s") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
