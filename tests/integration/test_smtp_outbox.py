"""The outbox over a real SMTP server (aiosmtpd on a loopback port): delivery, retries, failures."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.config import Settings
from app.db import session_scope
from app.email import outbox
from app.models import Outbox

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
FROM = "Bansō <bansou@example.com>"


class Catcher:
    """Keeps every accepted message; refuses recipients whose address starts with ``bounce``."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if address.startswith("bounce"):
            return "550 5.1.1 mailbox unavailable"
        if address.startswith("busy"):
            return "451 4.3.0 try again later"
        if address.startswith("closing"):
            return "421 4.3.2 service shutting down"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def smtp() -> Iterator[tuple[Catcher, int]]:
    catcher = Catcher()
    port = free_port()
    controller = Controller(catcher, hostname="127.0.0.1", port=port)
    controller.start()
    yield catcher, port
    controller.stop()


def smtp_settings(settings: Settings, port: int, **extra: Any) -> Settings:
    """The test's settings, delivering to the loopback server on ``port``."""
    return settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{port}",
                                       "mail_from": FROM, **extra})


def queue(engine: Engine, to: str = "yui@customer.example", **extra: Any) -> int:
    with session_scope(engine) as session:
        row = outbox.enqueue(session, kind="other", to=to, subject="Hello 伴走", text="plain body",
                             html="<p>html body</p>", mail_from=FROM, now=NOW, **extra)
        assert row is not None and row.id is not None
        return row.id


def state(engine: Engine, outbox_id: int) -> Outbox:
    with Session(engine) as session:
        row = session.get(Outbox, outbox_id)
        assert row is not None
        return row


def test_delivers_multipart_with_fixed_message_id(
    engine: Engine, settings: Settings, smtp: tuple[Catcher, int]
) -> None:
    catcher, port = smtp
    row_id = queue(engine)
    result = outbox.send_due(engine, settings=smtp_settings(settings, port), now=NOW)
    assert (result.claimed, result.sent) == (1, 1)
    (message,) = catcher.messages
    row = state(engine, row_id)
    assert row.state == "sent" and row.sent_at == NOW and row.attempts == 1
    assert message["Message-ID"] == row.message_id and row.message_id.endswith("@example.com>")
    assert message["Subject"] == "Hello 伴走" and message["To"] == "yui@customer.example"
    assert message.get_content_type() == "multipart/alternative"
    text_part = message.get_body(("plain",))
    html_part = message.get_body(("html",))
    assert text_part is not None and html_part is not None
    assert text_part.get_content().strip() == "plain body"
    assert html_part.get_content().strip() == "<p>html body</p>"
    # Nothing more to do: a second run sends nothing.
    again = outbox.send_due(engine, settings=smtp_settings(settings, port), now=NOW)
    assert again.claimed == 0 and len(catcher.messages) == 1


