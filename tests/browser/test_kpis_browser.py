"""The KPI dashboard in a real browser: filters swap the results in place and keep the URL."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import open_signed_in
from tests.views.data import CSM, PASSWORD, Book

pytestmark = pytest.mark.browser


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(
        locale="en-US", timezone_id="Asia/Tokyo", viewport={"width": 1360, "height": 900}
    )
    yield ctx
    ctx.close()


def test_filter_the_kpis_in_place_and_go_back(
    context: Any, live_server: str, book: Book, screenshot: Callable[[Any, str], Any]
) -> None:
    page, problems = open_signed_in(context, f"{live_server}/kpis", CSM, PASSWORD, r"/kpis$")
    summary = page.locator("#results .summary")
    expect(summary).to_contain_text("5 accounts")
    expect(page.locator("#kpi-nps .score-big")).to_have_text("+100.0")
    screenshot(page, "kpis")
    # Swapped in place: the form (outside the results) stays the same element.
    page.evaluate("document.querySelector('form.filters').dataset.marker = 'kept'")

    page.select_option("#kpi-segment", "enterprise")
    page.wait_for_url(re.compile(r"/kpis\?segment=enterprise$"))
    expect(summary).to_contain_text("2 accounts")
    page.select_option("#kpi-period", "2026-10")
    page.wait_for_url(re.compile(r"period=2026-10&segment=enterprise"))
    expect(page.locator("#kpi-nps .score-big")).to_have_text("—")
    assert page.evaluate("document.querySelector('form.filters').dataset.marker") == "kept"

    page.go_back()
    page.wait_for_url(re.compile(r"/kpis\?segment=enterprise$"))
    expect(page.locator("#kpi-nps .score-big")).to_have_text("+100.0")
    assert problems == []
