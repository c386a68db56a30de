"""sd_notify over a real AF_UNIX datagram socket, the watchdog interval and pings."""

import socket
import threading

from edge_client.systemd import Watchdog, notify, watchdog_interval


def _listener(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify.sock"
    sock.bind(str(path))
    sock.settimeout(5)
    return sock, str(path)


def test_notify_sends_the_state(tmp_path):
    sock, path = _listener(tmp_path)
    with sock:
        assert notify("READY=1", {"NOTIFY_SOCKET": path})
        assert sock.recv(100) == b"READY=1"


def test_without_systemd_nothing_happens():
    assert not notify("READY=1", {})


def test_watchdog_interval_is_half_of_watchdog_usec():
    import os

    assert watchdog_interval({"WATCHDOG_USEC": "4000000"}) == 2.0
    assert watchdog_interval({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}) == 2.0
    assert watchdog_interval({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}) is None  # meant for another process
    assert watchdog_interval({}) is None


def test_watchdog_pings_only_while_healthy(tmp_path, monkeypatch):
    sock, path = _listener(tmp_path)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    healthy = threading.Event()
    healthy.set()
    stop = threading.Event()
    dog = Watchdog(healthy.is_set, 0.02, stop)
    dog.start()
    with sock:
        assert sock.recv(100) == b"WATCHDOG=1"
        healthy.clear()
        sock.settimeout(0.3)
        got = []
        try:
            while True:  # drain pings sent before the pipeline turned unhealthy
                got.append(sock.recv(100))
        except TimeoutError:
            pass
        pings = dog.pings
        stop.wait(0.2)
        assert dog.pings == pings  # no ping while unhealthy
    stop.set()
    dog.join()
