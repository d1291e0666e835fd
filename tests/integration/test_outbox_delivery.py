"""The outbox's order, pace and recovery over a real SMTP server (aiosmtpd on a loopback port):
a person's email first, the rate per minute, a crash delaying only the message in flight (and
re-sending it at most once, with the same Message-ID), the queue draining once the server is
back, automated emails never delivered after their deadline, and *Send now* delivered right
after the request."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from app.config import Settings
from app.db import session_scope
from app.email import outbox
from app.main import create_app
from tests.api.test_reports_api import seed
from tests.builders import AS_OF
from tests.integration.test_smtp_outbox import NOW, Catcher, free_port, queue, smtp, smtp_settings, state

__all__ = ["smtp"]  # the fixture, shared with the SMTP outbox tests

SECOND = dt.timedelta(seconds=1)


def _to(catcher: Catcher) -> list[str]:
    return [str(m["To"]) for m in catcher.messages]


def test_a_persons_email_goes_before_bulk_mail_within_the_rate(
    engine: Engine, settings: Settings, smtp: tuple[Catcher, int]
) -> None:
    catcher, port = smtp
    for i in range(25):
        queue(engine, to=f"bulk{i}@customer.example")
    queue(engine, to="asked@customer.example", priority=outbox.PRIORITY_PERSON)  # the newest
    mail = smtp_settings(settings, port)
    assert outbox.send_due(engine, settings=mail, now=NOW).sent == 20
    assert _to(catcher)[0] == "asked@customer.example"
    assert _to(catcher)[1:3] == ["bulk0@customer.example", "bulk1@customer.example"]
    # The rate counts the last minute, whoever sent: the same minute sends nothing more.
    assert outbox.send_due(engine, settings=mail, now=NOW + 30 * SECOND).claimed == 0
    assert outbox.send_due(engine, settings=mail, now=NOW + 61 * SECOND).sent == 6


def test_the_rate_is_a_setting(engine: Engine, settings: Settings, smtp: tuple[Catcher, int]) -> None:
    catcher, port = smtp
    for i in range(8):
        queue(engine, to=f"bulk{i}@customer.example")
    slow = smtp_settings(settings, port, outbox_rate_per_minute=5)
    assert outbox.send_due(engine, settings=slow, now=NOW).sent == 5
    assert outbox.send_due(engine, settings=slow, now=NOW + 61 * SECOND).sent == 3
    assert len(catcher.messages) == 8


def test_a_sender_that_died_holding_a_claim_delays_only_that_message(
    engine: Engine, settings: Settings, smtp: tuple[Catcher, int]
) -> None:
    catcher, port = smtp
    ids = [queue(engine, to=f"u{i}@customer.example") for i in range(3)]
    with session_scope(engine) as session:  # a process claims the oldest, then dies
        lost = outbox.claim(session, now=NOW)
    assert lost is not None and lost.id == ids[0]
    mail = smtp_settings(settings, port)
    # The others are not held back by the dead sender's claim.
    assert outbox.send_due(engine, settings=mail, now=NOW + SECOND).sent == 2
    assert _to(catcher) == ["u1@customer.example", "u2@customer.example"]
    # The lost one waits out its short lease only, then goes once.
    late = NOW + dt.timedelta(minutes=1)
    assert outbox.send_due(engine, settings=mail, now=NOW + outbox.LEASE - SECOND).claimed == 0
    assert outbox.send_due(engine, settings=mail, now=late + outbox.LEASE).sent == 1
    assert _to(catcher)[-1] == "u0@customer.example" and len(catcher.messages) == 3
    assert catcher.messages[-1]["Message-ID"] == lost.message_id
    assert dt.timedelta(minutes=2) >= outbox.LEASE


class Crash(BaseException):
    """The process dies (no handler runs: not an Exception)."""


def test_a_crash_after_the_server_accepted_makes_at_most_one_duplicate_with_the_same_id(
    engine: Engine, settings: Settings, smtp: tuple[Catcher, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    catcher, port = smtp
    ids = [queue(engine, to=f"u{i}@customer.example") for i in range(3)]
    mail = smtp_settings(settings, port)
    real_mark = outbox.mark_sent
    marks: list[int] = []

    def crash_on_the_second(session: object, row: outbox.Outbox, *, now: dt.datetime) -> bool:
        marks.append(row.id or 0)
        if len(marks) == 2:
            raise Crash  # after the server accepted u1, before its row was marked sent
        return real_mark(session, row, now=now)  # type: ignore[arg-type]

    monkeypatch.setattr(outbox, "mark_sent", crash_on_the_second)
    with pytest.raises(Crash):
        outbox.send_due(engine, settings=mail, now=NOW)
    monkeypatch.setattr(outbox, "mark_sent", real_mark)
    assert [state(engine, i).state for i in ids] == ["sent", "sending", "queued"]
    # Another run right after: the one after the crash goes, the one in flight waits its lease.
    assert outbox.send_due(engine, settings=mail, now=NOW + SECOND).sent == 1
    assert outbox.send_due(engine, settings=mail, now=NOW + outbox.LEASE + SECOND).sent == 1
    assert outbox.send_due(engine, settings=mail, now=NOW + 10 * outbox.LEASE).claimed == 0
    received = [(str(m["To"]), m["Message-ID"]) for m in catcher.messages]
    in_flight = state(engine, ids[1])
    assert in_flight.state == "sent"
    assert received.count(("u1@customer.example", in_flight.message_id)) == 2  # one duplicate
    assert sorted(set(received)) == sorted(
        (f"u{i}@customer.example", state(engine, row_id).message_id) for i, row_id in enumerate(ids)
    )
    assert len(received) == 4


def test_after_an_outage_the_queue_drains_within_the_outage_retry_time(
    engine: Engine, settings: Settings
) -> None:
    ids = [queue(engine, to=f"u{i}@customer.example") for i in range(10)]
    port = free_port()  # nothing listens: the server is down
    mail = smtp_settings(settings, port)
    now = NOW
    for _ in range(36):  # six hours down, a run every ten minutes
        down = outbox.send_due(engine, settings=mail, now=now)
        assert down.unavailable and down.claimed == 1  # one probe; the rest are not tried
        now += dt.timedelta(minutes=10)
    catcher = Catcher()
    controller = Controller(catcher, hostname="127.0.0.1", port=port)
    controller.start()  # the server is back at `now`
    try:
        drained = outbox.send_due(
            engine, settings=mail, now=now + dt.timedelta(seconds=settings.outbox_outage_retry_seconds)
        )
    finally:
        controller.stop()
    assert drained.sent == 10 and len(catcher.messages) == 10
    assert {state(engine, i).state for i in ids} == {"sent"}
    assert max(state(engine, i).attempts for i in ids) == 1  # the outage counted no attempt


def test_a_421_answer_is_an_outage_the_run_stops_and_the_try_is_not_counted(
    engine: Engine, settings: Settings, smtp: tuple[Catcher, int]
) -> None:
    catcher, port = smtp
    closing = queue(engine, to="closing@customer.example")
    waiting = queue(engine, to="u1@customer.example")
    result = outbox.send_due(engine, settings=smtp_settings(settings, port), now=NOW)
    assert result.unavailable and result.claimed == 1 and catcher.messages == []
    row = state(engine, closing)
    assert row.state == "queued" and row.attempts == 0 and (row.last_error or "").startswith("421")
    assert state(engine, waiting).attempts == 0  # not tried while the server was closing


def test_an_automated_email_is_not_delivered_after_its_deadline(engine: Engine, settings: Settings) -> None:
    person = queue(engine, to="asked@customer.example", priority=outbox.PRIORITY_PERSON)
    checkin = queue(engine, to="champion@customer.example", send_by=NOW + dt.timedelta(hours=1))
    port = free_port()
    mail = smtp_settings(settings, port)
    for minutes in (0, 30):
        assert outbox.send_due(engine, settings=mail, now=NOW + dt.timedelta(minutes=minutes)).unavailable
    catcher = Catcher()
    controller = Controller(catcher, hostname="127.0.0.1", port=port)
    controller.start()  # back after the check-in's window ended
    try:
        after = outbox.send_due(engine, settings=mail, now=NOW + dt.timedelta(hours=2))
    finally:
        controller.stop()
    assert after.expired == 1 and after.sent == 1
    assert _to(catcher) == ["asked@customer.example"]
    late = state(engine, checkin)
    assert late.state == "failed" and "deadline" in (late.last_error or "")
    assert state(engine, person).state == "sent"


def test_send_now_is_delivered_right_after_the_request_before_bulk_mail(
    engine: Engine,
    settings: Settings,
    smtp: tuple[Catcher, int],
    auth: Callable[[str], dict[str, str]],
) -> None:
    catcher, port = smtp
    champion = seed(engine)
    for i in range(3):
        queue(engine, to=f"bulk{i}@customer.example")
    app = create_app(smtp_settings(settings, port))
    app.state.clock = lambda: AS_OF
    with TestClient(app) as client:
        made = client.post(
            "/api/v1/accounts/acme/adoption-reports",
            headers=auth("write"),
            json={"language": "en", "contact_ids": [champion]},
        )
        assert made.status_code == 201, made.text
        # Delivered once the response was out, without the sender job; bulk mail waits for it.
        assert _to(catcher) == ["yui@acme.example"]
        again = client.post(
            "/api/v1/accounts/acme/adoption-reports",
            headers=auth("write"),
            json={"language": "en"},  # no recipients: nothing to deliver
        )
        assert again.status_code == 201 and len(catcher.messages) == 1


class HoldsTheFirstAnswer(Catcher):
    """Keeps the first message, then holds back its "250" (the sender is killed meanwhile)."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = True

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        if self.hold:
            self.hold = False
            await asyncio.sleep(20)
        return answer


