"""The CSM's day in a real browser: sign in, portfolio, account, meeting notes, success plan,
Japanese, CSRF. Screenshots of the main pages go to ``test-artifacts/screenshots``."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.views.data import ADMIN, CSM, PASSWORD, Book

pytestmark = pytest.mark.browser


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(locale="en-US", timezone_id="Asia/Tokyo",
                              viewport={"width": 1360, "height": 900})
    yield ctx
    ctx.close()


def _watch(page: Any) -> list[str]:
    """Console errors and CSP violations on the page (there must be none)."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


def _sign_in(page: Any, base: str, email: str = CSM) -> None:
    page.goto(f"{base}/")
    page.wait_for_url(re.compile(r"/login"))
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_sign_in_filter_the_portfolio_and_open_an_account(
    context: Any, live_server: str, book: Book, screenshot: Callable[[Any, str], Any]
) -> None:
    page = context.new_page()
    problems = _watch(page)
    _sign_in(page, live_server)
    rows = page.locator("table.portfolio tbody tr")
    assert rows.count() == 2  # a CSM starts on their own accounts
    screenshot(page, "portfolio")

    page.select_option("#owner", "all")
    page.wait_for_url(re.compile(r"owner=all"))
    expect(rows).to_have_count(5)
    page.fill("#q", "glob")
    page.wait_for_url(re.compile(r"q=glob"))
    expect(rows).to_have_count(1)
    assert "Globex Retail" in page.locator("table.portfolio").inner_text()

    page.go_back()
    page.wait_for_url(re.compile(r"owner=all$"))
    expect(rows).to_have_count(5)

    page.select_option("#view", "heatmap")
    page.wait_for_selector("table.heatmap")
    assert page.locator("table.heatmap td.cell").count() > 0
    screenshot(page, "heatmap")

    page.select_option("#view", "table")
    page.wait_for_selector("table.portfolio")
    page.click("text=Acme Corporation")
    page.wait_for_url(f"{live_server}/accounts/acme")
    assert page.locator("#health .score-big").is_visible()
    assert page.locator("#health svg polyline").count() == 1
    screenshot(page, "account")
    assert problems == []


def test_log_a_meeting_with_markdown_notes_and_see_it_in_the_timeline(
    context: Any, live_server: str, book: Book
) -> None:
    page = context.new_page()
    problems = _watch(page)
    _sign_in(page, live_server)
    page.goto(f"{live_server}/accounts/acme")
    page.check("text=Yamada Taro")
    page.fill("#notes", "Agreed on **SSO rollout**.\n\n<script>window.pwned = 1</script>\n\n- train admins")
    page.select_option("#onboarding_topic", "admin_setup")
    page.click("#meeting-form button[type=submit]")
    page.wait_for_selector("#meeting-form .notice-ok")

    first = page.locator("#timeline li.event").first
    first.wait_for()
    notes = first.locator(".notes")
    assert notes.locator("strong").inner_text() == "SSO rollout"
    assert "<script>window.pwned = 1</script>" in notes.inner_text()  # shown as text
    assert page.evaluate("window.pwned") is None
    assert "Yamada Taro" in first.inner_text()
    assert page.locator("#notes").input_value() == ""  # a fresh form
    assert problems == []


def test_a_missing_date_is_refused_inline(context: Any, live_server: str, book: Book) -> None:
    page = context.new_page()
    _sign_in(page, live_server)
    page.goto(f"{live_server}/accounts/acme")
    page.fill("#occurred_at", "")
    page.eval_on_selector("#occurred_at", "el => el.removeAttribute('required')")
    page.click("#meeting-form button[type=submit]")
    page.wait_for_selector("#err-occurred_at")
    assert page.locator("#occurred_at").get_attribute("aria-invalid") == "true"


