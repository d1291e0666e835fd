"""Calibration in a real browser: open the health-model editor, suggest from history, read the
validation, publish, and see the portfolio change."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.health import models as health_models
from tests.browser.conftest import open_signed_in
from tests.churn_book import load_churn_book
from tests.conftest import DatabaseFactory
from tests.views.data import ADMIN, PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(
        locale="en-US", timezone_id="Asia/Tokyo", viewport={"width": 1360, "height": 900}
    )
    yield ctx
    ctx.close()


@pytest.fixture
def churn(databases: DatabaseFactory, engine: Engine) -> int:
    databases.load(engine, load_churn_book)
    with Session(engine) as session:
        return next(m.id for m in health_models.list_models(session) if m.preset == "abc") or 0


def _scores(page: Any) -> list[tuple[str, str]]:
    """Each row's score and band, in name order."""
    rows = page.locator("table.portfolio tbody tr")
    return list(
        zip(
            rows.locator("td:nth-child(2)").all_inner_texts(),
            rows.locator("td:nth-child(3)").all_inner_texts(),
            strict=True,
        )
    )


def test_suggest_read_publish_and_see_the_portfolio_change(
    context: Any, live_server: str, churn: int, screenshot: Callable[[Any, str], Any]
) -> None:
    page, problems = open_signed_in(context, f"{live_server}/?sort=name", ADMIN, PASSWORD, r"/\?sort=name$")
    before = _scores(page)
    assert len(before) >= 20

    page.goto(f"{live_server}/settings/health/{churn}/edit")
    page.select_option("#horizon_days", "90")
    page.click("#suggest button[type=submit]")
    panel = page.locator("#calibration")
    expect(panel).to_be_visible(timeout=60_000)
    expect(page.locator("#calibration-protocol")).to_contain_text("Churn within 90 days")
    expect(page.locator("#calibration-protocol")).to_contain_text("which the fit never saw")
    expect(page.locator("#calibration-summary")).to_contain_text("AUC (95% interval)")
    expect(page.locator("#calibration-horizons tbody tr")).to_have_count(4)
    expect(page.locator("#calibration .chart rect.bar-1")).not_to_have_count(0)
    expect(page.locator("#calibration")).to_contain_text("Nothing is published until you press Publish")
    screenshot(page, "calibration")

    page.click("#health-editor button.primary")
    page.wait_for_url(re.compile(r"/settings/health\?published=\d+"))

    page.goto(f"{live_server}/?sort=name")
    after = _scores(page)
    assert len(after) == len(before)
    assert after != before  # the new version's scores or bands, at once (not at the next run)
    assert problems == []
