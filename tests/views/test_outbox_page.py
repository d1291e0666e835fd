"""The outbox page (admins): emails readable with no SMTP server, failed ones sent again."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.db import session_scope
from app.email import outbox
from tests.builders import AS_OF
from tests.views.conftest import HTML, csrf


def _queue(engine: Engine) -> int:
    with session_scope(engine) as session:
        row = outbox.enqueue(session, kind="other", to="yui@customer.example",
                             subject="Hello <there>", text="plain words", html="<p>html words</p>",
                             mail_from="b@example.com", now=AS_OF)
        assert row is not None and row.id is not None
        claimed = outbox.claim(session, now=AS_OF)
        assert claimed is not None
        outbox.mark_failed(session, claimed, error="550 5.1.1 no such user", now=AS_OF)
        return row.id


def test_admin_reads_and_retries_a_failed_email(engine: Engine, admin: TestClient) -> None:
    row_id = _queue(engine)
    page = admin.get("/outbox?state=failed", headers=HTML)
    assert page.status_code == 200
    assert page.template.name == "outbox/index.html"  # type: ignore[attr-defined]
    assert "Hello &lt;there&gt;" in page.text and "550 5.1.1 no such user" in page.text
    detail = admin.get(f"/outbox/{row_id}", headers=HTML)
    assert detail.status_code == 200 and "plain words" in detail.text
    assert 'sandbox=""' in detail.text and "&lt;p&gt;html words&lt;/p&gt;" in detail.text
    again = admin.post(f"/outbox/{row_id}/retry", headers=HTML, follow_redirects=False,
                       data={"csrf_token": csrf(admin, f"/outbox/{row_id}")})
    assert again.status_code == 303
    with session_scope(engine) as session:
        assert outbox.get(session, row_id).state == "queued"


def test_csms_cannot_see_the_outbox(engine: Engine, csm: TestClient) -> None:
    _queue(engine)
    assert csm.get("/outbox", headers=HTML).status_code == 403
