"""Snapshots written in bulk hold exactly the scores and explanations computed."""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, select

from app.health import models as health_models
from app.health import reading as health_reading
from app.health import score_queue
from app.health import scores as health_scores
from app.health import snapshots as health_snapshots
from app.ingest.rollups import UsageRow, add_usage
from app.models import ScoreSnapshot
from tests.builders import AS_OF, make_account, make_interaction
from tests.conftest import ENGINE

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
    _, version = health_models.adopt_preset(session, preset="abc", now=AS_OF)
    assert version.id is not None
    spec = health_models.parse_definition(version.definition)
    scored = health_scores.score_accounts(session, spec=spec, as_of=TODAY, tz=TZ)

    for written_at in (AS_OF, AS_OF + dt.timedelta(hours=1)):  # written, then replaced
        assert health_snapshots.write_snapshots(session, version_id=version.id, day=TODAY, scored=scored,
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
            rebuilt = health_reading.stored_explanation(session, row)
            assert rebuilt == s.explanation
            assert orjson.dumps(rebuilt) == orjson.dumps(s.explanation)
            assert row.day == TODAY and row.computed_at == written_at
    assert len({s.result.score for s in scored}) > 1


def test_scheduled_scoring_computes_without_the_write_lock_and_keeps_marks_made_meanwhile(
    session: Session, engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The jobs score on a read snapshot and store in a short write transaction: while scores
    are computed another writer is not kept waiting (SQLite: not even for a moment), and an
    account whose data changes meanwhile stays marked, so its change is scored next time."""
    accounts = [make_account(session, id=f"acct-{i}", name=f"Account {i}") for i in range(3)]
    ids = [a.id for a in accounts if a.id is not None]
    health_models.adopt_preset(session, preset="abc", now=AS_OF)
    score_queue.mark_dirty(session, ids, AS_OF)
    session.commit()
    real = health_snapshots.score_accounts
    wrote_meanwhile: list[bool] = []

    def computing(*args: Any, **kwargs: Any) -> Any:
        if not wrote_meanwhile:  # another writer changes account 0 while scores are computed
            if ENGINE == "sqlite":
                path = make_url(db_url).database
                other = sqlite3.connect(str(path), timeout=0, isolation_level=None)
                try:
                    other.execute("BEGIN IMMEDIATE")  # fails at once if the lock were held
                    other.execute(
                        "UPDATE score_dirty SET since = ? WHERE account_id = ?",
                        ("2026-11-23 10:00:00.000000", ids[0]),
                    )
                    other.execute("COMMIT")
                finally:
                    other.close()
            else:
                with Session(engine) as other_session:
                    score_queue.mark_dirty(other_session, [ids[0]], AS_OF + dt.timedelta(hours=1))
                    other_session.commit()
            wrote_meanwhile.append(True)
        return real(*args, **kwargs)

    monkeypatch.setattr(health_snapshots, "score_accounts", computing)

    written = health_snapshots.score_and_store(engine, as_of=TODAY, tz=TZ, now=AS_OF)

    assert wrote_meanwhile and sum(written.values()) == 3
    with Session(engine) as check:
        assert score_queue.dirty_accounts(check) == [ids[0]]
        assert len(check.exec(select(ScoreSnapshot)).all()) == 3
