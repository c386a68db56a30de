"""What an operator reads from a kiosk in trouble: a missing camera or a refused
key is said clearly and once a minute, not many times a second; a refused key is counted and shown."""

import ast
import logging
import os
import signal
import subprocess
import sys

import pytest

from shared.app.logs import RepeatFilter


def _edge(*args, timeout=120, **kw):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNSTREAM_EDGE_")}
    cmd = [sys.executable, "-m", "signstream.cli", "edge", "--headless", "--web-port", "0", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, **kw)


def _own_lines(stderr):
    """Lines of the kiosk's logs and OpenCV's, without TensorFlow's and MediaPipe's start-up chatter."""
    noise = ("I0000", "W0000", "WARNING: All log", "INFO: Created", "WARNING: Logging before", "To enable", "E0000")
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith(noise)]


def test_a_kiosk_without_its_camera_says_so_without_flooding_the_log(tmp_path):
    """Was 789 lines in 87 s (OpenCV's 8 lines per reopen, every second, and ours)."""
    if os.path.exists("/dev/video9"):
        pytest.skip("/dev/video9 exists here")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNSTREAM_EDGE_")}
    cmd = [sys.executable, "-m", "signstream.cli", "edge", "--headless", "--web-port", "0", "--source", "/dev/video9",
           "--server", "http://127.0.0.1:9"]  # fmt: skip
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    try:
        p.wait(35)  # 10 s or more of it without a camera, after the imports
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGINT)
    stderr = p.communicate(timeout=30)[1]
    lines = _own_lines(stderr)
    camera = [line for line in lines if "camera /dev/video9 gave no frame" in line]
    assert len(camera) == 1, lines  # then once a minute, saying how many were held back
    assert not [line for line in lines if "VIDEOIO" in line or "cap_v4l" in line or "OpenCV(" in line], lines
    assert len(lines) <= 12, lines  # the start-up warnings, the camera line, the summary


def test_a_refused_api_key_is_one_clear_error_counted(fake_server, synth_path, tmp_path):
    """Was a warning per window, 0 errors counted, and never the word 'key'."""
    fake_server.mode, fake_server.status = "status", 401
    proc = _edge("--replay", str(synth_path), "--limit", "12", "--speed", "0", "--server", fake_server.url,
                 "--api-key", "ssk_wrong")  # fmt: skip
    lines = _own_lines(proc.stderr)
    refused = [line for line in lines if "API key refused" in line]
    assert len(refused) == 1, lines
    assert "ERROR" in refused[0] and "HTTP 401" in refused[0] and "check SIGNSTREAM_EDGE_API_KEY" in refused[0]
    assert not [line for line in lines if "server did not answer" in line], lines
    summary = ast.literal_eval(lines[-1].split(": ", 2)[2])  # signstream edge: stopped after N s: {...}
    assert summary["auth_errors"] == summary["cloud_errors"] == len(fake_server.requests) >= 2


def test_the_status_names_a_refused_key_until_the_server_answers(fake_server):
    from edge_client.answering import Answerer
    from edge_client.transport import CloudClient
    from tests.edge_client.test_transport import window

    fake_server.mode, fake_server.status = "status", 403
    answerer = Answerer(CloudClient(fake_server.url, "ssk_revoked", sleep=lambda s: None), None)
    with pytest.raises(Exception, match="refused the API key"):
        answerer.answer(window())
    assert answerer.problem == "the server refused the API key" and answerer.auth_errors == 1
    fake_server.mode = "ok"
    answerer.answer(window())
    assert answerer.problem is None


def test_repeat_filter_lets_a_line_through_once_a_minute_with_the_count():
    now = [0.0]
    flt = RepeatFilter(60, clock=lambda: now[0])

    def record(msg, *args):
        return logging.LogRecord("edge_client.sources", logging.WARNING, __file__, 1, msg, args, None)

    assert flt.filter(record("camera %s gave no frame", 0))
    assert not any(flt.filter(record("camera %s gave no frame", 0)) for _ in range(59))
    assert flt.filter(record("another problem"))  # other lines are not held back
    now[0] = 61.0
    r = record("camera %s gave no frame", 0)
    assert flt.filter(r) and r.getMessage() == "camera 0 gave no frame (59 more like this in the last 61 s)"


