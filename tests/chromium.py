"""Headless Chromium for the browser tests: Debian's chromium and chromium-driver driven by Selenium.

MEDIAPLANE_SKIP_BROWSER_TESTS=1 skips the browser tests on request; without Chromium they are skipped
too, except under CI=true, where a missing browser must not pass unnoticed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.shared_data import in_ci

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SKIP_BROWSER = "MEDIAPLANE_SKIP_BROWSER_TESTS"
# Flags that keep a headless Chromium quiet and working on a shared CI machine (no sandbox inside a
# container, no GPU, no calls home).
QUIET_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)


def start_chromium(monkeypatch, flags: tuple[str, ...]):
    """A Selenium driver of a new headless Chromium with `flags` added to QUIET_FLAGS, its console
    logged (see `console`); skips or fails the calling test when the browser is absent."""
    if os.environ.get(SKIP_BROWSER) == "1":
        pytest.skip(f"{SKIP_BROWSER}=1: tests in headless Chromium are skipped")
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists() and not shutil.which(Path(p).name)]
    if missing:
        message = (
            f"{', '.join(missing)} not found: this test runs in headless Chromium; install it with "
            "`apt-get install -y chromium chromium-driver` (scripts/test does as root) or set "
            f"{SKIP_BROWSER}=1"
        )
        if in_ci():
            pytest.fail(f"{message}; CI=true requires the browser test", pytrace=False)
        pytest.skip(message)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed: pip install the test extras (selenium)")
    monkeypatch.setenv("SE_AVOID_STATS", "true")  # never let Selenium Manager call home
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*QUIET_FLAGS, *flags):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


def console(driver) -> list[str]:
    """What the page logged to its console so far (read once: Chromium hands each entry out once)."""
    return [f"{e['level']} {e['message']}" for e in driver.get_log("browser")]
