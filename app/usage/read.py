"""Reading usage rollups: an account's daily rows for a date range."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from app.accounts.service import get_account
from app.errors import FieldError, InvalidInput
from app.models import AccountActivity, UsageAccountDay, UsageDaily

MAX_RANGE_DAYS = 400
DEFAULT_RANGE_DAYS = 30


@dataclass
class UsageDay:
    day: dt.date
    active_users: int = 0
    event_count: int = 0
    events: dict[str, int] = field(default_factory=dict)
    distinct_users: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountUsage:
    account_id: str
    start: dt.date
    end: dt.date
    last_event_at: dt.datetime | None
    days: list[UsageDay]


def account_usage(
    session: Session, *, account_id: str, start: dt.date | None, end: dt.date | None,
    today: dt.date,
) -> AccountUsage:
    """Every day from ``start`` to ``end`` (inclusive; default the last 30 days), zeros included."""
    end = end or today
    start = start or end - dt.timedelta(days=DEFAULT_RANGE_DAYS - 1)
    errors = []
    if start > end:
        errors.append(FieldError("from", "must not be after `to`", "query"))
    elif (end - start).days + 1 > MAX_RANGE_DAYS:
        errors.append(FieldError("from", f"the range is limited to {MAX_RANGE_DAYS} days", "query"))
    if errors:
        raise InvalidInput(errors)
    account = get_account(session, account_id)
    days = {
        start + dt.timedelta(days=i): UsageDay(start + dt.timedelta(days=i))
        for i in range((end - start).days + 1)
    }
    for row in session.exec(
        select(UsageAccountDay).where(
            UsageAccountDay.account_id == account.id,
            col(UsageAccountDay.day) >= start, col(UsageAccountDay.day) <= end,
        )
    ).all():
        days[row.day].active_users = row.active_users
        days[row.day].event_count = row.event_count
    for usage in session.exec(
        select(UsageDaily).where(
            UsageDaily.account_id == account.id,
            col(UsageDaily.day) >= start, col(UsageDaily.day) <= end,
        ).order_by(col(UsageDaily.day), col(UsageDaily.event))
    ).all():
        days[usage.day].events[usage.event] = usage.event_count
        days[usage.day].distinct_users[usage.event] = usage.distinct_users
    activity = session.get(AccountActivity, account.id)
    return AccountUsage(
        account_id=account.external_id, start=start, end=end,
        last_event_at=activity.last_event_at if activity else None,
        days=list(days.values()),
    )
