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
    url, out, result = served
    assert "<canvas" in requests.get(url, timeout=10).text
    block = {"session": result["flagged"][0]["session"], "class": result["flagged"][0]["class"]}
    when = "2026-12-07T14:50:00.123Z"  # as the page writes it (Date.toISOString)
    good = json.dumps({**block, "action": "drop", "who": "t", "when": when}) + "\n"
    r = requests.post(url + "review", data=good, timeout=10)
    assert r.status_code == 200 and r.json()["decisions"] == 2
    before = out.read_bytes()
    r = requests.post(url + "review", data='{"session": "s", "class": "c", "action": "burn"}\n', timeout=10)
    assert r.status_code == 400 and "action must be one of" in r.json()["error"]
    assert requests.post(url + "elsewhere", data="x", timeout=10).status_code == 404
    assert out.read_bytes() == before
    assert {(d.who, d.action) for d in load_review(out).decisions} == {("earlier", "keep"), ("t", "drop")}


def test_decisions_the_report_does_not_hold_are_refused(served):
    """Before: a block not in the report, a relabel to no class of it, and a 'when' of "x" were all saved."""
    url, out, result = served
    before = out.read_bytes()
    block = {"session": result["flagged"][0]["session"], "class": result["flagged"][0]["class"]}
    flagged = {(f["session"], f["class"]) for f in result["flagged"]}
    unflagged = next((s, c) for s in (f"signer{i}" for i in range(6)) for c in result["classes"]
                     if (s, c) not in flagged)  # fmt: skip
    when = "2026-12-07T14:50:00Z"
    cases = [
        ({"session": "ksl:ann", "class": "no", "action": "drop", "when": when},
         "decision about session 'ksl:ann', class 'no': not a flagged block of this report"),
        ({"session": unflagged[0], "class": unflagged[1], "action": "drop", "when": when},
         f"decision about session {unflagged[0]!r}, class {unflagged[1]!r}: not a flagged block of this report"),
        ({**block, "action": "relabel", "new_class": "idel", "when": when},
         "relabel to 'idel', not a class of this report"),
        ({**block, "action": "drop", "when": "x"}, "'when' must be an ISO 8601 time, got 'x'"),
        ({**block, "action": "drop"}, "'when' must be an ISO 8601 time, got ''"),
    ]  # fmt: skip
    for decision, message in cases:
        r = requests.post(url + "review", data=json.dumps(decision) + "\n", timeout=10)
        assert r.status_code == 400, (decision, r.text)
        assert message in r.json()["error"], (decision, r.text)
    assert out.read_bytes() == before


def test_a_page_that_is_not_an_audit_report_is_refused_at_start(tmp_path):
    page = tmp_path / "notaudit.html"
    page.write_text("<!doctype html><html><body><p>some other page</p></body></html>")
    proc = subprocess.run([sys.executable, "-m", "signstream.cli", "review", str(page), "--out", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [f"signstream review: error: {page}: not an audit report (no audit data in "
                                        "it); write one with signstream audit --html"]  # fmt: skip
    assert not (tmp_path / "r").exists()


def test_a_port_in_use_is_one_line_naming_it(served):
    url, out, _ = served
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    command = [sys.executable, "-m", "signstream.cli", "review", str(out.parent / "report.html"), "--out", str(out)]
    proc = subprocess.run([*command, "--port", str(port)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [f"signstream review: error: port {port} on 127.0.0.1 is in use; give another "
                                        "--port (or leave it out for a free one)"]  # fmt: skip


def test_the_served_page_saves_what_the_person_chose(served, tmp_path):
    from selenium.webdriver.support.ui import Select, WebDriverWait

    url, out, result = served
    driver = chromium(tmp_path / "profile")
    try:
        driver.get(url)
        WebDriverWait(driver, 15).until(lambda d: d.execute_script("return window.auditFrame >= 1"))
        driver.find_element("id", "who").send_keys("browser")
        before = out.read_bytes()
        driver.find_element("id", "save").click()  # nothing decided yet: said on the page, nothing sent
        WebDriverWait(driver, 15).until(lambda d: d.find_element("id", "saved").text == "nothing decided yet")
        assert out.read_bytes() == before
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
