"""A real Chromium (Debian's package) driven by Playwright, one per test session, and a page that records what
it requested and what it logged."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
INSTALL = REPO / "tests" / "peers" / "install_chromium.sh"
CHROMIUM = Path("/usr/bin/chromium")


def _unavailable(reason: str) -> None:
    """Skip locally; fail under CI, where the browser tests are part of the job."""
    if os.environ.get("CI"):
        pytest.fail(f"the browser tests need Chromium and Playwright under CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Chromium, installed by tests/peers/install_chromium.sh when missing and launched once per session."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (it is in the test extra)")
    installed = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True, check=False, timeout=900)
    if installed.returncode != 0 or not CHROMIUM.exists():
        _unavailable(f"chromium is not installed: {installed.stderr.strip() or 'the install script failed'}")
    with sync_playwright() as playwright:
        # Root in a container has no user namespaces for Chromium's sandbox.
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


@dataclass
class Watched:
    """A browser page and everything it asked for or complained about."""

    page: Any
    base: str
    screenshots: Path
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def open(self, path: str) -> Any:
        """Go to a path of the service and wait until it has loaded."""
        response = self.page.goto(self.base + path)
        self.page.wait_for_load_state("load")
        return response

    def shot(self, name: str) -> None:
        """A full-page screenshot, kept in the test output for a person to look at."""
        self.page.screenshot(path=str(self.screenshots / f"{name}.png"), full_page=True)

    def off_host(self) -> list[str]:
        """Requests to anything but the service (inline data: URLs are not requests to a host)."""
        return [url for url in self.requests if not url.startswith((self.base + "/", "data:"))]


def watch(browser: Any, base: str, screenshots: Path, *, width: int = 1280) -> Watched:
    """A fresh browser context (no cookies) whose page records requests and console errors."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    watched = Watched(page, base, screenshots)
    page.on("request", lambda request: watched.requests.append(request.url))

    def on_console(message: Any) -> None:
        if message.type == "error":
            watched.console_errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.console_errors.append(str(error)))
    return watched
