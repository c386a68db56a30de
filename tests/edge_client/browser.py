"""Headless Debian Chromium driven by Selenium (nothing downloaded); skipped (failed under CI) when missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import require_binary


def chromium(profile: Path, width: int = 1280, height: int = 800):
    """A headless Chromium WebDriver with a fresh profile and a ``width`` x ``height`` CSS-pixel viewport."""
    pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = require_binary("chromium")
    driver_path = require_binary("chromedriver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
                f"--window-size={width},{height}"):  # fmt: skip
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)
    set_viewport(driver, width, height)
    return driver


def set_viewport(driver, width: int, height: int) -> None:
    """The page's viewport exactly ``width`` x ``height`` (a kiosk screen), whatever the window's frame."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
