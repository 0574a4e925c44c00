"""Fixtures for the browser tests: Debian's Chromium under Playwright, and what a failed
test leaves behind in ``test-artifacts/`` (a screenshot of the page, JupyterLab's log and
the browser's console).

No browser is ever downloaded: Playwright drives ``/usr/bin/chromium`` (Debian's
``chromium`` package; ``make system-deps`` installs it). When it is missing the tests fail
and say how to install it; they are never skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright

#: Screenshots and logs of the browser tests (git-ignored; CI keeps it as an artifact).
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

CHROMIUM = Path("/usr/bin/chromium")

# Headless Chromium in a container: no sandbox (CI runs as root), no GPU, and nothing that
# phones home or updates itself during a test.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"The browser tests need Debian's Chromium at {CHROMIUM}: install it with "
            "`apt-get install chromium` (or `make system-deps`). No browser is downloaded.",
            pytrace=False,
        )
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )
    yield browser
    browser.close()


class ConsoleLog:
    """The browser's console errors and uncaught page errors, for failure reports."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.lines.append(f"console.{message.type}: {message.text}")

    def on_page_error(self, error: Exception) -> None:
        self.lines.append(f"page error: {error}")


@pytest.fixture
def page(chromium: Browser, artifacts: Path, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh page (own context: no cookies or storage shared between tests). When the
    test fails, a screenshot of the page and the browser's console go to the artifacts."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    console = ConsoleLog()
    page.on("console", console.on_console)
    page.on("pageerror", console.on_page_error)
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        name = request.node.name
        try:
            page.screenshot(path=str(artifacts / f"failed-{name}.png"))
        except Exception as exc:  # the page may be what broke; the log still helps
            console.lines.append(f"(no screenshot: {exc})")
        (artifacts / f"failed-{name}-console.log").write_text("\n".join(console.lines) + "\n")
    context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """Keep each phase's report on the test item, so fixtures can tell a failed test."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