@pytest.mark.parametrize("display", [["--headless"], ["--display", "none"]])
def test_a_headless_kiosk_still_serves_its_local_api_and_metrics(fake_server, synth_path, display):
    """--headless turns off the page's display only: /metrics, the local API and Socket.IO stay on."""
    import time

    import requests

    from shared.app.processes import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNSTREAM_EDGE_")}
    cmd = [sys.executable, "-m", "signstream.cli", "edge", *display, "--web-port", str(port),
           "--replay", str(synth_path), "--speed", "1", "--server", fake_server.url]  # fmt: skip
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline, status = time.monotonic() + 90, None
        while status is None and time.monotonic() < deadline and p.poll() is None:
            try:
                status = requests.get(f"http://127.0.0.1:{port}/api/status", timeout=2).json()
            except requests.ConnectionError:
                time.sleep(0.3)
        assert status is not None and "counters" in status, f"no local API (exit {p.poll()})"
        metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert metrics.status_code == 200 and "signstream_edge_frames_processed_total" in metrics.text
        sio = requests.get(f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling", timeout=5)
        assert sio.status_code == 200
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(30)


def test_lines_with_different_values_are_never_folded():
    """A promotion to v2 and a rollback to v1 within the minute: both lines reach the journal."""
    flt = RepeatFilter(60, clock=lambda: 0.0)

    def record(msg, *args):
        return logging.LogRecord("shared.model.hot_swap", logging.INFO, __file__, 1, msg, args, None)

    template = "serving %s %s %s from %s (promoted by %s)"
    assert flt.filter(record(template, "local model", "msl", "2", "/cache/msl/2", "alice"))
    assert flt.filter(record(template, "local model", "msl", "1", "/cache/msl/1", "bob"))
    assert not flt.filter(record(template, "local model", "msl", "1", "/cache/msl/1", "bob"))  # the same again


def test_the_status_says_when_the_server_is_unreachable_and_who_answers(down_url, fake_server):
    from edge_client.answering import Answerer
    from edge_client.transport import CloudClient
    from tests.edge_client.conftest import FakeLocalModel, FakeSlot
    from tests.edge_client.test_transport import window

    local = Answerer(CloudClient(down_url, sleep=lambda s: None, retries=0), FakeSlot(FakeLocalModel()))
    assert local.answer(window()).answered_by == "local"
    assert local.problem == "server unreachable, answering locally"
    alone = Answerer(CloudClient(down_url, sleep=lambda s: None, retries=0), FakeSlot(None))
    with pytest.raises(Exception, match=r"127\.0\.0\.1"):
        alone.answer(window())
    assert alone.problem == "server unreachable and no local model: nothing answers"
    back = Answerer(CloudClient(fake_server.url, sleep=lambda s: None), FakeSlot(FakeLocalModel()))
    back.problem = "server unreachable, answering locally"
    assert back.answer(window()).answered_by == "cloud" and back.problem is None


def test_a_kiosk_without_its_camera_says_no_camera_in_its_status(fake_server, clean_env):
    import threading
    import time

    from edge_client.assembly import build_kiosk
    from edge_client.settings import load_settings
    from tests.edge_client.conftest import FakeLandmarker

    if os.path.exists("/dev/video9"):
        pytest.skip("/dev/video9 exists here")
    settings = load_settings(source="/dev/video9", server=fake_server.url, display="none", web_port=0,
                             reopen_delay=0.2)  # fmt: skip
    runner = build_kiosk(settings, out=lambda line: None, landmarker=FakeLandmarker())
    thread = threading.Thread(target=runner.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    try:
        deadline, problem = time.monotonic() + 20, None
        while time.monotonic() < deadline and not problem:
            problem = runner.control.status()["problem"]
            time.sleep(0.1)
        assert problem == "no camera: /dev/video9 gives no picture"
    finally:
        runner.stop.set()
        thread.join(20)


def test_the_page_finishes_loading_without_a_camera_and_shows_the_problem(tmp_path):
    """Without a camera the preview sends black pictures: a browser finishes loading the page only once
    the preview's first part has come, and the status bar names the problem."""
    pytest.importorskip("selenium")
    from selenium.webdriver.support.ui import WebDriverWait

    from .browser import chromium
    from .test_web import FakeControl, serve_kiosk, stop_kiosk

    class NoCamera(FakeControl):
        def status(self):
            return super().status() | {"problem": "no camera: /dev/video9 gives no picture"}

    hub, _control, web = serve_kiosk(control=NoCamera())
    driver = None
    try:
        driver = chromium(tmp_path / "profile")
        driver.set_page_load_timeout(20)
        driver.get(web.url + "/")  # returns once the page has loaded (images included)
        assert driver.execute_script("return document.readyState") == "complete"
        state = WebDriverWait(driver, 15, poll_frequency=0.1).until(
            lambda d: d.find_element("id", "state").text or None
        )
        assert state == "no camera: /dev/video9 gives no picture"
    finally:
        if driver is not None:
            driver.quit()
        stop_kiosk(hub, web)
