"""The usage metrics a quantitative goal can track, and their values from the daily rollups."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import distinct, func
from sqlmodel import Session, col, select

from app.models import UsageAccountDay, UsageActiveUser, UsageDaily
from app.usage import features as features_svc

#: Days of usage each metric looks back over, ending on the as-of day.
METRIC_WINDOWS = {
    "weekly_active_users": 7,
    "monthly_active_users": 30,
    "event_count_30d": 30,
    "feature_events_30d": 30,
}
METRIC_LABELS = {
    "weekly_active_users": "Weekly active users",
    "monthly_active_users": "Monthly active users",
    "event_count_30d": "Events in the last 30 days",
    "feature_events_30d": "Feature events in the last 30 days",
}


def metric_values(
    session: Session, *, source: dict[str, Any], account_ids: list[int], as_of: dt.date
) -> dict[int, float]:
    """Each account's value of a usage metric for the window ending on ``as_of`` (0 when idle)."""
    metric = source["metric"]
    start = as_of - dt.timedelta(days=METRIC_WINDOWS[metric] - 1)
    out: dict[int, float] = dict.fromkeys(account_ids, 0.0)
    if not account_ids:
        return out
    if metric in ("weekly_active_users", "monthly_active_users"):
        for account_id, n in session.execute(
            select(UsageActiveUser.account_id, func.count(distinct(col(UsageActiveUser.user_key))))
            .where(
                col(UsageActiveUser.account_id).in_(account_ids),
                col(UsageActiveUser.day).between(start, as_of),
            )
            .group_by(col(UsageActiveUser.account_id))
        ).all():
            out[account_id] = float(n)
        # Pushed daily aggregates count users without naming them: the busiest day is then a
        # lower bound for the window (on every other day it is at most the distinct users).
        for account_id, n in session.execute(
            select(UsageAccountDay.account_id, func.max(UsageAccountDay.active_users))
            .where(
                col(UsageAccountDay.account_id).in_(account_ids),
                col(UsageAccountDay.day).between(start, as_of),
            )
            .group_by(col(UsageAccountDay.account_id))
        ).all():
            out[account_id] = max(out[account_id], float(n or 0))
    elif metric == "event_count_30d":
        for account_id, n in session.execute(
            select(UsageAccountDay.account_id, func.sum(UsageAccountDay.event_count))
            .where(
                col(UsageAccountDay.account_id).in_(account_ids),
                col(UsageAccountDay.day).between(start, as_of),
            )
            .group_by(col(UsageAccountDay.account_id))
        ).all():
            out[account_id] = float(n or 0)
    else:
        matcher = features_svc.catalog(session)
        feature = source.get("feature")
        for account_id, event, n in session.execute(
            select(UsageDaily.account_id, UsageDaily.event, func.sum(UsageDaily.event_count))
            .where(col(UsageDaily.account_id).in_(account_ids), col(UsageDaily.day).between(start, as_of))
            .group_by(col(UsageDaily.account_id), col(UsageDaily.event))
        ).all():
            if matcher.feature_of(event) == feature:
                out[account_id] += float(n or 0)
    return out
