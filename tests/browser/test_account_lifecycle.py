"""The stage and signals panel in a real browser: a CSM opens an account, reads its stage and
active signal, and marks an open task done in place."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlmodel import Session

from tests.views.data import CSM, PASSWORD, Book
from tests.views.lifecycle_data import load_lifecycle

pytestmark = pytest.mark.browser


@pytest.fixture
def lifecycle(engine: Any, book: Book) -> dict[str, int]:
    with Session(engine, expire_on_commit=False) as session:
        ids = load_lifecycle(session)
        session.commit()
    return ids


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        locale="en-US", timezone_id="Asia/Tokyo", viewport={"width": 1360, "height": 900}
    )
    yield context.new_page()
    context.close()


def test_open_an_account_see_stage_and_signals_and_mark_a_task_done(
    page: Any, live_server: str, lifecycle: dict[str, int], screenshot: Callable[[Any, str], Any]
) -> None:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{live_server}/")
    page.wait_for_url(re.compile(r"/login"))
    page.fill("#email", CSM)
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{live_server}/")
    acme_row = page.locator("table.portfolio tbody tr", has_text="Acme Corporation")
    assert "Rescue" in acme_row.inner_text()

    acme_row.locator("a", has_text="Acme Corporation").click()
    page.wait_for_url(f"{live_server}/accounts/acme")
    panel = page.locator("#lifecycle")
    expect(panel).to_contain_text("Rescue")
    expect(panel).to_contain_text("No meeting")
    expect(panel).to_contain_text("Last meeting")
    assert "Rescue" in page.locator("header.account-head").inner_text()
    tasks = panel.locator("li.task")
    expect(tasks).to_have_count(2)
    screenshot(page, "account-lifecycle")

    tasks.filter(has_text="Call the champion").get_by_role("button", name="Done: Call the champion").click()
    expect(page.locator("#lifecycle li.task")).to_have_count(1)
    expect(page.locator("#lifecycle")).not_to_contain_text("Call the champion")

    page.reload()
    expect(page.locator("#lifecycle li.task")).to_have_count(1)
    assert problems == [], "\n".join(problems)
