"""End-to-end fixtures: the real ``idp serve`` process on a loopback port, headless Chromium.

``live_server`` starts ``python -m idp serve`` with a fresh certs folder, waits (bounded) for
``/healthz``, yields the base URL, then stops the server with SIGINT (Ctrl-C) and requires a
clean exit. ``browser`` is one Chromium for the session; ``page`` is a page in a fresh context
(cookies never leak between tests).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.server import LiveServer, running_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Playwright's per-action / per-navigation timeout (ms): bounded, generous for a slow CI box.
BROWSER_TIMEOUT_MS = 15_000


@pytest.fixture
def live_server_process(tmp_path: Path) -> Iterator[LiveServer]:
    """``idp serve`` on the demo directory with fresh keys; must exit 0 on SIGINT."""
    with running_server(tmp_path) as server:
        yield server


@pytest.fixture
def live_server(live_server_process: LiveServer) -> str:
    """The base URL of a running ``idp serve`` (demo directory, fresh keys)."""
    return live_server_process.url


# --- browser -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_context(browser: Any) -> Iterator[Callable[..., Any]]:
    """Make browser contexts (keyword arguments go to ``new_context``); all closed afterwards."""
    contexts: list[Any] = []

    def make(**options: Any) -> Any:
        context = browser.new_context(**options)
        context.set_default_timeout(BROWSER_TIMEOUT_MS)
        context.set_default_navigation_timeout(BROWSER_TIMEOUT_MS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        with contextlib.suppress(Exception):
            context.close()


@pytest.fixture
def page(new_context: Callable[..., Any]) -> Any:
    """A page in a brand-new context: no cookies from other tests."""
    return new_context().new_page()
