"""A real headless Chromium (Debian's package, driven by Playwright) that opens reports from disk, refuses every
request that would leave the page, and records console errors: what the report tests look through."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/lib/chromium/chromium", "/usr/bin/chromium-browser")
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")


def chromium_path() -> str | None:
    """The system Chromium (`apt-get install chromium`; `make install` adds it when run as root), or None."""
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


@dataclass
class OpenedPage:
    """A report opened in Chromium, with what it tried to fetch and what it complained about."""

    page: object
    errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)


@contextmanager
def browser() -> Iterator[object]:
    """A headless Chromium for the duration; skips the test when the machine has none."""
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium: `sudo apt-get install chromium` (make install does it when run as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable,
                                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield launched
        finally:
            launched.close()


def open_report(chromium, path: Path) -> OpenedPage:
    """Open a report file, blocking (and recording) every request that is not to the page itself."""
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    opened = OpenedPage(page)
    page.on("console", lambda message: message.type == "error" and opened.errors.append(message.text))
    page.on("pageerror", lambda error: opened.errors.append(f"uncaught: {error}"))

    def route(request_route) -> None:
        url = request_route.request.url
        if url.startswith(LOCAL_SCHEMES):
            request_route.continue_()
        else:
            opened.blocked.append(url)
            request_route.abort()

    page.route("**/*", route)
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot')].every(p => p._fullLayout && "
        "(p._promises || []).length === 0)"
    )
    return opened
