"""The kiosk page on the screens kiosks have, in headless Chromium: it fits without scrolling, the
status bar covers nothing and is not clipped, the label is as large as the screen allows, and before the
first answer nothing shows a placeholder ("(null)", a dangling "·", "–"). A screenshot of every size and
state is saved under the test's tmp path."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import requests

from edge_client.frames import Frame, Image

from .browser import chromium, set_viewport
from .conftest import hand
from .test_web import FakeControl, label_event, serve_kiosk, stop_kiosk

SCREENS = [(800, 480), (1024, 600), (1280, 720), (1920, 1080)]  # the Pi 7" display, 7" HDMI panels, TVs
SIZES = SCREENS + [(h, w) for w, h in SCREENS]  # and each in portrait

# Every element inside the viewport, none (outside the status bar) overlapping it, nothing scrolls.
LAYOUT_CHECK = """
const W = window.innerWidth, H = window.innerHeight, root = document.documentElement, eps = 0.5;
const bar = document.querySelector("footer"), b = bar.getBoundingClientRect(), problems = [];
if (root.scrollWidth > W || root.scrollHeight > H)
  problems.push(`page scrolls: ${root.scrollWidth}x${root.scrollHeight}`);
if (document.body.scrollWidth > W || document.body.scrollHeight > H) problems.push("body scrolls");
const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className ? "." + el.className : "");
for (const el of document.body.querySelectorAll("*")) {
  if (["SCRIPT", "STYLE"].includes(el.tagName)) continue;
  const r = el.getBoundingClientRect(), style = getComputedStyle(el);
  if (r.width === 0 || r.height === 0 || style.visibility === "hidden") continue;
  if (r.left < -eps || r.top < -eps || r.right > W + eps || r.bottom > H + eps)
    problems.push(`${name(el)} outside the viewport: ${r.left},${r.top},${r.right},${r.bottom}`);
  const overlaps = r.left < b.right - eps && r.right > b.left + eps && r.top < b.bottom - eps && r.bottom > b.top + eps;
  if (overlaps && !bar.contains(el))
    problems.push(`${name(el)} overlaps the status bar`);
  if (el.scrollHeight > el.clientHeight + 1 && style.overflowY !== "visible" && el.clientHeight > 0)
    problems.push(`${name(el)} clips its content: ${el.scrollHeight} > ${el.clientHeight}`);
}
for (const item of bar.children) {  // the bar itself is not clipped either
  const r = item.getBoundingClientRect();
  if (r.width && (r.bottom > b.bottom + eps || r.right > b.right + eps))
    problems.push(`status item ${name(item)} clipped`);
}
return problems;
"""

PLACEHOLDERS = ["null", "undefined", "NaN", "–", "()", "( ", " )"]


class BeforeTheFirstAnswer(FakeControl):
    """A kiosk that started and has not answered yet: the runner's status at that moment."""

    def status(self):
        return {
            "running": True, "model": {"answered_by": None, "name": "msl", "version": "2"}, "threshold": 0.6,
            "problem": None, "history_size": 5,
            "counters": {"fps": 0.0, "frames_processed": 0, "frames_dropped": 0, "windows_sent": 0,
                         "answers_cloud": 0, "answers_local": 0, "cloud_errors": 0, "label_latency_p50_ms": None},
        }  # fmt: skip


class Answering(FakeControl):
    def status(self):
        return {
            "running": True, "model": {"answered_by": "cloud", "name": "msl", "version": "20261120"},
            "threshold": 0.6, "problem": None, "history_size": 5,
            "counters": {"fps": 14.9, "frames_processed": 123456, "frames_dropped": 1234, "windows_sent": 98765,
                         "answers_cloud": 98000, "answers_local": 765, "cloud_errors": 12,
                         "label_latency_p50_ms": 312.5},
        }  # fmt: skip


class Camera:
    """A 640x480 camera picture with a hand, a new frame every 0.1 s (the preview shows each)."""

    def __init__(self, hub) -> None:
        self.hub, self.stop = hub, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        rgb = np.full((480, 640, 3), 40, np.uint8)
        lm = hand(0.0)
        lm[63:].reshape(21, 3)[:, :2] = np.linspace(0.3, 0.7, 21)[:, None]
        i = 0
        while not self.stop.wait(0.1):
            self.hub.set_frame(Image(i, i / 10, rgb), Frame(i, i / 10, lm))
            i += 1

    def close(self) -> None:
        self.stop.set()
        self._thread.join(2)


