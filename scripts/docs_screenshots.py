"""Screenshots for the docs, from synthetic data only: the audit report (docs/training.md) and the kiosk's
operator mode, teaching it a sign (docs/edge.md).

    .venv/bin/python scripts/docs_screenshots.py [--out docs/img] [--only audit|teach]

Synthetic data only (shared/datasets/synth.py): nothing from ../shared/data goes into the repository, not even
a skeleton of a real person. The teach screenshots train a small base model on six synthetic signs (the
trainer `train` and `make demo` use), start a kiosk replaying a seventh sign by a person the base never saw
(the kiosk's file source stands in for the camera; a file:// registry it may write to), and drive its page
in headless Chromium at 800x480 through every step an operator meets. The refused example (a sign made
like a known one) is put in the draft directly rather than recorded: the page shows it the same way.
Needs the dev venv (TensorFlow, Selenium) and Debian's chromium and chromedriver. PNGs are reduced to 256
colours when Pillow is installed.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from shared.datasets.dataset import Dataset
from shared.datasets.synth import MAX_CLASSES, generate, make_signer, sequence

BASE_SIGNS = 6  # the generator's first six: wave, circle, fist-nod, push, point-up, pinch
NEW_SIGN = "swipe"  # a synthetic sign the base never saw (enrolled: it resembles wave)
LOOKALIKE = ("slide", NEW_SIGN)  # the sign just taught, its own examples under a new name: refused
TOKEN, PIN = "docs-admin-key", "2468"
WIDTH, HEIGHT = 800, 480  # the kiosk's small screen


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
    """Headless Chromium whose viewport is exactly ``width`` x ``height`` CSS pixels."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
                f"--window-size={width},{height}", "--hide-scrollbars"):  # fmt: skip
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})  # fmt: skip
    return driver


def wait_for(driver, script: str, timeout: float = 30.0):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: d.execute_script(script))


def audit_screenshots(out: Path, tmp: Path) -> list[Path]:
    """The audit report of a synthetic set with planted faults, a reviewer's choices made."""
    from selenium.webdriver.support.ui import Select

    from cloud_server.training.audit import AuditConfig, audit
    from cloud_server.training.audit_report import render

    ds = planted()
    result = audit(ds, AuditConfig(seed=0, trees=60, jobs=1))
    page = tmp / "audit.html"
    page.write_text(render(result, ds, "Audit of a synthetic set (planted faults)"), encoding="utf-8")
    driver = chromium(tmp / "audit-profile", 1280, 900)
    try:
        driver.get(page.as_uri())
        time.sleep(1.5)  # a few frames of the skeletons' animation
        # a reviewer at work: a name, the swapped pair relabelled, the flat hand dropped
        driver.find_element("id", "who").send_keys("ana")
        actions = driver.find_elements("css selector", "tr[data-block] select.action")
        targets = driver.find_elements("css selector", "tr[data-block] select.target")
        for i, (action, target) in enumerate([("relabel", "circle"), ("relabel", "wave"), ("drop", None)]):
            Select(actions[i]).select_by_visible_text(action)
            if target:
                Select(targets[i]).select_by_visible_text(target)
        shots = [out / "audit-summary.png", out / "audit-counts.png"]
        driver.save_screenshot(str(shots[0]))
        driver.execute_script("window.scrollTo(0, document.body.scrollHeight)")  # the counts
        time.sleep(1.0)
        driver.save_screenshot(str(shots[1]))
    finally:
        driver.quit()
    flagged = [(f["session"], f["class"], f["kinds"]) for f in result["flagged"]]
    print(f"audit: {len(flagged)} flagged: {flagged}")
    return shots


def one_person(sign: str, n: int, seed: int) -> Dataset:
    """``n`` recordings of the synthetic ``sign`` by one new synthetic person."""
    return generate(classes=MAX_CLASSES, per_class=n, signers=1, seed=seed).select_classes([sign])


def base_bundle(folder: Path) -> Path:
    """A small model of the first six synthetic signs (the trainer `train` and the demo use; about a minute)."""
    from cloud_server.training.model import ModelConfig
    from cloud_server.training.train import TrainConfig, train_bundle

    out = folder / "base"
    config = TrainConfig(epochs=8, model=ModelConfig(width=32, blocks=1))
    train_bundle(generate(classes=BASE_SIGNS, per_class=32, signers=6, seed=0), out, config=config, name="kiosk",
                 version="1")  # fmt: skip
    return out


