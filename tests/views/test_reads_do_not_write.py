"""Signed-in pages read without writing: they load while another connection holds the write
lock (a browser session's last request is noted in memory and stored later)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.config import Settings
from tests.helpers import short_waits, write_lock_held
from tests.views.conftest import HTML, sign_in
from tests.views.data import CSM, Book


def test_pages_load_while_another_connection_holds_the_write_lock(
    settings: Settings, db_url: str, book: Book
) -> None:
    app = short_waits(settings)
    with TestClient(app, raise_server_exceptions=False) as browser:
        sign_in(browser, CSM)
        browser.get("/", headers=HTML)  # the session's first request after sign-in is noted
        with write_lock_held(db_url):
            responses = [browser.get(path, headers=HTML) for path in ("/", "/accounts/acme")]
        assert [r.status_code for r in responses] == [200, 200]
        assert 'name="csrf_token"' in responses[1].text  # signed in, not the sign-in page
