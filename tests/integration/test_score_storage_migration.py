"""Migration 0007: snapshots went from the full explanation to the measures' values, and back.

Snapshots are written by the application at head; downgrading to 0006 must leave each one with
exactly the explanation the application serves for it, and upgrading again must give back the
values and stale flags it was written with.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from app import migrations
from app.db import make_engine
from app.health import models as health_models
from app.health import reading as health_reading
from app.health import snapshots as health_snapshots
from app.ingest.rollups import UsageRow, add_usage
from app.models import ScoreSnapshot
from tests.builders import AS_OF, make_account, make_interaction
from tests.conftest import DatabaseFactory

TZ = ZoneInfo("Asia/Tokyo")
TODAY = dt.date(2026, 11, 23)
#: The newest usage is five days old on TODAY: past the ABC usage measures' 3-day freshness.
EARLIER = TODAY - dt.timedelta(days=5)


@pytest.fixture
def url(databases: DatabaseFactory) -> Iterator[str]:
    found = databases.fresh(migrated=False)
    migrations.upgrade(found)
    yield found
    databases.drop(found)


def _snapshots(url: str) -> dict[tuple[int, dt.date], dict[str, Any]]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            rows = session.exec(select(ScoreSnapshot)).all()
            return {
                (row.account_id, row.day): {
                    "values": row.measure_values, "stale": row.stale_mask, "score": row.score,
                    "explanation": health_reading.stored_explanation(session, row),
                }
                for row in rows
            }
    finally:
        engine.dispose()


def test_snapshots_convert_down_to_explanations_and_back(url: str) -> None:
    engine = make_engine(url)
    with Session(engine) as session:
        for i in range(4):
            account = make_account(session, id=f"acct-{i}", name=f"Account {i}",
                                   licensed_seats=None if i == 3 else 4 + i)
            assert account.id is not None
            add_usage(session, [
                UsageRow(account.id, EARLIER - dt.timedelta(days=d), "Report Created",
                         f"{i}-u{d % 3}", AS_OF)
                for d in range(i * 3)
            ], AS_OF)
            if i % 2:
                make_interaction(session, account=account, type="meeting",
                                 occurred_at=AS_OF - dt.timedelta(days=20 * i))
        health_models.adopt_preset(session, preset="abc", now=AS_OF)
        for day in (EARLIER, TODAY):
            health_snapshots.run_scoring(session, as_of=day, tz=TZ, now=AS_OF)
        session.commit()
    engine.dispose()
    before = _snapshots(url)
    assert len(before) == 8
    # On TODAY the three usage measures are stale where they have a value (no seats: none).
    assert {s["stale"] for s in before.values()} == {0, 0b110, 0b111}
    assert any(None in s["values"] for s in before.values())

    migrations.downgrade(url, "0006")

    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT account_id, day, score, groups FROM score_snapshot")).all()
    engine.dispose()
    assert len(rows) == len(before)
    for account_id, day, score, groups in rows:
        day = day if isinstance(day, dt.date) else dt.date.fromisoformat(day)
        stored = json.loads(groups) if isinstance(groups, str) else groups
        expected = before[(account_id, day)]
        assert score == expected["score"]
        assert stored == expected["explanation"]
        contributions = [m["contribution"] for g in stored for m in g["measures"]]
        assert round(sum(contributions), 2) == score

    migrations.upgrade(url)

    after = _snapshots(url)
    assert after == before
