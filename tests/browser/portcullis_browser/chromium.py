"""Starts Debian's headless Chromium under selenium, with nothing looked up or downloaded.

The browser and driver paths are fixed (tests/browser/setup.sh installs both
from apt) and selenium's manager is kept offline, so a run never fetches a
browser.
"""

from __future__ import annotations

import os

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from .checks import expect

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PAGE_SECONDS = 10  # bound on one page load or page transition

CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
    "--disable-gpu", "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--window-size=1024,768",
)


def start_chromium() -> webdriver.Chrome:
    for path in (CHROMIUM, CHROMEDRIVER):
        expect(os.access(path, os.X_OK), f"{path} installed (run tests/browser/setup.sh)", "missing")
    # Never let selenium's manager look anything up: paths are given, and offline.
    os.environ["SE_OFFLINE"] = "true"
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        opts.add_argument(flag)
    # Console messages (CSP violations among them) for failure reports.
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(PAGE_SECONDS)
    driver.set_script_timeout(PAGE_SECONDS)
    return driver
