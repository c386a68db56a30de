"""signstream review: the report served on 127.0.0.1, decisions appended to the review file, bad ones refused."""

import json
import subprocess
import sys

import pytest
import requests

from cloud_server.training.audit import AuditConfig, audit
from cloud_server.training.audit_report import render
from shared.datasets.review import load_review
from shared.datasets.synth import generate
from tests.edge_client.browser import chromium

pytestmark = pytest.mark.slow


@pytest.fixture
def served(tmp_path):
    ds = generate(classes=3, per_class=48, signers=6, seed=2)
    who = ds.session == "signer2"
    y = ds.y.copy()
    y[who & (ds.y == 0)], y[who & (ds.y == 1)] = 1, 0
    ds.y = y
    result = audit(ds, AuditConfig(seed=0, trees=40, jobs=1, min_people=5))
    report = tmp_path / "report.html"
    report.write_text(render(result, ds, "synthetic"))
    out = tmp_path / "review.jsonl"
    out.write_text(json.dumps({"session": "signer0", "class": "wave", "action": "keep", "who": "earlier"}) + "\n")
    proc = subprocess.Popen([sys.executable, "-m", "signstream.cli", "review", str(report), "--out", str(out)],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        line = proc.stdout.readline()
        url = line.split(" at ")[1].split(" ")[0]
        yield url, out, result
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()


def test_decisions_are_appended_and_bad_ones_refused_without_touching_the_file(served):
    url, out, _ = served
    assert "<canvas" in requests.get(url, timeout=10).text
    good = json.dumps({"session": "signer2", "class": "wave", "action": "drop", "who": "t"}) + "\n"
    r = requests.post(url + "review", data=good, timeout=10)
    assert r.status_code == 200 and r.json()["decisions"] == 2
    before = out.read_bytes()
    r = requests.post(url + "review", data='{"session": "s", "class": "c", "action": "burn"}\n', timeout=10)
    assert r.status_code == 400 and "action must be one of" in r.json()["error"]
    assert requests.post(url + "elsewhere", data="x", timeout=10).status_code == 404
    assert out.read_bytes() == before
    assert {(d.who, d.action) for d in load_review(out).decisions} == {("earlier", "keep"), ("t", "drop")}


def test_the_served_page_saves_what_the_person_chose(served, tmp_path):
    from selenium.webdriver.support.ui import Select, WebDriverWait

    url, out, result = served
    driver = chromium(tmp_path / "profile")
    try:
        driver.get(url)
        WebDriverWait(driver, 15).until(lambda d: d.execute_script("return window.auditFrame >= 1"))
        driver.find_element("id", "who").send_keys("browser")
        row = driver.find_elements("css selector", "tr[data-block]")[0]
        Select(row.find_element("css selector", ".action")).select_by_visible_text("drop")
        driver.find_element("id", "save").click()
        WebDriverWait(driver, 15).until(lambda d: "saved" in d.find_element("id", "saved").text)
    finally:
        driver.quit()
    first = result["flagged"][0]
    assert ("browser", first["session"], first["class"], "drop") in {
        (d.who, d.session, d.label, d.action) for d in load_review(out).decisions
    }