def test_edit_a_goal_and_it_persists_after_reload(
    context: Any, live_server: str, book: Book, screenshot: Callable[[Any, str], Any]
) -> None:
    page = context.new_page()
    _sign_in(page, live_server)
    page.goto(f"{live_server}/accounts/acme")
    goal = page.locator(f"#goal-{book.goal_ids[0]}")
    goal.locator("summary").click()
    goal.locator("select[name=status]").select_option("on_track")
    goal.locator("input[name=current_value]").fill("150")
    goal.locator("button", has_text="Save goal").click()
    expect(page.locator(f"#goal-{book.goal_ids[0]} progress")).to_have_attribute("value", "75")

    page.reload()
    goal = page.locator(f"#goal-{book.goal_ids[0]}")
    assert "on track" in goal.locator(".goal-head").inner_text()
    assert goal.locator("progress").get_attribute("value") == "75"

    steps = page.locator(f"#goal-{book.goal_ids[1]} .step-form")
    steps.first.locator("button").click()
    page.wait_for_selector(f"#goal-{book.goal_ids[1]} .step-form .done")
    screenshot(page, "success-plan")


def test_a_stale_goal_edit_from_a_second_tab_gets_the_conflict_message(
    context: Any, live_server: str, book: Book
) -> None:
    first = context.new_page()
    _sign_in(first, live_server)
    first.goto(f"{live_server}/accounts/acme")
    second = context.new_page()
    second.goto(f"{live_server}/accounts/acme")
    goal_id = book.goal_ids[0]

    for page, value in ((first, "120"), (second, "130")):
        goal = page.locator(f"#goal-{goal_id}")
        goal.locator("summary").click()
        goal.locator("input[name=current_value]").fill(value)
    first.locator(f"#goal-{goal_id} button", has_text="Save goal").click()
    expect(first.locator(f"#goal-{goal_id} progress")).to_have_attribute("value", "60")

    second.locator(f"#goal-{goal_id} button", has_text="Save goal").click()
    notice = second.locator(f"#goal-{goal_id} .notice-warn")
    notice.wait_for()
    assert "Changed by Sato Kenta meanwhile" in notice.inner_text()
    assert second.locator(f"#goal-{goal_id} progress").get_attribute("value") == "60"

    second.reload()
    assert second.locator(f"#goal-{goal_id} input[name=current_value]").input_value() == "120.0"


def test_switch_to_japanese(context: Any, live_server: str, book: Book,
                            screenshot: Callable[[Any, str], Any]) -> None:
    page = context.new_page()
    _sign_in(page, live_server)
    assert page.locator("h1").inner_text() == "Portfolio"
    page.click("button[lang=ja]")
    page.wait_for_selector("h1:text('ポートフォリオ')")
    assert page.locator("html").get_attribute("lang") == "ja"
    assert "更新日" in page.locator("table.portfolio thead").inner_text()
    screenshot(page, "portfolio-ja")
    page.goto(f"{live_server}/accounts/acme")
    assert page.locator("#timeline-title").inner_text() == "タイムライン"
    assert "￥36,000,000" in page.locator(".account-head").inner_text()
    screenshot(page, "account-ja")


def test_a_form_posted_without_the_csrf_token_is_refused(
    context: Any, live_server: str, book: Book
) -> None:
    page = context.new_page()
    _sign_in(page, live_server, ADMIN)
    page.goto(f"{live_server}/accounts/acme")
    page.eval_on_selector_all("input[name=csrf_token]", "els => els.forEach(e => e.remove())")
    page.eval_on_selector("#meeting-form form", "f => { f.removeAttribute('hx-post'); }")
    page.eval_on_selector("body", "b => b.removeAttribute('hx-headers')")
    page.fill("#notes", "forged")
    with page.expect_navigation():
        page.evaluate("document.querySelector('#meeting-form form').submit()")
    assert page.locator("h1").inner_text() == "Not permitted"

    page.goto(f"{live_server}/accounts/acme")
    assert "forged" not in page.locator("#timeline").inner_text()
