"""Debian's chromium driven by Playwright, never a downloaded browser; fails with the install command."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = Path("/usr/bin/chromium")
# The flags that keep a headless chromium quiet and offline on a CI machine.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> Path:
    """Debian's chromium, or a test failure that says how to install it."""
    found = CHROMIUM if CHROMIUM.exists() else Path(shutil.which("chromium") or "/nonexistent")
    if not found.exists():
        pytest.fail(
            "The UI tests drive Debian's chromium, which is not installed: run `apt-get install -y chromium` "
            "(as root; `python3 .ci/dev.py test` does it for you).",
            pytrace=False,
        )
    return found


@contextmanager
def launched_chromium() -> Iterator[Browser]:
    """A headless chromium for one test, closed afterwards whatever happens."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "The UI tests need the playwright package: install the project's dev extra.", pytrace=False
        )
    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()
