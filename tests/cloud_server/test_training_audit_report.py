"""The audit's HTML report in headless Chromium: offline, animated, and its review file read by train."""

import dataclasses
import json
import time

import numpy as np
import pytest

from cloud_server.training.audit import AuditConfig, audit
from cloud_server.training.audit_report import render
from shared.datasets.review import apply_review, load_review
from shared.datasets.synth import generate
from tests.edge_client.browser import chromium

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    ds = generate(classes=4, per_class=56, signers=7, seed=5)
    y = ds.y.copy()
    who = ds.session == "signer1"
    y[who & (ds.y == 0)], y[who & (ds.y == 1)] = 1, 0  # a swapped pair to review
    ds = dataclasses.replace(ds, y=y)
    result = audit(ds, AuditConfig(seed=0, trees=40, jobs=1))
    path = tmp_path_factory.mktemp("audit") / "report.html"
    path.write_text(render(result, ds, "Audit of a synthetic set"))
    return path, result, ds


@pytest.fixture
def driver(tmp_path):
    driver = chromium(tmp_path / "profile", 1280, 900)
    yield driver
    driver.quit()


def _wait(driver, script: str, timeout: float = 15):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: d.execute_script(script))


def test_the_report_opens_offline_and_its_skeletons_move(driver, report, tmp_path):
    path, result, _ = report
    assert len(result["flagged"]) >= 2
    driver.get(path.as_uri())
    _wait(driver, "return window.auditFrame >= 1")
    rows = driver.execute_script("return document.querySelectorAll('tr[data-block]').length")
    assert rows == len(result["flagged"])
    canvases = "Array.from(document.querySelectorAll('canvas[data-seq]'))"
    assert driver.execute_script(f"return {canvases}.length") == 3 * rows
    first = driver.execute_script("return window.auditFrame")
    _wait(driver, f"return window.auditFrame >= {first + 5}")
    # the block's own skeleton is drawn (pixels set) and its frame advanced
    # every skeleton is drawn (pixels set; a frame where detection dropped the hand is blank, so over
    # a second of frames), and the block's own one moves on to other frames
    script = (
        f"return {canvases}.filter(c => c.dataset.seq !== '').map(c => {{"
        "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; })"
    )
    drawn = driver.execute_script(script)
    for _ in range(10):
        time.sleep(0.1)
        drawn = [max(a, b) for a, b in zip(drawn, driver.execute_script(script), strict=True)]
    assert len(drawn) >= 2 * rows and min(drawn) > 50, drawn
    now = driver.execute_script(f"return {canvases}[0].dataset.frame")
    _wait(driver, f"return {canvases}[0].dataset.frame !== {json.dumps(now)}")
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    assert driver.save_screenshot(str(tmp_path / "report.png"))


def test_decisions_made_in_the_page_are_a_review_file_train_applies(driver, report, tmp_path):
    path, result, ds = report
    driver.get(path.as_uri())
    _wait(driver, "return window.auditFrame >= 1")
    driver.find_element("id", "who").send_keys("tester")
    blocks = [(f["session"], f["class"]) for f in result["flagged"]]
    drop = blocks.index(("signer1", ds.classes[0]))
    relabel = blocks.index(("signer1", ds.classes[1]))
    from selenium.webdriver.support.ui import Select

    rows = driver.find_elements("css selector", "tr[data-block]")
    Select(rows[drop].find_element("css selector", ".action")).select_by_visible_text("drop")
    Select(rows[relabel].find_element("css selector", ".action")).select_by_visible_text("relabel")
    Select(rows[relabel].find_element("css selector", ".target")).select_by_visible_text(ds.classes[0])
    text = driver.execute_script("return window.reviewLines()")
    assert driver.find_element("id", "decided").text == "2 decided"
    review_path = tmp_path / "review.jsonl"
    review_path.write_text(text)
    review = load_review(review_path)
    assert {(d.session, d.label, d.action, d.new_class, d.who) for d in review.decisions} == {
        ("signer1", ds.classes[0], "drop", None, "tester"),
        ("signer1", ds.classes[1], "relabel", ds.classes[0], "tester"),
    }
    applied = apply_review(ds, review)
    who = applied.session == "signer1"
    assert len(applied) == len(ds) - 8 and not np.any(who & (applied.y == 1))
    assert np.array_equal(ds.X[ds.session != "signer1"], applied.X[applied.session != "signer1"])
