"""Daily usage aggregates pushed by companies that already aggregate in a warehouse.

Replace, never add: the values sent for an ``(account, day, event)`` become the stored ones, so
re-sending a day (a retry, or a corrected export) gives the same rollups as sending it once.
After writing, each touched ``(account, day)`` is recomputed from its rows:

- ``event_count`` = the sum of that day's ``usage_daily.event_count`` over all events;
- ``active_users`` = the largest of: the ``active_users`` given for that day (the true distinct
  count, which only the sender knows), the largest ``distinct_users`` of any of its events (a
  lower bound: 12 users did ``report.export`` → at least 12 were active), and the users counted
  from raw events for that day (``usage_active_user``).

Concurrent pushes for the same account-day are serialised by locking its ``usage_account_day``
row first (an upsert that changes nothing), in key order so two pushes cannot deadlock.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, func, or_, select
from sqlmodel import Session

from app.db import dialect_insert, table_of
from app.errors import FieldError, InvalidInput, contention_is_busy
from app.health import score_queue
from app.models import Account, UsageAccountDay, UsageActiveUser, UsageDaily
from app.usage import presence
from app.usage.schemas import MAX_COUNT, DailyAggregateIn

#: A day may be this far past the request clock's UTC date (time zones ahead of UTC).
FUTURE_SLACK = dt.timedelta(days=1)
_CHUNK = 500


@dataclass(frozen=True)
class ReplaceResult:
    rows: int  # rows given
    created: int  # (account, day, event) keys stored for the first time
    replaced: int  # keys that already had values, now replaced
    account_days: int  # (account, day) totals recomputed



USAGE_DAILY = table_of(UsageDaily)
USAGE_ACCOUNT_DAY = table_of(UsageAccountDay)
USAGE_ACTIVE_USER = table_of(UsageActiveUser)
ACCOUNT = table_of(Account)



def _upsert(
    session: Session, table: Table, rows: list[dict[str, Any]], *, keys: list[str],
    update: Callable[[Any], dict[str, Any]],
) -> None:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE`` for many rows, in the rows' order.

    ``RETURNING`` makes SQLAlchemy send them as multi-row ``VALUES`` batches ("insertmanyvalues")
    instead of one statement per row, a round trip each on PostgreSQL. Rows must have distinct
    keys: one statement may not update a row twice.
    """
    if not rows:
        return
    ins = dialect_insert(session, table)
    stmt = ins.on_conflict_do_update(index_elements=keys, set_=update(ins.excluded))
    session.execute(stmt.returning(*(table.c[k] for k in keys)), rows).all()


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


def account_ids(session: Session, external_ids: Iterable[str]) -> dict[str, int]:
    """Database ids of the (not deleted) accounts with these external ids."""
    wanted = sorted(set(external_ids))
    found: dict[str, int] = {}
    for chunk in _chunks(wanted):
        rows = session.execute(
            select(ACCOUNT.c.external_id, ACCOUNT.c.id)
            .where(ACCOUNT.c.external_id.in_(chunk), ACCOUNT.c.status != "deleted")
        ).all()
        found.update({external_id: id_ for external_id, id_ in rows})
    return found


def replace_daily_aggregates(
    session: Session, *, rows: Sequence[DailyAggregateIn], now: dt.datetime
) -> ReplaceResult:
    """Store the rows' values (replacing, never adding) and recompute the touched account-days.

    All or nothing: a 422 names ``data[i].account_id`` or ``data[i].day`` for every bad row.
    When a key appears twice, the later row wins.
    """
    with contention_is_busy():
        return _replace(session, rows, now)


