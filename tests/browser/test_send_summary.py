"""Send adoption summary in a real browser: the CSM previews the email (styled, in its sandbox)
and sends it; the admin then reads it in the outbox (no mail server configured)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS
from tests.views.data import ADMIN, CSM, PASSWORD, Book

pytestmark = pytest.mark.browser


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(
        locale="en-US", timezone_id="Asia/Tokyo", viewport={"width": 1360, "height": 900}
    )
    yield ctx
    ctx.close()


def _sign_in(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_preview_send_and_read_it_in_the_outbox(
    context: Any, browser: Any, live_server: str, book: Book, screenshot: Callable[[Any, str], Any]
) -> None:
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    _sign_in(page, live_server, CSM)
    page.goto(f"{live_server}/accounts/acme")
    panel = page.locator("#send-form")
    assert panel.locator("input[name=recipients]:checked").count() == 1  # the champion
    page.locator("#send-report").screenshot(path=str(ARTIFACTS / "send-adoption-summary-panel.png"))
    panel.locator("select[name=language]").select_option("en")
    panel.locator("textarea[name=message]").fill("Thank you for a great October.")
    panel.get_by_role("button", name="Preview the email").click()
    page.wait_for_url(re.compile(r"/accounts/acme/adoption-summary/preview$"))

    frame = page.frame_locator("iframe.email-frame")
    frame.locator("body").get_by_text("Thank you for a great October.").wait_for()
    # The email's inline styles apply inside the sandbox (grey page, white card).
    background = frame.locator("body").evaluate("b => getComputedStyle(b).backgroundColor")
    assert background == "rgb(243, 244, 246)"
    assert page.locator("iframe.email-frame").get_attribute("sandbox") == ""
    subject = page.locator("#email-preview dd").first.inner_text()
    assert subject.startswith("Adoption summary for Acme Corporation")

    # Add the second contact and update the preview in place (htmx): the To line follows.
    page.locator("#compose input[name=recipients]").nth(1).check()
    page.get_by_role("button", name="Update preview").click()
    page.locator("#email-preview").get_by_text("aya@acme.example").wait_for()
    screenshot(page, "send-adoption-summary-preview")

    page.get_by_role("button", name="Send now").click()
    page.wait_for_url(re.compile(r"/accounts/acme\?sent=\d+#send-report"))
    notice = page.locator("#send-report .notice-ok").inner_text()
    assert "taro@acme.example" in notice and "aya@acme.example" in notice
    assert subject in page.locator("#timeline").inner_text()
    assert page.locator("#send-report .recent-summaries li").count() == 1
    page.locator("#send-report").screenshot(path=str(ARTIFACTS / "send-adoption-summary-sent.png"))
    assert problems == []

    admin = browser.new_context(locale="en-US", timezone_id="Asia/Tokyo")
    try:
        outbox = admin.new_page()
        _sign_in(outbox, live_server, ADMIN)
        outbox.goto(f"{live_server}/outbox")
        rows = outbox.locator("#messages tbody tr")
        assert rows.count() == 2 and "No mail server is configured" in outbox.inner_text("main")
        outbox.get_by_role("link", name=subject).first.click()
        outbox.wait_for_url(re.compile(r"/outbox/\d+$"))
        assert "/r/" in outbox.locator("pre").inner_text()  # the real link, made at send
        screenshot(outbox, "outbox-adoption-summary")
    finally:
        admin.close()
