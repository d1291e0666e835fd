"""Snapshots written in bulk hold exactly the scores and explanations computed."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import orjson
import pytest
from sqlmodel import Session, select

from app.models import ScoreSnapshot
from app.services import health
from app.services.ingest import UsageRow, add_usage
from tests.builders import AS_OF, make_account, make_interaction

TZ = ZoneInfo("Asia/Tokyo")
TODAY = dt.date(2026, 11, 23)


@pytest.mark.parametrize("accounts", [3, 130])  # PostgreSQL copies more than 100 rows in
def test_written_snapshots_hold_what_was_scored(session: Session, accounts: int) -> None:
    made = []
    for i in range(accounts):
        account = make_account(session, id=f"acct-{i}", name=f"Account {i}", licensed_seats=5 + i % 7)
        assert account.id is not None
        made.append(account)
        add_usage(session, [
            UsageRow(account.id, TODAY - dt.timedelta(days=d), "Report Created", f"{i}-u{d % 3}",
                     AS_OF)
            for d in range(i % 9)
        ], AS_OF)
        if i % 4 == 0:
            make_interaction(session, account=account, type="meeting",
                             occurred_at=AS_OF - dt.timedelta(days=i % 50))
    _, version = health.adopt_preset(session, preset="abc", now=AS_OF)
    assert version.id is not None
    spec = health.parse_definition(version.definition)
    scored = health.score_accounts(session, spec=spec, as_of=TODAY, tz=TZ)

    for written_at in (AS_OF, AS_OF + dt.timedelta(hours=1)):  # written, then replaced
        assert health.write_snapshots(session, version_id=version.id, day=TODAY, scored=scored,
                                      now=written_at) == accounts
        session.commit()
        session.expire_all()

        stored = {s.account_id: s for s in session.exec(select(ScoreSnapshot)).all()}
        assert len(stored) == accounts
        for s in scored:
            row = stored[s.account.id]
            assert (row.score, row.band, row.status) == (s.result.score, s.result.band, s.status)
            assert (row.score, row.band) == (s.score, s.band)
            assert row.measure_values == list(s.values)
            # The explanation is rebuilt from the version's definition and the stored values:
            # exactly the scorer's, down to the JSON text.
            rebuilt = health.stored_explanation(session, row)
            assert rebuilt == s.explanation
            assert orjson.dumps(rebuilt) == orjson.dumps(s.explanation)
            assert row.day == TODAY and row.computed_at == written_at
    assert len({s.result.score for s in scored}) > 1