SENDER = """
import datetime as dt, sys
from app.config import Settings
from app.db import make_engine
from app.email import outbox
settings = Settings(env="test", database_url=sys.argv[1], secret_key="test-secret-key-0123456789",
                    smtp_url=sys.argv[2], mail_from="Bansō <bansou@example.com>")
outbox.send_due(make_engine(sys.argv[1]), settings=settings,
                now=dt.datetime.fromisoformat(sys.argv[3]))
"""


def test_a_sender_killed_during_delivery_resends_once_with_the_same_message_id(
    engine: Engine, settings: Settings, db_url: str
) -> None:
    ids = [queue(engine, to=f"u{i}@customer.example") for i in range(2)]
    catcher = HoldsTheFirstAnswer()
    port = free_port()
    controller = Controller(catcher, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        url = f"smtp://127.0.0.1:{port}"
        sender = subprocess.Popen(
            [sys.executable, "-c", SENDER, db_url, url, NOW.isoformat()],
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )
        deadline = time.monotonic() + 30
        while not catcher.messages and time.monotonic() < deadline:
            time.sleep(0.05)
        assert catcher.messages, "the sender delivered nothing"
        sender.send_signal(signal.SIGKILL)  # the server has the message; the sender dies
        sender.wait(timeout=10)
        assert [state(engine, i).state for i in ids] == ["sending", "queued"]
        mail = smtp_settings(settings, port)
        # The other message is not held back; the one in flight waits out its lease, then goes
        # once more, with the same Message-ID.
        assert outbox.send_due(engine, settings=mail, now=NOW + SECOND).sent == 1
        assert outbox.send_due(engine, settings=mail, now=NOW + outbox.LEASE + SECOND).sent == 1
        assert outbox.send_due(engine, settings=mail, now=NOW + 10 * outbox.LEASE).claimed == 0
    finally:
        controller.stop()
    in_flight = state(engine, ids[0])
    received = [(str(m["To"]), m["Message-ID"]) for m in catcher.messages]
    assert received.count(("u0@customer.example", in_flight.message_id)) == 2
    assert received.count(("u1@customer.example", state(engine, ids[1]).message_id)) == 1
    assert len(received) == 3 and in_flight.state == "sent"
