"""An adoption summary and a check-in, end to end: API → outbox → real SMTP (aiosmtpd) → the
links in the received message open working pages."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app.config import Settings
from app.db import session_scope
from app.email import outbox
from app.models import Interaction, Outbox
from app.reports import checkins
from app.reports import service as reports
from tests.api.test_reports_api import CHECKIN_AT, seed
from tests.builders import AS_OF
from tests.integration.test_smtp_outbox import Catcher, free_port

Headers = dict[str, str]


@pytest.fixture
def smtp() -> Iterator[tuple[Catcher, str]]:
    catcher = Catcher()
    port = free_port()
    controller = Controller(catcher, hostname="127.0.0.1", port=port)
    controller.start()
    yield catcher, f"smtp://127.0.0.1:{port}"
    controller.stop()


def _path(url: str, prefix: str) -> str:
    return prefix + url.rsplit(prefix, 1)[1]


def test_report_arrives_and_its_link_opens(
    client: TestClient, engine: Engine, settings: Settings, auth: Callable[[str], Headers],
    smtp: tuple[Catcher, str],
) -> None:
    catcher, url = smtp
    champion = seed(engine)
    with session_scope(engine) as session:
        preview = reports.preview_report(
            session, settings=settings, account_id="acme", start=None, end=None, language="en",
            message="Thanks for a great month", now=AS_OF)
    r = client.post("/api/v1/accounts/acme/adoption-reports", headers=auth("write"), json={
        "language": "en", "message": "Thanks for a great month", "contact_ids": [champion]})
    assert r.status_code == 201, r.text
    sent = outbox.send_due(engine, settings=settings.model_copy(update={"smtp_url": url}),
                           now=AS_OF)
    assert sent.sent == 1
    (message,) = catcher.messages
    assert isinstance(message, EmailMessage)
    assert message["To"] == "yui@acme.example" and message["Subject"] == preview.subject
    assert message["From"] == settings.mail_from and message["Date"] and message["Message-ID"]
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    text_body = text.get_content().replace("\r\n", "\n")
    html_body = html.get_content()
    assert "Thanks for a great month" in text_body and "Active users: 3 / 50 (6%)" in text_body
    # The preview is what was sent, but for the link (unknown until the report is saved).
    link = r.json()["link"]
    assert text_body.replace(link, "") == preview.text.replace(
        f"{settings.base_url}/r/…", "")
    assert f'href="{link}"' in html_body
    page = client.get(_path(link, "/r/"))
    assert page.status_code == 200 and "Adoption summary" in page.text
    with Session(engine) as session:
        (row,) = session.exec(select(Outbox)).all()
        (timeline,) = session.exec(select(Interaction).where(Interaction.type == "email_sent"))
    assert row.state == "sent" and row.message_id == message["Message-ID"]
    assert timeline.data["adoption_report_id"] == r.json()["id"]


def test_checkin_links_from_the_received_email(
    client: TestClient, engine: Engine, settings: Settings, smtp: tuple[Catcher, str],
) -> None:
    catcher, url = smtp
    seed(engine)
    with session_scope(engine) as session:
        checkins.save_template(session, key="checkin", language="ja", subject="$account_name 様へ",
                               body="$contact_name 様、導入はいかがですか", actor="admin", now=AS_OF)
        assert checkins.send_checkins(session, settings=settings, now=CHECKIN_AT) == 1
    with_smtp = settings.model_copy(update={"smtp_url": url})
    assert outbox.send_due(engine, settings=with_smtp, now=CHECKIN_AT).sent == 1
    (message,) = catcher.messages
    assert message["Subject"] == "Acme 様へ"
    html = message.get_body(("html",))
    assert html is not None
    links = re.findall(r'href="([^"]+/c/[^"]+)"', html.get_content())
    assert len(links) == 3
    # Opening every link (as a mail scanner does) shows confirm pages and records nothing.
    opened = [client.get(_path(link, "/c/")) for link in links]
    assert [a.status_code for a in opened] == [200, 200, 200]
    assert all('<form method="post"' in a.text for a in opened)
    with Session(engine) as session:
        assert session.exec(select(Interaction).where(Interaction.type == "email_reply")).all() == []
    confirmed = [client.post(_path(link, "/c/")) for link in links + links[:1]]
    assert [a.status_code for a in confirmed] == [200, 200, 200, 200]
    with Session(engine) as session:
        replies = session.exec(select(Interaction).where(Interaction.type == "email_reply")).all()
    assert [r.data["answer"] for r in replies] == ["done"]
