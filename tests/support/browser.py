"""A real browser for the map page: Debian's chromium driven by Playwright (from PyPI).

Playwright's own browser download cannot work here (nothing downloads at run time), so the system
chromium is launched by its path. Missing, it skips the browser tests; under CI=true it fails them
(`.ci/run` installs it).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",  # runs as root in CI
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
]
VIEWPORT = {"width": 1440, "height": 860}


def chromium_path(in_ci: bool) -> str:
    found = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    if found is None:
        message = f"no chromium at {CHROMIUM} (apt-get install chromium)"
        if in_ci:
            pytest.fail(f"{message}: under CI=true the browser tests must run", pytrace=False)
        pytest.skip(message)
    return found


@contextmanager
def launched(executable: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def artefacts_dir() -> Path:
    """Where screenshots go: $FRONTLINE_ARTEFACTS, else a folder under the system's temp dir."""
    folder = Path(
        os.environ.get("FRONTLINE_ARTEFACTS") or Path(tempfile.gettempdir()) / "frontline-artefacts"
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder
