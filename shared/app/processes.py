"""Start and stop a ``signstream serve`` process and wait for it: for the demo, benchmarks and tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO

from shared.app.errors import SignstreamError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """Poll ``url`` until it answers 200; fail early if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SignstreamError(f"the server exited with code {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise SignstreamError(f"the server was not ready within {timeout:.0f} s")


def start_server(
    bundle: Path,
    port: int,
    workers: int = 2,
    env: dict | None = None,
    keys_file: Path | None = None,
    log: IO | None = None,
) -> subprocess.Popen:
    """Start ``signstream serve`` (gunicorn) in its own process group on 127.0.0.1 (no keys unless ``keys_file``).

    ``log``: a file the server's stderr (its whole log) goes to; inherited when None.
    """
    auth = ["--keys-file", str(keys_file)] if keys_file else ["--no-auth"]
    cmd = [sys.executable, "-m", "signstream.cli", "serve", "--model", str(bundle), "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(workers), *auth]  # fmt: skip
    return subprocess.Popen(cmd, start_new_session=True, env=env or os.environ.copy(), stderr=log)


def stop_server(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM the server (gunicorn stops its workers); SIGKILL its group if it lingers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    with contextlib.suppress(ProcessLookupError):  # nothing of the group may survive
        os.killpg(proc.pid, signal.SIGKILL)
