"""Browser fixtures: the test's app served over HTTP, and Debian's Chromium driven by Playwright.

Every page opened here is watched: a dialog, an uncaught page error or a console error fails the
test, except console errors for HTTP statuses the test declared it expects (a form answered with
422, say) through `watch.allow_status(...)`. No JavaScript is needed anywhere, so nothing else
should ever reach the console.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Page,
    Playwright,
    sync_playwright,
)
from werkzeug.serving import BaseWSGIServer, make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Chromium's wording when a response (the document included) has an error status.
_RESOURCE_STATUS = re.compile(
    r"Failed to load resource: the server responded with a status of (\d{3})"
)


# --- The app over HTTP --------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveServer:
    """The test's app, answering on a loopback port."""

    url: str

    def __call__(self, path: str) -> str:
        return self.url + path


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    """Serve `app` from a thread on a free port; links in mail point at it."""
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["BASE_URL"] = url
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(url)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# --- The browser --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    driver = sync_playwright().start()
    try:
        yield driver
    finally:
        driver.stop()


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless; Playwright's own browser downloads are never used."""
    chromium = playwright.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
    )
    try:
        yield chromium
    finally:
        chromium.close()


@dataclass
class Watch:
    """What the pages of one test said that nobody asked for."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    allowed_statuses: set[int] = field(default_factory=set)
    origin: str = ""
    pages: list[Page] = field(default_factory=list)

    def allow_status(self, *statuses: int) -> None:
        """Expect responses with these 4xx statuses, so Chromium's console notes are fine."""
        assert all(400 <= status < 500 for status in statuses), "only 4xx may be expected"
        self.allowed_statuses.update(statuses)

    def attach(self, page: Page) -> None:
        self.pages.append(page)
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("dialog", self._on_dialog)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        status = _RESOURCE_STATUS.search(message.text)
        where = str(message.location.get("url", ""))
        if (
            status
            and int(status.group(1)) in self.allowed_statuses
            and where.startswith(self.origin + "/")
        ):
            return
        self.console_errors.append(f"{message.text} ({where})")

    def _on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def problems(self) -> list[str]:
        for page in self.pages:
            if not page.is_closed():
                page.title()  # a round trip, so events still on their way are delivered
        return (
            [f"console error: {text}" for text in self.console_errors]
            + [f"page error: {text}" for text in self.page_errors]
            + [f"dialog: {text}" for text in self.dialogs]
        )


@pytest.fixture
def watch(live_server: LiveServer) -> Watch:
    return Watch(origin=live_server.url)


@pytest.fixture
def open_page(
    browser: Browser, live_server: LiveServer, watch: Watch
) -> Iterator[Callable[..., Page]]:
    """Open a page in a fresh context (no shared cookies); options go to new_context."""
    contexts: list[BrowserContext] = []

    def opener(**options: Any) -> Page:
        context = browser.new_context(base_url=live_server.url, **options)
        contexts.append(context)
        page = context.new_page()
        watch.attach(page)
        return page

    yield opener
    for context in contexts:
        context.close()


@pytest.fixture
def page(open_page: Callable[..., Page]) -> Page:
    """A page in a fresh browser context, pointed at the live server."""
    return open_page()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    """Fail a browser test that passed when its pages logged errors or opened dialogs."""
    result = yield
    values = getattr(item, "funcargs", {}).values()  # only test functions have funcargs
    watched = [value for value in values if isinstance(value, Watch)]
    problems = [problem for found in watched for problem in found.problems()]
    if problems:
        raise AssertionError("the browser reported:\n" + "\n".join(problems))
    return result
