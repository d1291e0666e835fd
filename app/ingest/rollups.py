"""The daily usage rollups that new usage events are added to: per account, day and event
(``usage_daily``, with the distinct users behind it in ``usage_daily_user``), per account and
day (``usage_account_day``, its active users in ``usage_active_user``), each account's latest
activity, and the presence bits of whatever just became active.

Rollups are kept exact under retries and concurrency by counting distinct users through
``INSERT ... ON CONFLICT DO NOTHING RETURNING`` on the sets behind each count, and only events
stored for the first time (never a duplicate) are added.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from app.db import table_of
from app.health import score_queue
from app.ingest.statements import Sql, sql_of
from app.models import (
    AccountActivity,
    UsageAccountDay,
    UsageActiveUser,
    UsageDaily,
    UsageDailyUser,
)
from app.usage import presence

USAGE_DAILY = table_of(UsageDaily)
USAGE_DAILY_USER = table_of(UsageDailyUser)
USAGE_ACCOUNT_DAY = table_of(UsageAccountDay)
USAGE_ACTIVE_USER = table_of(UsageActiveUser)
ACCOUNT_ACTIVITY = table_of(AccountActivity)


@dataclass(slots=True)
class UsageRow:
    """One new usage event, for the rollups (slots, not frozen: one is made per event)."""

    account_id: int
    day: dt.date
    event: str
    user_key: str
    occurred_at: dt.datetime


def add_usage(session: Session, usage: list[UsageRow], received_at: dt.datetime) -> None:
    """Add new (never seen before) usage events to the daily rollups."""
    if not usage:
        return
    tally = _tally(usage)
    sql = sql_of(session)
    days = {d: sql.day(d) for d in {row.day for row in usage}}
    # Every list written below is sorted: concurrent transactions then lock rows in the same
    # order and wait for each other instead of deadlocking (PostgreSQL).
    first_events = _add_event_days(session, sql, tally, days)
    new_active_users, first_days = _add_account_days(session, sql, tally, days)
    _record_activity(session, sql, tally.latest, received_at)
    # The scheduler rescores these accounts within minutes.
    score_queue.mark_dirty_direct(session, tally.latest, received_at)
    # Presence bits mirror "count > 0" (account-days, events) and active-user rows, so only what
    # just became active can lack its bit: a user's second event of the day needs no presence
    # work at all (it read ~50 presence rows per event otherwise).
    presence.record_usage(
        session,
        [
            row
            for row in usage
            if (row.account_id, days[row.day], row.user_key) in new_active_users
            or (row.account_id, days[row.day], row.event) in first_events
            or (row.account_id, days[row.day]) in first_days
        ],
    )


@dataclass
class _Tally:
    """New usage events counted the ways the rollups count them."""

    counts: Counter[tuple[int, dt.date, str]]  # events per account, day and event
    day_counts: Counter[tuple[int, dt.date]]  # events per account and day
    pairs: set[tuple[int, dt.date, str, str]]  # (account, day, event, user)
    actives: set[tuple[int, dt.date, str]]  # (account, day, user)
    latest: dict[int, dt.datetime]  # each account's latest event


def _tally(usage: list[UsageRow]) -> _Tally:
    counts: Counter[tuple[int, dt.date, str]] = Counter()
    day_counts: Counter[tuple[int, dt.date]] = Counter()
    pairs: set[tuple[int, dt.date, str, str]] = set()
    actives: set[tuple[int, dt.date, str]] = set()
    latest: dict[int, dt.datetime] = {}
    for row in usage:
        counts[(row.account_id, row.day, row.event)] += 1
        day_counts[(row.account_id, row.day)] += 1
        pairs.add((row.account_id, row.day, row.event, row.user_key))
        actives.add((row.account_id, row.day, row.user_key))
        if row.account_id not in latest or row.occurred_at > latest[row.account_id]:
            latest[row.account_id] = row.occurred_at
    return _Tally(counts, day_counts, pairs, actives, latest)


def _add_event_days(
    session: Session, sql: Sql, tally: _Tally, days: dict[dt.date, Any]
) -> set[tuple[Any, ...]]:
    """Add to the events' daily counts and distinct users; the (account, day, event) rows that
    were absent (or zero) before."""
    new_users: Counter[tuple[int, Any, str]] = Counter(
        (a, d, e)
        for a, d, e in sql.run(
            session,
            f"INSERT INTO {USAGE_DAILY_USER.name} (account_id, day, event, user_key)",
            [(a, days[d], e, u) for a, d, e, u in sorted(tally.pairs)],
            "ON CONFLICT DO NOTHING RETURNING account_id, day, event",
        )
    )
    counts = tally.counts
    counts_by_key = {(a, days[d], e): n for (a, d, e), n in counts.items()}
    # A row whose count is now exactly what this batch added was absent (or zero) before.
    return {
        (a, d, e)
        for a, d, e, total in sql.run(
            session,
            f"INSERT INTO {USAGE_DAILY.name} (account_id, day, event, event_count, distinct_users)",
            [(a, days[d], e, n, new_users[(a, days[d], e)]) for (a, d, e), n in sorted(counts.items())],
            "ON CONFLICT (account_id, day, event) DO UPDATE SET "
            "event_count = usage_daily.event_count + excluded.event_count, "
            "distinct_users = usage_daily.distinct_users + excluded.distinct_users "
            "RETURNING account_id, day, event, event_count",
        )
        if total == counts_by_key[(a, d, e)]
    }


def _add_account_days(
    session: Session, sql: Sql, tally: _Tally, days: dict[dt.date, Any]
) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    """Add to the accounts' daily counts and active users; the (account, day, user) rows that
    are new, and the (account, day) rows that were absent (or zero) before."""
    new_active_users = set(
        sql.run(
            session,
            f"INSERT INTO {USAGE_ACTIVE_USER.name} (account_id, day, user_key)",
            [(a, days[d], u) for a, d, u in sorted(tally.actives)],
            "ON CONFLICT DO NOTHING RETURNING account_id, day, user_key",
        )
    )
    new_actives: Counter[tuple[int, Any]] = Counter((a, d) for a, d, _ in new_active_users)
    day_counts = tally.day_counts
    day_totals = {(a, days[d]): n for (a, d), n in day_counts.items()}
    first_days = {
        (a, d)
        for a, d, total in sql.run(
            session,
            f"INSERT INTO {USAGE_ACCOUNT_DAY.name} (account_id, day, event_count, active_users)",
            [(a, days[d], n, new_actives[(a, days[d])]) for (a, d), n in sorted(day_counts.items())],
            "ON CONFLICT (account_id, day) DO UPDATE SET "
            "event_count = usage_account_day.event_count + excluded.event_count, "
            "active_users = usage_account_day.active_users + excluded.active_users "
            "RETURNING account_id, day, event_count",
        )
        if total == day_totals[(a, d)]
    }
    return new_active_users, first_days


def _record_activity(
    session: Session, sql: Sql, latest: dict[int, dt.datetime], received_at: dt.datetime
) -> None:
    """Note each account's latest event and when its latest event was received."""
    received = sql.time(received_at)
    sql.run(
        session,
        f"INSERT INTO {ACCOUNT_ACTIVITY.name} (account_id, last_event_at, last_received_at)",
        [(a, sql.time(t), received) for a, t in sorted(latest.items())],
        "ON CONFLICT (account_id) DO UPDATE SET last_event_at = CASE "
        "WHEN excluded.last_event_at > account_activity.last_event_at "
        "THEN excluded.last_event_at ELSE account_activity.last_event_at END, "
        "last_received_at = excluded.last_received_at",
    )
