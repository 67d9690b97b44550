"""Serving a Gradio app on 127.0.0.1 and driving Debian's headless Chromium at it (no browser download)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Headless in a container, and nothing that would reach for the network (updates, sync, QUIC probes).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1000",
)


def chromium_driver():
    """A selenium Chrome driver on /usr/bin/chromium with a fresh profile (``apt-get install chromium
    chromium-driver``; `make test` does it where it may). Without them the test skips with the reason, unless
    ``BLIP_POSE_REQUIRE_BROWSER=1`` (CI) makes that a failure."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        reason = f"no {' or '.join(missing)}: install Debian's chromium chromium-driver (make test does, as root)"
        if os.environ.get("BLIP_POSE_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-')}"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
