"""A frontend written for the peer project's frontend_bridge (its API, not ours), served from another origin,
in headless Chromium against the kiosk's local API: it lists the gestures, receives labels through
EventSource.onmessage, reads the bridge's status fields and pauses inference; from an origin not listed it
can do none of it."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .browser import chromium

pytest.importorskip("selenium")  # the edge-only venv has no Selenium: skipped there, as the other page tests
from .test_web import label_event, serve_kiosk, stop_kiosk

# What a bridge frontend does: /api/gestures, EventSource.onmessage, /api/status's fields, a JSON POST to pause.
BRIDGE_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>bridge frontend</title></head>
<body>
<h1 id="gesture">-</h1><p id="gestures"></p><p id="threshold"></p>
<button id="pause">pause</button><button id="strict">threshold 0.7</button>
<script>
const API = new URLSearchParams(location.search).get("api");
window.received = []; window.gestures = null; window.bridgeStatus = null; window.paused = null;
window.errors = [];
fetch(API + "/api/gestures").then((r) => r.json()).then((g) => {
  window.gestures = g;
  document.getElementById("gestures").textContent = Object.values(g).join(", ");
}, (e) => window.errors.push("gestures: " + e));
fetch(API + "/api/status").then((r) => r.json()).then((s) => {
  window.bridgeStatus = {model_path: s.model_path, sequence_length: s.sequence_length,
                         confidence_threshold: s.confidence_threshold, gestures: s.gestures,
                         latest_prediction: s.latest_prediction};
  document.getElementById("threshold").textContent = s.confidence_threshold;
});
const events = new EventSource(API + "/api/stream");
events.onmessage = (e) => {
  const p = JSON.parse(e.data);
  window.received.push(p);
  document.getElementById("gesture").textContent =
    window.gestures[p.index] + " " + Math.round(p.confidence * 100) + "%";
};
function post(path, body) {
  return fetch(API + path, {method: "POST", headers: {"Content-Type": "application/json"},
                            body: JSON.stringify(body)})
    .then((r) => { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); });
}
document.getElementById("pause").onclick = () =>
  post("/api/inference/stop", {}).then((s) => { window.paused = s; }, (e) => window.errors.push(String(e)));
document.getElementById("strict").onclick = () =>
  post("/api/config", {confidence_threshold: 0.7}).then(
    (c) => { document.getElementById("threshold").textContent = c.confidence_threshold; },
    (e) => window.errors.push(String(e)));
</script>
</body></html>
"""


class StaticSite:
    """The frontend's own web server: another port on 127.0.0.1, hence another origin."""

    def __init__(self, folder) -> None:
        handler = functools.partial(QuietHandler, directory=str(folder))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.httpd.server_port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def sites(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text(BRIDGE_PAGE)
    listed, unlisted = StaticSite(tmp_path / "site"), StaticSite(tmp_path / "site")
    yield listed, unlisted
    listed.close()
    unlisted.close()


def wait_for(driver, script: str, timeout: float = 15):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: d.execute_script(script))


def test_a_bridge_frontend_from_another_origin_gets_labels_and_pauses_inference(sites, tmp_path):
    from selenium.webdriver.common.by import By

    listed, unlisted = sites
    hub, control, web = serve_kiosk(cors_origins=[listed.origin])
    driver = None
    try:
        driver = chromium(tmp_path / "profile")
        driver.get(f"{listed.origin}/index.html?api={web.url}")
        assert wait_for(driver, "return window.gestures") == {"0": "hola", "1": "gracias"}
        status = wait_for(driver, "return window.bridgeStatus")
        assert status["sequence_length"] == 30 and status["model_path"] == "/models/m"
        assert status["confidence_threshold"] == 0.6 and status["gestures"] == ["hola", "gracias"]
        wait_for(driver, "return window.received !== undefined && document.readyState === 'complete'")
        hub.publish(label_event("gracias"))
        got = wait_for(driver, "return window.received.length && window.received")
        assert got[0]["label"] == "gracias" and got[0]["index"] == 1 and got[0]["confidence"] == 0.9
        assert driver.find_element(By.ID, "gesture").text == "gracias 90%"
        driver.find_element(By.ID, "pause").click()  # a JSON POST from another origin: preflight first
        paused = wait_for(driver, "return window.paused || (window.errors.length && window.errors)")
        assert isinstance(paused, dict) and paused["running"] is False and control.running is False
        driver.find_element(By.ID, "strict").click()
        wait_for(driver, "return document.getElementById('threshold').textContent === '0.7'")
        assert control.threshold == 0.7

        control.set_inference(True)
        driver.get(f"{unlisted.origin}/index.html?api={web.url}")  # same page, an origin not listed
        errors = wait_for(driver, "return window.errors.length && window.errors")
        assert errors[0].startswith("gestures:") and "Failed to fetch" in errors[0]  # it cannot read the kiosk
        driver.find_element(By.ID, "pause").click()
        errors = wait_for(driver, "return window.errors.length > 1 && window.errors")
        assert "Failed to fetch" in errors[1] and control.running is True  # nor steer it
        assert driver.execute_script("return window.gestures") is None
    finally:
        if driver is not None:
            driver.quit()
        stop_kiosk(hub, web)
