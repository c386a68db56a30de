"""The installed services' commands, run the way their units run them (no systemd PID 1 here).

The environment is built like systemd builds it (the unit's Environment= lines, then its
EnvironmentFile= on top) plus the settings an operator would write into the env file; systemd's
notify socket is a real datagram socket, so Type=notify and WatchdogSec are checked against the
real programs.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.deploy.test_configs import free_port
from tests.deploy.test_sync import unit_command


def unit_environment(unit: Path, operator: dict[str, str], home: Path) -> dict[str, str]:
    """The service's environment: Environment=, then EnvironmentFile=, then the operator's edits.

    ``home`` stands in for the service's home and for %t (/run), with RuntimeDirectory= made in it.
    """
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home)}
    for line in unit.read_text().splitlines():
        if line.startswith("RuntimeDirectory="):
            (home / line.removeprefix("RuntimeDirectory=")).mkdir(mode=0o750)
        if line.startswith("Environment="):
            key, value = line.removeprefix("Environment=").split("=", 1)
            assert "%" not in value.replace("%t/", ""), f"unexpected specifier in {line}"
            env[key] = value.replace("%t/", f"{home}/")
    for line in unit.read_text().splitlines():
        if line.startswith("EnvironmentFile="):
            for entry in Path(line.removeprefix("EnvironmentFile=")).read_text().splitlines():
                if entry and not entry.startswith("#"):
                    key, value = entry.split("=", 1)
                    env[key] = value
    return {**env, **operator}


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A socket standing in for systemd's $NOTIFY_SOCKET."""
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(120)
    yield sock, path
    sock.close()


def children(pid: int) -> list[int]:
    """PIDs whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def wait_gone(pids: list[int]) -> list[int]:
    """The PIDs still alive after a bounded wait."""
    alive = list(pids)
    for _ in range(100):
        alive = [p for p in alive if Path(f"/proc/{p}").exists() and "Z" not in Path(f"/proc/{p}/stat").read_text()]
        if not alive:
            break
        time.sleep(0.1)
    return alive


def test_server_unit_notifies_serves_and_stops_every_worker(
    installed: tuple[Path, dict[str, str]], notify_socket: tuple[socket.socket, str], tmp_path: Path
) -> None:
    root, _ = installed
    sock, path = notify_socket
    unit = root / "etc/systemd/system/signstream-server.service"
    port = free_port()
    (tmp_path / "store").mkdir()
    operator = {  # what the operator writes into server.env: follow a (still empty) registry
        "SIGNSTREAM_SERVER_STORE": (tmp_path / "store").as_uri(),
        "SIGNSTREAM_SERVER_MODEL_NAME": "signs",
        "SIGNSTREAM_SERVER_NO_AUTH": "true",
        "SIGNSTREAM_SERVER_PORT": str(port),
        "SIGNSTREAM_SERVER_WORKERS": "2",
        "NOTIFY_SOCKET": path,
    }
    env = unit_environment(unit, operator, tmp_path)
    assert env["SIGNSTREAM_SERVER_CACHE_DIR"].startswith(f"{root}/var/lib/signstream/server/")
    assert env["SIGNSTREAM_SERVER_RUNTIME_DIR"] == f"{tmp_path}/signstream-server"
    proc = subprocess.Popen(unit_command(unit, "ExecStart", env), env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert sock.recv(4096).startswith(b"READY=1")  # Type=notify: gunicorn's arbiter says so
        health = requests.get(f"http://127.0.0.1:{port}/health", timeout=30)
        assert health.status_code == 200
        ready = requests.get(f"http://127.0.0.1:{port}/ready", timeout=30)
        assert ready.status_code == 503  # nothing promoted yet: up, but not ready
        workers = children(proc.pid)
        assert len(workers) == 2
        assert any((tmp_path / "signstream-server" / "metrics").iterdir())  # the workers share RuntimeDirectory=
    finally:
        proc.send_signal(signal.SIGTERM)  # KillMode=mixed: SIGTERM to the main process only
        code = proc.wait(timeout=60)
        stderr = proc.stderr.read()
        proc.stderr.close()
    assert code == 0, stderr
    assert wait_gone(workers) == []


def test_edge_unit_notifies_pings_the_watchdog_and_the_kiosk_waits_for_its_page(
    installed: tuple[Path, dict[str, str]],
    notify_socket: tuple[socket.socket, str],
    tmp_path: Path,
    synth_path: Path,
) -> None:
    root, _ = installed
    sock, path = notify_socket
    unit = root / "etc/systemd/system/signstream-edge.service"
    web_port = free_port()
    operator = {  # a replayed stream, an unreachable server, the page on a free port
        "SIGNSTREAM_EDGE_SOURCE": str(synth_path),
        "SIGNSTREAM_EDGE_SERVER": "http://127.0.0.1:9",
        "SIGNSTREAM_EDGE_REPLAY_SPEED": "1",
        "SIGNSTREAM_EDGE_WEB_PORT": str(web_port),
        "NOTIFY_SOCKET": path,
        "WATCHDOG_USEC": "1000000",  # what WatchdogSec=1 would set
    }
    env = unit_environment(unit, operator, tmp_path)
    proc = subprocess.Popen(unit_command(unit, "ExecStart", env), env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        messages = [sock.recv(4096) for _ in range(3)]
        assert messages[0] == b"READY=1"
        assert messages[1:] == [b"WATCHDOG=1", b"WATCHDOG=1"]
        kiosk = root / "etc/systemd/user/signstream-kiosk.service"
        kiosk_env = unit_environment(kiosk, {"SIGNSTREAM_KIOSK_URL": f"http://127.0.0.1:{web_port}/"}, tmp_path)
        wait = subprocess.run(unit_command(kiosk, "ExecStartPre", kiosk_env), env=kiosk_env, capture_output=True,
                              text=True, timeout=330)  # fmt: skip
        assert wait.returncode == 0, wait.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        stderr = proc.stderr.read()
        proc.stderr.close()
    assert code == 0, stderr
