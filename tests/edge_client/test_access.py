"""Who may use the kiosk's local API, on a real server: its own host names only (DNS rebinding), control
actions behind a token or loopback, no wildcard CORS on the camera or the status, bodies bounded."""

from __future__ import annotations

import logging
import socket
import time

import pytest
import requests

from edge_client.display.access import AccessPolicy, exposure_warning, host_name, is_loopback
from edge_client.display.hub import DisplayHub
from edge_client.display.web import WebDisplay, create_app

from .test_web import FakeControl, serve_kiosk, stop_kiosk

EVIL = "http://evil.example"
TOKEN = "kiosk-admin-7f3a"


def serve(policy: AccessPolicy, host: str = "127.0.0.1"):
    hub, control = DisplayHub(), FakeControl()
    app, _ = create_app(hub, control, preview_fps=20, policy=policy)
    web = WebDisplay(app, host, 0)
    hub.start()
    web.start()
    return hub, control, web


@pytest.fixture
def kiosk():
    hub, control, web = serve_kiosk()
    yield hub, control, web
    stop_kiosk(hub, web)


def raw(port: int, request: bytes, timeout: float = 5.0) -> bytes:
    """Send ``request`` as is and read the answer until the server closes (or ``timeout``)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


# --- host names: a page whose domain is re-pointed at the kiosk is not answered ----------------------


def test_a_rebound_host_name_can_neither_steer_nor_read_the_kiosk(kiosk):
    """DNS rebinding: the page's Origin matches its Host (evil.example:port), yet an unlisted host name is
    refused: an Origin equal to the Host is not enough to count as same-origin."""
    _hub, control, web = kiosk
    rebound = f"evil.example:{web.port}"
    headers = {"Host": rebound, "Origin": f"http://{rebound}"}
    r = requests.post(web.url + "/api/inference/stop", headers=headers, timeout=5)
    assert r.status_code == 403 and r.json()["reason"] == "unknown_host" and control.running is True
    assert "SIGNSTREAM_EDGE_ALLOWED_HOSTS" in r.json()["error"]
    r = requests.post(web.url + "/api/config", json={"confidence_threshold": 0.1}, headers=headers, timeout=5)
    assert r.status_code == 403 and control.threshold is None
    for path in ("/api/status", "/api/preview.mjpg", "/api/stream", "/", "/socket.io/?EIO=4&transport=polling"):
        r = requests.get(web.url + path, headers=headers, timeout=5, stream=True)
        assert r.status_code == 403, path
        r.close()
    for name in (f"localhost:{web.port}", f"127.0.0.1:{web.port}", f"[::1]:{web.port}", "LOCALHOST"):
        assert requests.get(web.url + "/api/status", headers={"Host": name}, timeout=5).status_code == 200, name


def test_extra_host_names_and_the_web_host_are_answered():
    hub, _control, web = serve(AccessPolicy.for_kiosk("127.0.0.1", ["kiosk.local", "192.168.1.20"]))
    try:
        for name in ("kiosk.local", f"kiosk.local:{web.port}", "192.168.1.20:8080", "127.0.0.1"):
            assert requests.get(web.url + "/api/status", headers={"Host": name}, timeout=5).status_code == 200, name
        assert requests.get(web.url + "/api/status", headers={"Host": "kiosk.evil"}, timeout=5).status_code == 403
    finally:
        stop_kiosk(hub, web)


def test_host_names_compare_without_port_and_case():
    assert host_name("Kiosk.Local:8080") == "kiosk.local" and host_name("[::1]:80") == "[::1]"
    assert host_name("::1") == "[::1]" and host_name("127.0.0.1") == "127.0.0.1"
    assert host_name("a.example.:80") == "a.example"
    policy = AccessPolicy.for_kiosk("192.168.1.20")
    assert policy.host_allowed("192.168.1.20:8080") and not policy.host_allowed("192.168.1.21")
    assert not policy.host_allowed(None) and not AccessPolicy.for_kiosk("0.0.0.0").host_allowed("0.0.0.0")
    assert is_loopback("127.0.0.5") and is_loopback("::1") and is_loopback("::ffff:127.0.0.1")
    assert not is_loopback("192.0.2.2") and not is_loopback("evil.example") and not is_loopback(None)


# --- control actions: a token, or loopback clients only -------------------------------------------------


def test_with_a_token_control_actions_need_it_and_reading_does_not():
    hub, control, web = serve(AccessPolicy.for_kiosk(token=TOKEN))
    try:
        for auth in (None, "Bearer wrong", TOKEN[:-1], f"Bearer {TOKEN}x"):
            headers = {"Authorization": auth} if auth else {}
            r = requests.post(web.url + "/api/inference/stop", headers=headers, timeout=5)
            assert r.status_code == 401 and r.json()["reason"] == "unauthorized" and control.running is True, auth
        r = requests.post(web.url + "/api/config", json={"confidence_threshold": 0.3}, timeout=5)
        assert r.status_code == 401 and control.threshold is None
        r = requests.post(web.url + "/api/inference/stop", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        assert r.status_code == 200 and control.running is False
        assert requests.get(web.url + "/api/status", timeout=5).status_code == 200
    finally:
        stop_kiosk(hub, web)


def _other_address() -> str:
    """An address of this machine that is not loopback, or skip."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: only picks the outgoing interface
            address = s.getsockname()[0]
    except OSError:
        pytest.skip("no network interface besides loopback")
    if is_loopback(address):
        pytest.skip("no network interface besides loopback")
    return address


