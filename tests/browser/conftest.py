"""A real browser against a real server: Debian's Chromium driven by Playwright's sync API.

``live_server`` serves the per-test ``app`` (its own fresh database) with uvicorn on a free
loopback port, in a background thread; ``browser`` is one Chromium for the whole session. Both
are plain sync fixtures: Playwright's sync API runs its own event loop and must not be called
from inside one (pytest-asyncio only starts loops for async tests).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from tests.conftest import DatabaseFactory
from tests.live import live_server as serve_live
from tests.views.data import Book, load_book

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing (apt-get install -y chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The browser tests run one after the other on one worker (one Chromium at a time)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One headless Chromium per test module (Debian's binary; no `playwright install`).

    Not one per session: while Playwright's sync API is open it leaves its event loop marked as
    running in the thread, so any later test on the same worker that runs a loop (``asyncio.run``,
    an ``async def`` test) would fail; a module's end closes it."""
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[str]:
    """The test's app served over HTTP on 127.0.0.1 (``tests.live``); yields its base URL."""
    with serve_live(app) as server:
        yield server.url


ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts" / "screenshots"


@pytest.fixture
def book(databases: DatabaseFactory, engine: Engine) -> Book:
    """The small deterministic book of business (``tests.views.data``) in the test's database."""
    return databases.load(engine, load_book)


@pytest.fixture
def screenshot() -> object:
    """Save a full-page screenshot as a test artifact: ``screenshot(page, "portfolio")``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def _save(page: object, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        return path

    return _save


def open_signed_in(context: Any, url: str, email: str, password: str, lands: str) -> tuple[Any, list[str]]:
    """A new page that opens ``url``, is sent to sign in, signs in as ``email`` and lands on a
    URL matching ``lands``; with the list the page's console errors and uncaught exceptions are
    collected in (a test ends by asserting it is empty)."""
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(url)
    page.wait_for_url(re.compile(r"/login"))
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(re.compile(lands))
    return page, problems