def test_smtp_down_keeps_queued_then_delivers_once(engine: Engine, settings: Settings) -> None:
    row_id = queue(engine)
    port = free_port()  # nothing listens here yet
    mail = smtp_settings(settings, port)
    down = outbox.send_due(engine, settings=mail, now=NOW)
    assert down.retrying == 1 and down.unavailable
    row = state(engine, row_id)
    # The server's outage is not the message's fault: the try is not counted.
    assert row.state == "queued" and row.attempts == 0 and row.last_error
    assert row.next_attempt_at == NOW + dt.timedelta(seconds=settings.outbox_outage_retry_seconds)
    # Not due yet: nothing is claimed before the retry time.
    early = outbox.send_due(engine, settings=mail, now=NOW + dt.timedelta(seconds=30))
    assert early.claimed == 0

    catcher = Catcher()
    controller = Controller(catcher, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        later = NOW + dt.timedelta(minutes=2)
        for _ in range(3):
            outbox.send_due(engine, settings=mail, now=later)
    finally:
        controller.stop()
    assert len(catcher.messages) == 1
    row = state(engine, row_id)
    assert row.state == "sent" and row.attempts == 1


def test_4xx_is_retried_and_550_fails_with_the_answer(
    engine: Engine, settings: Settings, smtp: tuple[Catcher, int]
) -> None:
    catcher, port = smtp
    busy = queue(engine, to="busy@customer.example")
    bounce = queue(engine, to="bounce@customer.example")
    result = outbox.send_due(engine, settings=smtp_settings(settings, port), now=NOW)
    assert (result.retrying, result.failed) == (1, 1)
    assert state(engine, busy).state == "queued"
    assert "451" in (state(engine, busy).last_error or "")
    assert state(engine, busy).next_attempt_at == NOW + dt.timedelta(minutes=1)
    failed = state(engine, bounce)
    assert failed.state == "failed" and failed.last_error is not None
    assert failed.last_error.startswith("550") and "mailbox unavailable" in failed.last_error
    assert catcher.messages == []
    # An admin queues it again by hand.
    with session_scope(engine) as session:
        again = outbox.retry(session, outbox_id=bounce, now=NOW)
        assert again.state == "queued" and again.attempts == 0


def test_claims_are_exclusive_and_a_lost_lease_resends_with_the_same_message_id(
    engine: Engine,
) -> None:
    ids = [queue(engine, to=f"u{i}@customer.example") for i in range(3)]
    claimed = []
    for _ in range(3):
        with session_scope(engine) as session:
            row = outbox.claim(session, now=NOW)
            assert row is not None and row.claimed_until == NOW + outbox.LEASE
            claimed.append(row)
    assert [r.id for r in claimed] == ids  # one at a time, oldest first
    with session_scope(engine) as session:
        assert outbox.claim(session, now=NOW) is None
    # The first sender dies after the SMTP server accepted; its lease ends; another takes over.
    lost = claimed[0]
    with session_scope(engine) as session:
        assert outbox.claim(session, now=NOW + outbox.LEASE - dt.timedelta(seconds=1)) is None
    with session_scope(engine) as session:
        retaken = outbox.claim(session, now=NOW + outbox.LEASE + dt.timedelta(seconds=1))
    assert retaken is not None and retaken.id == lost.id
    assert retaken.message_id == lost.message_id and retaken.attempts == 2
    # The dead sender's late mark no longer counts: its claim token is stale.
    with session_scope(engine) as session:
        assert outbox.mark_sent(session, lost, now=NOW) is False
        assert outbox.mark_sent(session, retaken, now=NOW) is True


def test_dedupe_key_queues_once(engine: Engine) -> None:
    assert queue(engine, dedupe_key="digest:1:2026-W48")
    with session_scope(engine) as session:
        assert outbox.enqueue(session, kind="digest", to="x@example.com", subject="s", text="t",
                              html=None, mail_from=FROM, now=NOW,
                              dedupe_key="digest:1:2026-W48") is None


def test_no_smtp_configured_leaves_mail_queued(engine: Engine, settings: Settings) -> None:
    row_id = queue(engine)
    assert settings.smtp_url == ""
    assert outbox.send_due(engine, settings=settings, now=NOW).claimed == 0
    assert state(engine, row_id).state == "queued"


def test_backoff_doubles_up_to_six_hours() -> None:
    assert outbox.backoff(1) == dt.timedelta(minutes=1)
    assert outbox.backoff(5) == dt.timedelta(minutes=16)
    assert outbox.backoff(12) == dt.timedelta(hours=6)


def test_two_senders_at_once_deliver_each_row_once(
    engine: Engine, settings: Settings, smtp: tuple[Catcher, int]
) -> None:
    import threading

    catcher, port = smtp
    ids = {queue(engine, to=f"p{i}@customer.example") for i in range(12)}
    errors: list[BaseException] = []

    def sender() -> None:
        try:
            for _ in range(3):
                outbox.send_due(engine, settings=smtp_settings(settings, port), now=NOW,
                                limit=4)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    received = sorted(str(m["To"]) for m in catcher.messages)
    assert received == sorted(f"p{i}@customer.example" for i in range(12))
    assert {state(engine, i).state for i in ids} == {"sent"}