def teach_screenshots(out: Path, tmp: Path) -> list[Path]:
    """A kiosk on a replayed synthetic sign, taught it through its page; one PNG per step."""
    from selenium.webdriver.common.by import By

    from edge_client.assembly import build_kiosk
    from edge_client.settings import load_settings
    from shared.datasets.dataset import load_dataset, save_dataset
    from shared.model.signing import generate_keypair
    from shared.registry.registry import Registry
    from shared.registry.store import open_store

    started = time.monotonic()
    bundle = base_bundle(tmp)
    print(f"teach: base model of {BASE_SIGNS} synthetic signs trained in {time.monotonic() - started:.0f} s")
    replay = tmp / "replay.npz"
    save_dataset(replay, one_person(NEW_SIGN, 60, seed=1000))
    (tmp / "registry").mkdir()
    store = (tmp / "registry").as_uri()
    registry = Registry(open_store(store))
    registry.push_bundle(bundle)
    registry.promote("kiosk", "1", by="docs")
    generate_keypair(tmp / "keys" / "signing.pem", tmp / "keys" / "signing.pub")
    settings = load_settings(
        source=str(replay), replay_speed=1.0, display="none", web_port=0, counters_interval=3600, local_only=True,
        store=store, model_name="kiosk", cache_dir=tmp / "cache", teach_dir=tmp / "teach", teach_push=True,
        teach_signing_key=tmp / "keys" / "signing.pem", teach_session="ana", admin_token=TOKEN, teach_pin=PIN,
    )  # fmt: skip
    kiosk = build_kiosk(settings, out=lambda line: None)
    thread = threading.Thread(target=kiosk.run, kwargs={"install_signals": False}, daemon=True)
    driver = chromium(tmp / "teach-profile", WIDTH, HEIGHT)
    shots: list[Path] = []

    def shot(name: str) -> None:
        shots.append(out / f"teach-{len(shots) + 1}-{name}.png")
        driver.save_screenshot(str(shots[-1]))

    def count(n: int) -> str:
        return f"return document.querySelectorAll('#teach-examples li').length === {n}"

    try:
        thread.start()
        url = kiosk.web.url
        driver.get(f"{url}/#teach")
        wait_for(driver, "return !document.getElementById('teach-pin').hidden")
        driver.find_element(By.ID, "teach-token").send_keys(TOKEN)
        driver.find_element(By.ID, "teach-pin").send_keys(PIN)
        shot("keys")
        driver.find_element(By.ID, "teach-name").send_keys(NEW_SIGN)
        driver.find_element(By.ID, "teach-session").send_keys("ana")
        driver.find_element(By.ID, "teach-start").click()
        wait_for(driver, "return !document.getElementById('teach-record').disabled")
        shot("named")
        for i in range(5):
            driver.find_element(By.ID, "teach-record").click()
            if i == 2:  # the third example, as it is being signed: the skeleton moves in the picture
                wait_for(driver, "return document.getElementById('teach-count').textContent === 'sign now'")
                while not kiosk.hub.frame[1].has_hand:  # the shot with the hand in the picture, mid-sign
                    time.sleep(0.02)
                time.sleep(0.5)
                shot("recording")
            wait_for(driver, count(i + 1))
        shot("examples")
        driver.find_element(By.ID, "teach-use").click()
        wait_for(driver, f"return !!document.querySelector('#teach-signs li[data-sign=\"{NEW_SIGN}\"]')")
        wait_for(driver, "return document.getElementById('teach-notice').textContent.includes('pushed')")
        shot("taught")
        driver.execute_script("location.hash = ''")  # the kiosk's own page: the taught sign answered live
        wait_for(driver, f"return document.getElementById('label').textContent === {NEW_SIGN!r}", 60)
        time.sleep(0.8)  # the label holds while the next sign's hand comes into the picture
        shot("live")
        # A sign made like a known one: its five examples in the draft, then "use it" is refused.
        kiosk.teacher.start(LOOKALIKE[0], session="ana")
        [taught] = [sign for sign in kiosk.teacher.signs() if sign["name"] == LOOKALIKE[1]]
        lookalike = load_dataset(tmp / "teach" / taught["examples"])  # the very examples swipe was taught from
        for x, n in zip(lookalike.X, lookalike.length, strict=True):
            kiosk.teacher.add_example(x[:n])
        driver.execute_script("location.hash = '#teach'")
        wait_for(driver, count(5))
        driver.find_element(By.ID, "teach-use").click()
        wait_for(driver, "return document.getElementById('teach-message').textContent.includes('looks like')")
        shot("refused")
    finally:
        driver.quit()
        kiosk.stop.set()
        thread.join(30)
    return shots


def shrink(paths: list[Path]) -> None:
    """256 colours and the best zlib level (a third of the size or less for these pages); skipped without Pillow."""
    try:
        from PIL import Image
    except ImportError:
        print("Pillow not installed: the PNGs are kept as Chromium wrote them")
        return
    for path in paths:
        with Image.open(path) as img:
            small = img.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        tmp = path.with_suffix(".tmp.png")
        small.save(tmp, optimize=True)
        os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    parser.add_argument("--only", choices=["audit", "teach"], help="make only these screenshots")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    started = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "audit"):
            shots += audit_screenshots(args.out, Path(tmp))
        if args.only in (None, "teach"):
            shots += teach_screenshots(args.out, Path(tmp))
    shrink(shots)
    sizes = ", ".join(f"{p.name} {p.stat().st_size // 1024} KB" for p in shots)
    print(f"{len(shots)} screenshots in {args.out} ({sizes}) in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