def wait_for(driver, script: str, timeout: float = 15):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: d.execute_script(script))


def check_every_size(driver, tmp_path, state: str) -> dict[tuple[int, int], float]:
    """Lay the page out at every size; returns the label's font size (px) per size."""
    sizes = {}
    for w, h in SIZES:
        set_viewport(driver, w, h)
        wait_for(driver, f"return window.innerWidth === {w} && window.innerHeight === {h}")
        time.sleep(0.3)  # the page refits on resize
        assert driver.save_screenshot(str(tmp_path / f"kiosk-{w}x{h}-{state}.png"))
        problems = driver.execute_script(LAYOUT_CHECK)
        assert problems == [], f"{w}x{h} {state}: {problems}"
        sizes[(w, h)] = driver.execute_script(
            "return parseFloat(getComputedStyle(document.getElementById('label')).fontSize)"
        )
    return sizes


@pytest.fixture
def driver(tmp_path):
    driver = chromium(tmp_path / "profile", 800, 480)
    yield driver
    driver.quit()


def test_before_the_first_answer_nothing_shows_a_placeholder(driver, tmp_path):
    hub, _control, web = serve_kiosk(control=BeforeTheFirstAnswer())
    camera = Camera(hub)
    try:
        driver.get(web.url + "/")
        wait_for(driver, "return document.getElementById('state').textContent === 'running'")
        text = driver.execute_script("return document.body.innerText")
        assert "waiting for the first answer" in text
        for placeholder in PLACEHOLDERS:
            assert placeholder not in text, f"{placeholder!r} shown before the first answer: {text!r}"
        dangling = [line for line in text.splitlines() if line.strip().startswith("·") or line.strip().endswith("·")]
        assert dangling == [], f"a dangling separator: {dangling}"
        assert "msl 2" in text  # the model is named once known
        check_every_size(driver, tmp_path, "waiting")
        icon = driver.execute_script("return document.querySelector('link[rel=icon]').href")
        assert requests.get(icon, timeout=5).headers["Content-Type"].startswith("image/svg+xml")
    finally:
        camera.close()
        stop_kiosk(hub, web)


def test_the_page_fits_every_kiosk_screen_with_the_label_as_large_as_it_allows(driver, tmp_path):
    hub, _control, web = serve_kiosk(control=Answering())
    camera = Camera(hub)
    try:
        driver.get(web.url + "/")
        wait_for(driver, "return document.getElementById('state').textContent === 'running'")
        for label in ["buenos días", "por favor", "desafortunadamente", "hola", "gracias", "cómo estás"]:
            hub.publish(label_event(label, display_name=label))
        wait_for(driver, "return document.querySelectorAll('#history li').length === 5")
        wait_for(driver, "return document.getElementById('label').textContent === 'cómo estás'")
        text = driver.execute_script("return document.body.innerText")
        assert "answered by cloud · 90%" in text and "latency p50 312.5 ms" in text and "msl 20261120 (cloud)" in text
        sizes = check_every_size(driver, tmp_path, "answering")
        hub.publish(label_event("desafortunadamente", display_name="desafortunadamente"))  # the longest word
        wait_for(driver, "return document.getElementById('label').textContent === 'desafortunadamente'")
        check_every_size(driver, tmp_path, "long-word")
    finally:
        camera.close()
        stop_kiosk(hub, web)
    # As large as the screen allows: a bigger screen, a bigger label, and never small on the smallest.
    assert sizes[(800, 480)] >= 56 and sizes[(480, 800)] >= 56
    assert sizes[(800, 480)] < sizes[(1280, 720)] < sizes[(1920, 1080)]


def test_a_reloaded_page_lists_the_recent_labels_again(driver):
    hub, _control, web = serve_kiosk(control=Answering())
    listed = "return Array.from(document.querySelectorAll('#history li')).map((li) => li.dataset.label).join(',')"
    try:
        driver.get(web.url + "/")
        wait_for(driver, "return document.getElementById('state').textContent === 'running'")
        for label in ("hola", "gracias", "por favor"):
            hub.publish(label_event(label))
        wait_for(driver, listed + " === 'por favor,gracias,hola'")
        driver.refresh()
        wait_for(driver, "return document.getElementById('label').textContent === 'POR FAVOR'")
        wait_for(driver, listed + " === 'por favor,gracias,hola'")  # each once, newest first
    finally:
        stop_kiosk(hub, web)
