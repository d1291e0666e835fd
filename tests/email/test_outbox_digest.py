"""The Monday digest: each CSM's weekly list queued to the outbox once per CSM and week."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app.config import Settings
from app.db import session_scope
from app.models import Outbox
from app.priorities import digest
from tests.builders import AS_OF, make_account, make_user


def test_digest_once_per_csm_and_week(engine: Engine, settings: Settings) -> None:
    with session_scope(engine) as session:
        make_user(session, email="csm@example.com", name="Aiko")
        make_user(session, email="idle@example.com", name="Idle")
        for ext, name in (("a", "Alpha"), ("b", "Beta")):
            make_account(session, id=ext, name=name, owner="csm@example.com",
                         contract_start_on=dt.date(2025, 1, 1))
    # Monday 06:00 in Tokyo: too early; 18:00 (AS_OF): sent; again, and after a restart: not.
    early = dt.datetime(2026, 11, 22, 21, 0, tzinfo=dt.UTC)
    with session_scope(engine) as session:
        assert digest.send_digests(session, settings=settings, now=early) == 0
    for _ in range(2):
        with session_scope(engine) as session:
            digest.send_digests(session, settings=settings, now=AS_OF)
    with Session(engine) as session:
        (mail,) = session.exec(select(Outbox)).all()
    assert mail.kind == "digest" and mail.to_addr == "csm@example.com"
    assert mail.dedupe_key is not None and mail.dedupe_key.endswith(":2026-W48")
    assert "Alpha" in mail.text_body and "Beta" in mail.text_body
    assert "/week?week=2026-W48" in mail.text_body
    assert mail.html_body is not None and "Alpha" in mail.html_body
    # The next week gets its own digest.
    with session_scope(engine) as session:
        assert digest.send_digests(session, settings=settings,
                                   now=AS_OF + dt.timedelta(days=7)) == 1
