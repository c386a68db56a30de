"""A real client run: gunicorn serving a trained bundle, ``signstream edge`` replaying a stream, the kiosk
page in headless Debian Chromium (Selenium, nothing downloaded) showing the label the pipeline produced.

Needs TensorFlow (to train and serve the bundle): skipped in the edge-only venv.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests

pytest.importorskip("tensorflow")

from shared.app.processes import free_port, start_server, stop_server, wait_ready

from .browser import chromium
from .conftest import ARTIFACTS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tiny_bundle):
    port = free_port()
    proc = start_server(tiny_bundle, port, workers=1)
    try:
        wait_ready(f"http://127.0.0.1:{port}/ready", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(proc)


class Client:
    """``signstream edge`` as a subprocess; stdout JSON lines collected by a thread."""

    def __init__(self, args, env=None):
        self.events: list[dict] = []
        self.proc = subprocess.Popen([sys.executable, "-m", "signstream.cli", "edge", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.events.append(json.loads(line))

    def labels(self):
        return [e["label"] for e in self.events if e["event"] == "label" and e["label"]]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._reader.join(5)
        stderr = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return stderr


def test_kiosk_page_shows_the_pipelines_label_in_chromium(server, synth_path, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    port = free_port()
    notify_path = tmp_path / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.settimeout(120)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNSTREAM_EDGE_")}
    env |= {"NOTIFY_SOCKET": str(notify_path), "PYTHONUNBUFFERED": "1"}
    client = Client(["--source", str(synth_path), "--server", server, "--web-port", str(port), "--json-events",
                     "--speed", "1", "--limit", "40"], env=env)  # fmt: skip
    driver = None
    try:
        assert notify.recv(64) == b"READY=1"  # systemd Type=notify: ready once the page is served
        url = f"http://127.0.0.1:{port}/"
        driver = chromium(tmp_path / "chrome-profile")
        driver.get(url)
        assert driver.find_element(By.ID, "label").get_attribute("aria-live") == "assertive"
        items = WebDriverWait(driver, 90, poll_frequency=0.2).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#history li")
        )
        shown = items[0].get_attribute("data-label")
        assert shown in client.labels()  # the page shows what the pipeline produced
        status = requests.get(url + "api/status", timeout=5).json()
        assert status["running"] and status["model"]["name"] == "tiny" and status["counters"]["answers_cloud"] > 0
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "frames").text not in ("", "0"))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(ARTIFACTS / "kiosk.png"))
    finally:
        if driver is not None:
            driver.quit()
        stderr = client.stop()
        notify.close()
    assert client.proc.returncode == 0, stderr[-2000:]
    assert "Traceback" not in stderr
    summary = [e for e in client.events if e["event"] == "summary"]
    assert summary and summary[0]["answers_cloud"] > 0
    label_events = [e for e in client.events if e["event"] == "label" and e["label"]]
    assert {"label", "confidence", "answered_by", "model_version"} <= set(label_events[0])
    assert label_events[0]["answered_by"] == "cloud"
    with pytest.raises(requests.ConnectionError):  # the page went away with the client
        requests.get(f"http://127.0.0.1:{port}/api/status", timeout=2)


def test_sigterm_stops_a_live_client_promptly(server, synth_path, tmp_path):
    """A paced (live) replay that would run for minutes stops on SIGTERM with its summary and exit code 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNSTREAM_EDGE_")} | {"PYTHONUNBUFFERED": "1"}
    client = Client(["--source", str(synth_path), "--server", server, "--headless", "--web-port", "0", "--json-events",
                     "--speed", "1"], env=env)  # fmt: skip
    deadline = time.monotonic() + 90
    while not any(e["event"] == "answer" for e in client.events) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert any(e["event"] == "answer" for e in client.events)
    stderr = client.stop()
    assert client.proc.returncode == 0, stderr[-2000:]
    summary = [e for e in client.events if e["event"] == "summary"]
    assert summary and summary[0]["frames_processed"] < 96 * 38  # stopped long before the replay's end