def _replace(
    session: Session, rows: Sequence[DailyAggregateIn], now: dt.datetime
) -> ReplaceResult:
    accounts = account_ids(session, (r.account_id for r in rows))
    latest_day = now.astimezone(dt.UTC).date() + FUTURE_SLACK
    errors: list[FieldError] = []
    for index, row in enumerate(rows):
        if row.account_id not in accounts:
            errors.append(FieldError(f"data[{index}].account_id", f"no account {row.account_id!r}"))
        if row.day > latest_day:
            errors.append(FieldError(f"data[{index}].day", "must not be in the future"))
    if errors:
        raise InvalidInput(errors)

    values: dict[tuple[int, dt.date, str], DailyAggregateIn] = {}
    for row in rows:
        values[(accounts[row.account_id], row.day, row.event)] = row
    given_active: dict[tuple[int, dt.date], int] = {}
    for (account_id, day, _), row in values.items():
        pair = (account_id, day)
        given_active.setdefault(pair, 0)
        if row.active_users is not None:
            given_active[pair] = max(given_active[pair], row.active_users)
    pairs = sorted(given_active)
    if not pairs:
        return ReplaceResult(rows=0, created=0, replaced=0, account_days=0)

    _lock_account_days(session, pairs)
    keys = sorted(values)
    existing = len(_stored_keys(session, pairs) & values.keys())
    _upsert(
        session, USAGE_DAILY,
        [{"account_id": a, "day": d, "event": e, "event_count": values[(a, d, e)].count,
          "distinct_users": values[(a, d, e)].distinct_users} for a, d, e in keys],
        keys=["account_id", "day", "event"],
        update=lambda new: {"event_count": new.event_count, "distinct_users": new.distinct_users},
    )
    presence.replace_events(session, {key: values[key].count for key in keys})
    _recompute_account_days(session, pairs, given_active)
    score_queue.mark_dirty(session, (a for a, _ in pairs), now)
    return ReplaceResult(
        rows=len(rows), created=len(keys) - existing, replaced=existing, account_days=len(pairs)
    )


def _lock_account_days(session: Session, pairs: list[tuple[int, dt.date]]) -> None:
    """Create or touch each account-day row: on PostgreSQL this holds its row lock until commit."""
    _upsert(
        session, USAGE_ACCOUNT_DAY,
        [{"account_id": a, "day": d, "event_count": 0, "active_users": 0} for a, d in pairs],
        keys=["account_id", "day"],
        update=lambda _: {"event_count": USAGE_ACCOUNT_DAY.c.event_count},
    )


def _on_days(table: Table, pairs: Sequence[tuple[int, dt.date]]) -> ColumnElement[bool]:
    """``(account_id = a AND day IN (...)) OR ...``: each term a search on the primary key.

    (A row-value ``(account_id, day) IN (...)`` would read better, but SQLite scans the whole
    table for it.)
    """
    days: dict[int, list[dt.date]] = defaultdict(list)
    for account_id, day in pairs:
        days[account_id].append(day)
    return or_(*(
        and_(table.c.account_id == account_id, table.c.day.in_(account_days))
        for account_id, account_days in days.items()
    ))


def _stored_keys(
    session: Session, pairs: list[tuple[int, dt.date]]
) -> set[tuple[int, dt.date, str]]:
    """The (account, day, event) keys already stored for these account-days."""
    table = USAGE_DAILY
    keys: set[tuple[int, dt.date, str]] = set()
    for chunk in _chunks(pairs):
        keys.update(
            (a, d, e) for a, d, e in session.execute(
                select(table.c.account_id, table.c.day, table.c.event)
                .where(_on_days(table, chunk))
            ).all()
        )
    return keys


def _recompute_account_days(
    session: Session, pairs: list[tuple[int, dt.date]], given_active: dict[tuple[int, dt.date], int]
) -> None:
    totals: dict[tuple[int, dt.date], tuple[int, int]] = {}
    seen_users: dict[tuple[int, dt.date], int] = {}
    daily, active = USAGE_DAILY, USAGE_ACTIVE_USER
    for chunk in _chunks(pairs):
        for account_id, day, events, users in session.execute(
            select(daily.c.account_id, daily.c.day, func.sum(daily.c.event_count),
                   func.max(daily.c.distinct_users))
            .where(_on_days(daily, chunk))
            .group_by(daily.c.account_id, daily.c.day)
        ).all():
            totals[(account_id, day)] = (int(events or 0), int(users or 0))
        for account_id, day, users in session.execute(
            select(active.c.account_id, active.c.day, func.count())
            .where(_on_days(active, chunk))
            .group_by(active.c.account_id, active.c.day)
        ).all():
            seen_users[(account_id, day)] = int(users)
    recomputed: list[dict[str, Any]] = [
        {
            "account_id": a, "day": d,
            "event_count": min(totals.get((a, d), (0, 0))[0], MAX_COUNT),
            "active_users": max(
                given_active.get((a, d), 0), totals.get((a, d), (0, 0))[1],
                seen_users.get((a, d), 0),
            ),
        }
        for a, d in pairs
    ]
    _upsert(
        session, USAGE_ACCOUNT_DAY, recomputed,
        keys=["account_id", "day"],
        update=lambda new: {"event_count": new.event_count, "active_users": new.active_users},
    )
    presence.replace_account_days(session, {
        (r["account_id"], r["day"]):
            (r["event_count"], r["active_users"], seen_users.get((r["account_id"], r["day"]), 0))
        for r in recomputed
    })