def test_without_a_token_control_comes_only_from_loopback():
    address = _other_address()
    hub, control, web = serve(AccessPolicy.for_kiosk("0.0.0.0", [address]), host="0.0.0.0")
    try:
        lan = f"http://{address}:{web.port}"
        assert requests.get(lan + "/api/status", timeout=5).status_code == 200  # reading stays open
        r = requests.post(lan + "/api/inference/stop", timeout=5)
        assert r.status_code == 403 and "SIGNSTREAM_EDGE_ADMIN_TOKEN" in r.json()["error"] and control.running
        r = requests.post(lan + "/api/config", json={"confidence_threshold": 0.2}, timeout=5)
        assert r.status_code == 403 and control.threshold is None
        local = f"http://127.0.0.1:{web.port}"
        assert requests.post(local + "/api/inference/stop", timeout=5).status_code == 200 and not control.running
    finally:
        stop_kiosk(hub, web)


def test_a_token_lets_another_machine_steer_the_kiosk():
    address = _other_address()
    hub, control, web = serve(AccessPolicy.for_kiosk("0.0.0.0", [address], token=TOKEN), host="0.0.0.0")
    try:
        lan = f"http://{address}:{web.port}"
        r = requests.post(lan + "/api/inference/stop", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        assert r.status_code == 200 and control.running is False
    finally:
        stop_kiosk(hub, web)


def test_the_start_warns_when_the_api_listens_beyond_this_machine_without_a_token(
    fake_server, clean_env, tmp_path, caplog
):
    from edge_client.assembly import build_kiosk
    from edge_client.settings import load_settings
    from shared.datasets.dataset import save_dataset
    from shared.datasets.synth import generate

    assert exposure_warning("127.0.0.1", None) is None and exposure_warning("0.0.0.0", TOKEN) is None
    replay = tmp_path / "replay.npz"
    save_dataset(replay, generate(classes=2, per_class=1, signers=1, seed=5))
    for extra, warned in (({"web_host": "0.0.0.0"}, True), ({"web_host": "0.0.0.0", "admin_token": TOKEN}, False),
                          ({}, False)):  # fmt: skip
        caplog.clear()
        settings = load_settings(source=str(replay), server=fake_server.url, display="none", web_port=0, **extra)
        with caplog.at_level(logging.WARNING, logger="edge_client"):
            runner = build_kiosk(settings, out=lambda line: None)
        runner.web.start()  # stopping waits for a serving loop
        runner.web.stop()
        runner.pipeline.close()
        if runner.cloud is not None:
            runner.cloud.close()
        lines = [r.getMessage() for r in caplog.records if "without an admin token" in r.getMessage()]
        assert len(lines) == int(warned), (extra, lines)
        if warned:
            assert "0.0.0.0" in lines[0] and "SIGNSTREAM_EDGE_ADMIN_TOKEN" in lines[0]


def test_settings_take_extra_host_names_a_token_and_a_body_limit(clean_env, monkeypatch, tmp_path):
    from edge_client.settings import EdgeSettingsError, load_settings

    monkeypatch.setenv("SIGNSTREAM_EDGE_ALLOWED_HOSTS", "kiosk.local, 192.168.1.20")
    monkeypatch.setenv("SIGNSTREAM_EDGE_ADMIN_TOKEN", TOKEN)
    s = load_settings(server="http://127.0.0.1:9")
    assert s.allowed_hosts == ["kiosk.local", "192.168.1.20"] and s.admin_token.get_secret_value() == TOKEN
    assert s.max_body == 64 * 1024 and TOKEN not in repr(s)
    with pytest.raises(EdgeSettingsError, match="allowed_hosts"):
        load_settings(server="http://127.0.0.1:9", allowed_hosts=["http://kiosk.local/"])


# --- CORS: listed origins only, never a wildcard --------------------------------------------------------


def _a_picture(hub: DisplayHub) -> None:
    import numpy as np

    from edge_client.frames import Frame, Image

    hub.set_frame(Image(0, 0.0, np.zeros((48, 64, 3), np.uint8)), Frame(0, 0.0, np.zeros(126, np.float32)))


def test_no_page_from_an_unlisted_origin_may_read_the_camera_or_the_status(kiosk):
    hub, _control, web = kiosk
    _a_picture(hub)
    for path in ("/api/preview.mjpg", "/api/status", "/api/stream", "/api/gestures", "/api/labels", "/metrics"):
        with requests.get(web.url + path, headers={"Origin": EVIL}, timeout=5, stream=True) as r:
            assert "Access-Control-Allow-Origin" not in r.headers, (path, r.headers)
    sio = requests.get(web.url + "/socket.io/?EIO=4&transport=polling", headers={"Origin": EVIL}, timeout=5)
    assert sio.status_code == 400 and "Access-Control-Allow-Origin" not in sio.headers
    own = requests.get(web.url + "/socket.io/?EIO=4&transport=polling", headers={"Origin": web.url}, timeout=5)
    assert own.status_code == 200  # the kiosk's own page keeps its Socket.IO


def test_a_listed_origin_reads_the_camera_and_socketio():
    listed = "http://127.0.0.1:3000"
    hub, _control, web = serve(AccessPolicy.for_kiosk(cors_origins=[listed]))
    _a_picture(hub)
    try:
        with requests.get(web.url + "/api/preview.mjpg", headers={"Origin": listed}, timeout=5, stream=True) as r:
            assert r.headers["Access-Control-Allow-Origin"] == listed and r.headers["Vary"] == "Origin"
        sio = requests.get(web.url + "/socket.io/?EIO=4&transport=polling", headers={"Origin": listed}, timeout=5)
        assert sio.status_code == 200 and sio.headers["Access-Control-Allow-Origin"] == listed
    finally:
        stop_kiosk(hub, web)


# --- bodies: refused before they are read ---------------------------------------------------------------


def test_a_large_body_is_refused_before_it_is_read(kiosk):
    _hub, control, web = kiosk
    for path in ("/api/config", "/api/inference/stop", "/socket.io/?EIO=4&transport=polling"):
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{web.port}\r\nContent-Type: application/json\r\n"
                "Content-Length: 300000000\r\n\r\n").encode()  # fmt: skip
        started = time.monotonic()
        answer = raw(web.port, head + b"{" + b" " * 1000)  # the rest never comes
        assert time.monotonic() - started < 3, path
        status, _, body = answer.partition(b"\r\n\r\n")
        assert status.startswith(b"HTTP/1.1 413") and b"Connection: close" in status, (path, answer[:300])
        assert b"at most 65536" in body
    assert control.running is True


def test_a_chunked_body_is_cut_at_the_limit(kiosk):
    _hub, control, web = kiosk
    piece = b"x" * 16384
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(8)) + b"0\r\n\r\n"  # 128 KB
    head = (f"POST /api/config HTTP/1.1\r\nHost: 127.0.0.1:{web.port}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()  # fmt: skip
    answer = raw(web.port, head + chunks)
    assert answer.startswith(b"HTTP/1.1 413") and b'"error"' in answer, answer[:300]
    small = requests.post(web.url + "/api/config", json={"confidence_threshold": 0.4}, timeout=5)
    assert small.status_code == 200 and control.threshold == 0.4
