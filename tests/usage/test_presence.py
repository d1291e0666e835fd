"""Presence bitmaps: the window arithmetic, and rollups kept at write time equal a rebuild."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlmodel import Session

from app.ingest.rollups import UsageRow, add_usage
from app.usage import aggregates as usage_svc
from app.usage import presence
from app.usage.schemas import DailyAggregateIn
from tests.builders import AS_OF, make_account

#: Day 20,799 is the last of block 649 (20,768 … 20,799): its bit is bit 63, the sign bit.
BLOCK_END = dt.date(1970, 1, 1) + dt.timedelta(days=20799)


def _days(window: presence.Window) -> set[int]:
    out: set[int] = set()
    for block, mask in window.rows:
        first = presence.BLOCK * (block - 1)
        out |= {first + i for i in range(64) if mask >> i & 1}
    return out


@pytest.mark.parametrize("length", [1, 2, 30, 32, 33, 34, 64, 65, 90, 180, 365])
@pytest.mark.parametrize("end_offset", [0, 1, 15, 30, 31])
def test_a_window_covers_exactly_its_days(length: int, end_offset: int) -> None:
    end = dt.date(2026, 11, 23) + dt.timedelta(days=end_offset)
    start = end - dt.timedelta(days=length - 1)
    window = presence.window(start, end)
    first, last = presence.day_number(start), presence.day_number(end)

    assert _days(window) == set(range(first, last + 1))
    assert sum(bin(mask).count("1") for _, mask in window.rows) == length  # rows don't overlap
    if length <= 33:
        assert window.single  # one row per user or event: no DISTINCT needed
    if length > 64:
        assert not window.single


def test_a_day_sets_one_bit_in_its_block_and_one_in_the_next() -> None:
    (own, high), (following, low) = presence.day_bits(BLOCK_END)

    assert (own, following) == (649, 650)
    assert high == 1 << 63 and presence.signed(high) == -(1 << 63)
    assert low == 1 << 31
    assert presence.unsigned(presence.signed(high)) == high


def _stored(session: Session) -> dict[str, list[tuple[object, ...]]]:
    return {
        table.name: [tuple(row) for row in session.execute(
            select(table).order_by(*table.primary_key.columns)
        ).all()]
        for table in (presence.PRESENCE, presence.EVENT_NAME, presence.PEAK_DAY)
    }


def test_rollups_kept_at_write_time_equal_a_rebuild(session: Session) -> None:
    a = make_account(session, id="a", name="A")
    b = make_account(session, id="b", name="B")
    assert a.id and b.id
    days = [BLOCK_END, BLOCK_END + dt.timedelta(days=1), BLOCK_END - dt.timedelta(days=40),
            dt.date(2026, 11, 23)]
    rows = [UsageRow(account, day, event, user, AS_OF)
            for account in (a.id, b.id) for day in days
            for event, user in (("report.created", "u1"), ("Other", "u2"), ("Other", "u1"))]
    add_usage(session, rows, AS_OF)
    add_usage(session, rows[:5], AS_OF)  # the same events again (not new messages: a test)
    later = AS_OF + dt.timedelta(days=30)
    usage_svc.replace_daily_aggregates(session, now=later, rows=[
        DailyAggregateIn(account_id="a", day=BLOCK_END, event="Other", count=0,
                         distinct_users=0),
        DailyAggregateIn(account_id="a", day=BLOCK_END, event="report.created",
                         count=0, distinct_users=0),
        DailyAggregateIn(account_id="b", day=BLOCK_END, event="pushed.only", count=9,
                         distinct_users=4, active_users=7),
        DailyAggregateIn(account_id="b", day=days[2], event="Other", count=1,
                         distinct_users=1, active_users=1),
    ])
    session.flush()
    kept = _stored(session)

    presence.rebuild(session)

    assert _stored(session) == kept
    assert ("pushed.only",) in kept["usage_event_name"]
    assert len(kept["usage_peak_day"]) == 1  # b on BLOCK_END: 7 pushed against 2 seen
    bits = {(r[0], r[1], r[2], r[3]): r[4] for r in kept["usage_presence"]}
    # A's activity on BLOCK_END was pushed down to nothing: the account-day bit is gone...
    assert not presence.unsigned(bits[(649, "a", a.id, "")]) >> 63
    # ...while B's stays (bit 63: the stored value is negative).
    assert bits[(649, "a", b.id, "")] < 0


def test_the_schema_has_what_rebuild_needs(session: Session) -> None:
    """Rebuilding an empty database works on this engine (the SQL is engine-specific)."""
    presence.rebuild(session)

    assert session.execute(select(presence.PRESENCE.c.days)).first() is None
