"""Sending a CSM's adoption summary: at least one recipient, once per send key (also when two
requests with the same key race), and the mail settings' default (no server: emails wait)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from app.config import ConfigError, Settings, load_settings
from app.db import session_scope
from app.errors import InvalidInput
from app.models import AdoptionReport, Outbox
from app.reports import service as reports
from tests.builders import AS_OF, make_account, make_contact


def _acme(engine: Engine) -> int:
    with session_scope(engine) as session:
        make_account(session, licensed_seats=10)
        champion = make_contact(session, email="yui@acme.example", name="Yui", is_champion=True)
        assert champion.id is not None
        return champion.id


def _send(session: Session, settings: Settings, contact_ids: list[int], key: str = "key-1") -> reports.Sent:
    return reports.send_summary(
        session,
        settings=settings,
        account_id="acme",
        start=None,
        end=None,
        language="ja",
        message=None,
        contact_ids=contact_ids,
        send_key=key,
        actor="csm@example.com",
        now=AS_OF,
    )


def test_a_send_key_sends_once(engine: Engine, settings: Settings) -> None:
    champion = _acme(engine)
    with session_scope(engine) as session:
        with pytest.raises(InvalidInput) as nobody:
            _send(session, settings, [])
        assert nobody.value.errors[0].field == "contact_ids"
        first = _send(session, settings, [champion])
    with session_scope(engine) as session:
        again = _send(session, settings, [champion])
        other = _send(session, settings, [champion], key="key-2")
    assert first.first and not again.first and other.first
    assert again.report.id == first.report.id and other.report.id != first.report.id
    with Session(engine) as session:
        assert len(session.exec(select(Outbox)).all()) == 2


def test_a_racing_double_submit_keeps_the_first(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second request did not see the first's report when it looked (both were still in
    flight); the unique key refuses its insert, and it answers with the first one's report."""
    champion = _acme(engine)
    with session_scope(engine) as session:
        first = _send(session, settings, [champion])
    looked_up: list[str] = []
    real_find = reports.find_by_key

    def not_yet(session: Session, dedupe_key: str) -> AdoptionReport | None:
        looked_up.append(dedupe_key)
        return None if len(looked_up) == 1 else real_find(session, dedupe_key)

    monkeypatch.setattr(reports, "find_by_key", not_yet)
    with session_scope(engine) as session:
        late = _send(session, settings, [champion])
        assert not late.first and late.report.id == first.report.id
    assert looked_up == ["web:acme:key-1", "web:acme:key-1"]
    with Session(engine) as session:
        assert len(session.exec(select(AdoptionReport)).all()) == 1
        assert len(session.exec(select(Outbox)).all()) == 1


def test_no_mail_server_by_default(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("BANSOU_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(str(tmp_path))
    assert load_settings().smtp_url == ""
    assert load_settings(smtp_url="smtps://u:p@mail.example:465").smtp_url.startswith("smtps://")
    with pytest.raises(ConfigError, match="BANSOU_SMTP_URL"):
        load_settings(smtp_url="mail.example:25")
    # What the scheduler could not use is refused at start-up, not at the first send.
    for bad in ("smtp://", "smtp://mail.example:port", "http://mail.example"):
        with pytest.raises(ConfigError, match="BANSOU_SMTP_URL"):
            load_settings(smtp_url=bad)
    assert load_settings(smtp_url="none").smtp_url == "none"
