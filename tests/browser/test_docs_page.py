"""/docs in a real browser: Swagger UI renders from vendored files, offline, within the CSP."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.browser


def test_docs_render_the_accounts_api_without_leaving_the_machine(
    browser: Any, live_server: str
) -> None:
    context = browser.new_context()
    page = context.new_page()
    requests: list[str] = []
    failures: list[str] = []
    console_errors: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on(
        "response",
        lambda r: failures.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda error: console_errors.append(str(error)))
    try:
        response = page.goto(f"{live_server}/docs")
        assert response is not None and response.status == 200

        operation = page.locator('.opblock-summary-path[data-path="/api/v1/accounts"]').first
        operation.wait_for(state="visible", timeout=20_000)
        assert page.locator(".opblock-get").count() > 0
        assert "Banso API" in page.locator(".info .title").inner_text()
        assert "Bansō" in page.locator(".info .description").inner_text()
    finally:
        context.close()

    hosts = {urlsplit(url).hostname for url in requests if not url.startswith(("data:", "blob:"))}
    assert hosts == {"127.0.0.1"}, requests
    assert any(url.endswith("/swagger-ui-bundle.js") for url in requests)
    assert any(url.endswith("/openapi.json") for url in requests)
    # The browser asks for /favicon.ico on its own; there is none, and that is not the page's fault.
    failures = [f for f in failures if not f.endswith("/favicon.ico")]
    assert failures == []
    csp = [e for e in console_errors if "Content Security Policy" in e or "CSP" in e]
    assert csp == []
    others = [e for e in console_errors if not e.startswith("Failed to load resource")]
    assert others == []
