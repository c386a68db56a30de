"""Screenshots of the audit report for docs/training.md, from a synthetic dataset with planted faults.

    .venv/bin/python scripts/docs_screenshots.py [--out docs/img]

Synthetic data only (shared/datasets/synth.py): nothing from ../shared/data goes into the repository. Needs the
dev venv (Selenium) and Debian's chromium and chromedriver.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from cloud_server.training.audit import AuditConfig, audit
from cloud_server.training.audit_report import render
from shared.datasets.dataset import Dataset
from shared.datasets.synth import generate, make_signer, sequence


def planted() -> Dataset:
    """Seven people, five signs: a swapped pair of folders, a flat hand filed as another sign, no hand."""
    ds = generate(classes=5, per_class=56, signers=7, seed=5)
    X, y = ds.X.copy(), ds.y.copy()

    def block(person: int, c: int) -> np.ndarray:
        return (ds.session == f"signer{person}") & (ds.y == c)

    y[block(1, 0)], y[block(1, 1)] = 1, 0
    rows = np.flatnonzero(block(3, 4))
    rng = np.random.default_rng(1)
    signer = dataclasses.replace(make_signer(np.random.default_rng(2)), left_handed=False)
    X[rows] = np.stack([sequence(0, signer, 30, rng) for _ in rows])
    X[block(5, 2)] = 0.0
    return dataclasses.replace(ds, X=X, y=y)


def chromium(profile: Path, width: int, height: int):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
                f"--window-size={width},{height}", "--hide-scrollbars"):  # fmt: skip
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    args = parser.parse_args()
    ds = planted()
    result = audit(ds, AuditConfig(seed=0, trees=60, jobs=1))
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "audit.html"
        page.write_text(render(result, ds, "Audit of a synthetic set (planted faults)"), encoding="utf-8")
        driver = chromium(Path(tmp) / "profile", 1280, 900)
        try:
            driver.get(page.as_uri())
            time.sleep(1.5)  # a few frames of the skeletons' animation
            # a reviewer at work: a name, the swapped pair relabelled, the flat hand dropped
            from selenium.webdriver.support.ui import Select

            driver.find_element("id", "who").send_keys("ana")
            actions = driver.find_elements("css selector", "tr[data-block] select.action")
            targets = driver.find_elements("css selector", "tr[data-block] select.target")
            for i, (action, target) in enumerate([("relabel", "circle"), ("relabel", "wave"), ("drop", None)]):
                Select(actions[i]).select_by_visible_text(action)
                if target:
                    Select(targets[i]).select_by_visible_text(target)
            args.out.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(args.out / "audit-summary.png"))
            driver.execute_script("window.scrollTo(0, document.body.scrollHeight)")  # the counts
            time.sleep(1.0)
            driver.save_screenshot(str(args.out / "audit-counts.png"))
        finally:
            driver.quit()
    flagged = [(f["session"], f["class"], f["kinds"]) for f in result["flagged"]]
    print(f"{len(flagged)} flagged: {flagged}; screenshots in {args.out}")


if __name__ == "__main__":
    main()
