"""An account's adoption summary: usage rollups, the feature catalog, its health and its goals,
read with a few set-based queries and assembled by ``app.scoring.adoption``.

Distinct active users per period come from ``usage_active_user`` (one COUNT(DISTINCT) grouped by
period); where a source pushed daily aggregates without user ids, the period's busiest day
(``usage_account_day.active_users``) is the floor. User-days are the sum of daily active users;
feature use comes from the daily event rollups matched through the catalog.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, func, literal, select
from sqlmodel import Session, col

from app.accounts.service import get_account
from app.errors import BansouError, FieldError, InvalidInput
from app.health import reading as health_reading
from app.health import values as health_values
from app.models import Account, PlanGoal, SuccessPlan, UsageAccountDay, UsageActiveUser, UsageDaily
from app.plans.plans import LIVE_PLAN_STATUSES
from app.scoring import adoption as pure
from app.usage import features as features_svc

MAX_RANGE_DAYS = 400


def period_of(
    start: dt.date | None, end: dt.date | None, *, today: dt.date
) -> tuple[dt.date, dt.date]:
    """The period asked for; by default the last whole month before ``today``'s."""
    if start is None and end is None:
        return pure.month_of(today.replace(day=1) - dt.timedelta(days=1))
    if start is None or end is None:
        raise InvalidInput([FieldError("from" if start is None else "to",
                                       "give both `from` and `to`, or neither", "query")])
    if start > end:
        raise InvalidInput.field("from", "must not be after `to`", "query")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise InvalidInput.field("from", f"the range is limited to {MAX_RANGE_DAYS} days", "query")
    return start, end


def _bucket(day_col: Any, periods: list[tuple[dt.date, dt.date]]) -> ColumnElement[int]:
    return case(
        *((and_(day_col >= s, day_col <= e), literal(i)) for i, (s, e) in enumerate(periods)),
        else_=literal(-1),
    )


def period_usage(
    session: Session, account: Account, periods: list[tuple[dt.date, dt.date]]
) -> list[pure.PeriodUsage]:
    """Each period's users, user-days and feature use (three grouped queries in all)."""
    first, last = periods[0][0], periods[-1][1]
    users: dict[int, int] = defaultdict(int)
    user_days: dict[int, int] = defaultdict(int)
    busiest: dict[int, int] = defaultdict(int)

    bucket = _bucket(UsageActiveUser.day, periods)
    for index, n in session.execute(
        select(bucket, func.count(func.distinct(UsageActiveUser.user_key)))
        .where(col(UsageActiveUser.account_id) == account.id,
               col(UsageActiveUser.day) >= first, col(UsageActiveUser.day) <= last)
        .group_by(bucket)
    ).all():
        users[index] = n
    bucket = _bucket(UsageAccountDay.day, periods)
    for index, total, peak in session.execute(
        select(bucket, func.sum(UsageAccountDay.active_users), func.max(UsageAccountDay.active_users))
        .where(col(UsageAccountDay.account_id) == account.id,
               col(UsageAccountDay.day) >= first, col(UsageAccountDay.day) <= last)
        .group_by(bucket)
    ).all():
        user_days[index], busiest[index] = int(total or 0), int(peak or 0)

    matcher = features_svc.catalog(session)
    events: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    days: dict[int, dict[str, set[dt.date]]] = defaultdict(lambda: defaultdict(set))
    bucket = _bucket(UsageDaily.day, periods)
    for index, day, event, count in session.execute(
        select(bucket, col(UsageDaily.day), col(UsageDaily.event), col(UsageDaily.event_count))
        .where(col(UsageDaily.account_id) == account.id,
               col(UsageDaily.day) >= first, col(UsageDaily.day) <= last)
    ).all():
        key = matcher.feature_of(event)
        if key is None or count <= 0:
            continue
        events[index][key] += count
        days[index][key].add(day)

    return [
        pure.PeriodUsage(
            start=s, end=e, active_users=max(users[i], busiest[i]), user_days=user_days[i],
            feature_events=dict(events[i]),
            feature_days={k: len(v) for k, v in days[i].items()},
        )
        for i, (s, e) in enumerate(periods)
    ]


def _goals(session: Session, account: Account) -> list[pure.GoalInfo]:
    rows = session.execute(
        select(PlanGoal).join(SuccessPlan, col(SuccessPlan.id) == col(PlanGoal.plan_id))
        .where(col(SuccessPlan.account_id) == account.id,
               col(SuccessPlan.status).in_(LIVE_PLAN_STATUSES))
        .order_by(col(PlanGoal.plan_id), col(PlanGoal.position), col(PlanGoal.id))
    ).scalars().all()
    return [
        pure.GoalInfo(
            g.title, g.status, g.baseline, g.target, g.current_value, g.unit,
            g.achieved_at.date() if g.achieved_at else None,
        )
        for g in rows
    ]


def account_adoption(
    session: Session, *, account_id: str, start: dt.date | None, end: dt.date | None,
    today: dt.date, tz: ZoneInfo, config: pure.AdoptionConfig = pure.AdoptionConfig(),
) -> pure.AdoptionReport:
    """The account's adoption summary for the period (default: last month), with trends."""
    start, end = period_of(start, end, today=today)
    account = get_account(session, account_id)
    periods = pure.previous_periods(start, end, config.trend_periods)
    usage = period_usage(session, account, periods)
    catalog = [pure.FeatureInfo(f.key, f.name, f.is_key)
               for f in features_svc.list_features(session)]
    score = band = scale = None
    try:
        current = health_reading.current_health(session, account_id=account_id, model_id=None,
                                                today=min(end, today), tz=tz)
        score, band, scale = current.score, current.band, current.scale_max
    except BansouError:
        pass  # no health model yet, or the contract has not started: the report omits it
    return pure.assemble(
        usage, seats=account.licensed_seats, features=catalog, goals=_goals(session, account),
        health_score=score, health_band=band, health_scale_max=scale, config=config,
        certified=_certification(session, account, periods, tz),
    )


def _certification(
    session: Session, account: Account, periods: list[tuple[dt.date, dt.date]], tz: ZoneInfo
) -> pure.Certification:
    """Contacts certified by the end of the period, and by the end of the previous one."""

    def best_levels(last_day: dt.date) -> list[int | None]:
        before = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), tzinfo=tz)
        rows = health_values.certified_contacts(
            session, account_scope=health_values.CONTACT.c.account_id == account.id,
            before=before.astimezone(dt.UTC),
        )
        return [level for _, _, level in rows]

    previous = len(best_levels(periods[-2][1])) if len(periods) > 1 else None
    return pure.certification(best_levels(periods[-1][1]), seats=account.licensed_seats,
                              previous=previous)


def as_json(report: pure.AdoptionReport) -> dict[str, Any]:
    """The report as JSON-ready values (dates as ISO strings)."""

    def convert(value: Any) -> Any:
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [convert(v) for v in value]
        return value

    data: dict[str, Any] = convert(dataclasses.asdict(report))
    return data
