"""Team KPIs over a period and its 12-period trend, for the ``/kpis`` page and ``GET /api/v1/kpis``.

The inputs are read set-based, one query each over the whole trend (accounts, account history,
interactions, NPS and attendance, tasks, weekly-list items) plus one per score day (the eve of
each period and the end of the last); ``app.scoring.kpis`` computes the numbers from them.

What the filters mean: ``segment``, ``industry`` and ``owner`` are the account's current ones;
``tier`` is its industry's tier today (``app.accounts.industries``). Deleted accounts never count.
Timestamps (interactions, task completions) are turned into dates in the team's time zone.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, String, and_, func, or_, type_coerce
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from app.accounts import industries as industries_svc
from app.errors import FieldError, InvalidInput
from app.health import assignments as health_assignments
from app.health import models as health_models
from app.models import (
    SEGMENTS,
    Account,
    AccountHistory,
    Checkin,
    HealthModelVersion,
    Interaction,
    PriorityItem,
    PriorityList,
    ScoreSnapshot,
    Task,
    User,
)
from app.scoring import kpis as calc

#: A stored score older than this before a score day does not stand for that day (the demo
#: scores weekly; daily scoring always has one within a day).
SCORE_LOOKBACK = dt.timedelta(days=14)
TIERS = (1, 2, 3, 4)
#: Periods must lie within these years: the trend reaches 12 periods back, past year 1 otherwise.
YEARS = (1900, 9998)
_SIMPLE_TYPES = sorted(calc.TOUCH_TYPES | {"email_click", "community_post", "email_reply"})
_DATA_TYPES = sorted(calc.ATTENDANCE_TYPES | {"nps_response"})


@dataclass(frozen=True)
class KpiFilters:
    """``owner``: a user's email or ``"none"`` (unowned accounts); None: no filter."""

    segment: str | None = None
    owner: str | None = None
    industry: str | None = None
    tier: int | None = None

    def as_params(self) -> dict[str, Any]:
        return {"segment": self.segment, "owner": self.owner, "industry": self.industry, "tier": self.tier}


@dataclass(frozen=True)
class KpiQuery:
    period: calc.Period
    filters: KpiFilters


def parse_query(
    *,
    period: str | None,
    start: str | None,
    end: str | None,
    segment: str | None = None,
    owner: str | None = None,
    industry: str | None = None,
    tier: str | None = None,
    today: dt.date,
    session: Session | None = None,
) -> KpiQuery:
    """The period (``period``, or ``from``/``to``; this month by default) and filters from a
    query string; 422 names each bad parameter (with ``session``, an owner no user has too)."""
    errors: list[FieldError] = []
    chosen = calc.month_of(today)
    period = (period or "").strip() or None
    start, end = (start or "").strip() or None, (end or "").strip() or None
    if period and (start or end):
        errors.append(FieldError("period", "give either period or from/to, not both", "query"))
    elif period:
        try:
            chosen = calc.parse_period(period)
        except ValueError as error:
            errors.append(FieldError("period", str(error), "query"))
    elif start or end:
        days: dict[str, dt.date] = {}
        for name, value in (("from", start), ("to", end)):
            if value is None:
                errors.append(FieldError(name, "from and to go together", "query"))
                continue
            try:
                days[name] = dt.date.fromisoformat(value)
            except ValueError:
                errors.append(FieldError(name, "not a date (YYYY-MM-DD)", "query"))
        if len(days) == 2:
            try:
                chosen = calc.date_range(days["from"], days["to"])
            except ValueError as error:
                errors.append(FieldError("to", str(error), "query"))
    if not errors and not YEARS[0] <= chosen.start.year <= chosen.end.year <= YEARS[1]:
        field = "period" if period else "from"
        errors.append(FieldError(field, f"must lie within the years {YEARS[0]}–{YEARS[1]}", "query"))
    segment = (segment or "").strip() or None
    if segment is not None and segment not in SEGMENTS:
        errors.append(FieldError("segment", f"must be one of {', '.join(SEGMENTS)}", "query"))
    owner = (owner or "").strip().lower() or None
    if session is not None and owner not in (None, "none"):
        known = session.exec(select(User.id).where(func.lower(col(User.email)) == owner)).first()
        if known is None:
            errors.append(FieldError("owner", "no user has this email", "query"))
    tier_number: int | None = None
    if (tier or "").strip():
        try:
            tier_number = int(str(tier))
        except ValueError:
            tier_number = 0
        if tier_number not in TIERS:
            errors.append(FieldError("tier", "must be 1, 2, 3 or 4", "query"))
    if errors:
        raise InvalidInput(errors)
    return KpiQuery(
        chosen,
        KpiFilters(
            segment=segment,
            owner=owner,
            industry=(industry or "").strip() or None,
            tier=tier_number,
        ),
    )


@dataclass(frozen=True)
class AccountRef:
    id: int
    external_id: str
    name: str
    currency: str


@dataclass(frozen=True)
class Comment:
    account: AccountRef
    on: dt.date
    score: int
    comment: str | None


@dataclass(frozen=True)
class RenewalRow:
    account: AccountRef
    renewal: calc.Renewal


@dataclass(frozen=True)
class KpiReport:
    query: KpiQuery
    today: dt.date
    trend: list[calc.PeriodKpis]  # oldest first; the chosen period last
    comments: list[Comment]  # the chosen period's NPS responses, newest first
    renewals: list[RenewalRow]  # the chosen period's renewals due, by date
    accounts: int  # matching the filters (any status but deleted)
    scale_max: float | None  # the health model's scale; None without a model
    model_name: str | None

    @property
    def current(self) -> calc.PeriodKpis:
        return self.trend[-1]


def _instant(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """Midnight starting ``day`` in ``tz``, in UTC."""
    return dt.datetime.combine(day, dt.time(), tzinfo=tz).astimezone(dt.UTC)


def _local(moment: Any, tz: ZoneInfo) -> dt.date:
    if isinstance(moment, str):  # SQLite text read without the column type's conversion
        moment = dt.datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(tz).date()


def _account_query(session: Session, filters: KpiFilters, *, today: dt.date) -> SelectOfScalar[Account]:
    query = select(Account).where(col(Account.status) != "deleted")
    if filters.segment:
        query = query.where(col(Account.segment) == filters.segment)
    if filters.industry:
        query = query.where(col(Account.industry) == filters.industry)
    if filters.owner == "none":
        query = query.where(col(Account.owner_id).is_(None))
    elif filters.owner:
        owner_ids = select(User.id).where(func.lower(col(User.email)) == filters.owner)
        query = query.where(col(Account.owner_id).in_(owner_ids))
    if filters.tier is not None:
        tiers = industries_svc.industry_tiers(session, as_of=today)
        names = sorted(name for name, t in tiers.items() if t.tier == filters.tier)
        query = query.where(col(Account.industry).in_(names))
    return query


def industries(session: Session) -> list[str]:
    """The industries of the accounts that are not deleted, by name."""
    return [
        i
        for i in session.exec(
            select(Account.industry)
            .where(col(Account.status) != "deleted", col(Account.industry).is_not(None))
            .distinct()
            .order_by(col(Account.industry))
        ).all()
        if i
    ]


def _scores(
    session: Session, scope: Any, days: list[dt.date]
) -> tuple[dict[dt.date, dict[int, float]], float | None, str | None]:
    """Each account's score at the end of each day under its primary model. With models per
    segment, scores of another scale are put on the default model's scale (a share of the scale
    is kept: 2.0 of 4 is 50 of 100), so the score KPIs average like with like."""
    model = health_models.default_model(session)
    if model is None or model.id is None:
        return {}, None, None
    assigned = health_assignments.load(session)
    version_ids = list(
        session.exec(select(HealthModelVersion.id).where(HealthModelVersion.model_id == model.id)).all()
    )
    published = health_models.published_version(session, model.id)
    scale = float((published.definition if published else {}).get("scale_max", 100.0) or 100.0)
    # Each version's factor to the default model's scale (1 for the default model's own).
    factor: dict[int, float] = dict.fromkeys((v for v in version_ids if v is not None), 1.0)
    if not assigned.single:
        for model_id, ids in assigned.version_ids.items():
            own = health_models.published_version(session, model_id)
            own_scale = float((own.definition if own else {}).get("scale_max", 100.0) or 100.0)
            factor.update(dict.fromkeys(ids, scale / own_scale))
    snap = ScoreSnapshot

    def owned(query: Any) -> Any:
        if assigned.single:
            return query.where(col(snap.model_version_id).in_(version_ids))
        return query.join(Account, col(Account.id) == col(snap.account_id)).where(
            assigned.own_snapshot(col(snap.model_version_id))
        )

    out: dict[dt.date, dict[int, float]] = {}
    for day in days:
        latest = (
            owned(
                select(col(snap.account_id).label("account_id"), func.max(col(snap.day)).label("day")).where(
                    col(snap.account_id).in_(scope),
                    col(snap.day) <= day,
                    col(snap.day) > day - SCORE_LOOKBACK,
                    col(snap.score).is_not(None),
                )
            )
            .group_by(col(snap.account_id))
            .subquery()
        )
        rows = session.execute(
            owned(
                select(col(snap.account_id), col(snap.model_version_id), col(snap.score))
                .join(
                    latest, and_(col(snap.account_id) == latest.c.account_id, col(snap.day) == latest.c.day)
                )
                .where(col(snap.score).is_not(None))
            ).order_by(col(snap.account_id), col(snap.model_version_id))
        ).all()
        # On a day scored under two versions of the model, the later version's score stands.
        out[day] = {
            account_id: float(score) * factor.get(version, 1.0) for account_id, version, score in rows
        }
    return out, scale, model.name


def team_kpis(session: Session, *, query: KpiQuery, today: dt.date, tz: ZoneInfo) -> KpiReport:
    """The KPIs of the chosen period and of the 11 before it, for the filtered accounts."""
    periods = calc.trail(query.period)
    first, last = periods[0].start, periods[-1].end
    since, until = _instant(first, tz), _instant(last + dt.timedelta(days=1), tz)
    account_query = _account_query(session, query.filters, today=today)
    scope = account_query.with_only_columns(col(Account.id))
    accounts = _accounts(session, account_query)
    refs = {row.id: AccountRef(row.id, row.external_id, row.name, row.currency) for row in accounts}
    history = _history(session, scope, last=last)
    activities, responses = _interactions(session, scope, since=since, until=until, tz=tz)
    tasks = _tasks(session, scope, first=first, last=last, tz=tz)
    items = _items(session, scope, since=since, until=until, tz=tz)
    scores, scale, model_name = _scores(session, scope, calc.score_days(periods, today=today))

    inputs = calc.KpiInputs(
        accounts=[
            calc.AccountIn(
                row.id,
                row.status,
                row.contract_start_on,
                row.churned_on,
                Decimal(row.arr),
                row.currency,
            )
            for row in accounts
        ],
        history=history,
        activities=activities,
        nps=responses,
        tasks=tasks,
        items=items,
        scores=scores,
    )
    trend = calc.trend(inputs, periods, today=today)
    chosen = trend[-1].period
    comments = sorted(
        (
            Comment(refs[r.account_id], r.on, r.score, r.comment)
            for r in responses
            if r.on in chosen and r.account_id in refs
        ),
        key=lambda c: (c.on, c.account.name),
        reverse=True,
    )
    renewal_rows = sorted(
        (RenewalRow(refs[r.account_id], r) for r in trend[-1].renewals.outcomes if r.account_id in refs),
        key=lambda row: (row.renewal.on, row.account.name),
    )
    return KpiReport(query, today, trend, comments, renewal_rows, len(accounts), scale, model_name)


def _accounts(session: Session, account_query: SelectOfScalar[Account]) -> Sequence[Row[Any]]:
    """The filtered accounts' columns the KPIs read."""
    a = Account
    return session.execute(
        account_query.with_only_columns(
            col(a.id),
            col(a.external_id),
            col(a.name),
            col(a.currency),
            col(a.status),
            col(a.contract_start_on),
            col(a.churned_on),
            col(a.arr),
        )
    ).all()


def _history(session: Session, scope: Any, *, last: dt.date) -> list[calc.HistoryIn]:
    """The accounts' history (renewals, expansions, churn...) up to the trend's last day."""
    h = AccountHistory
    return [
        calc.HistoryIn(*row)
        for row in session.execute(
            sa_select(
                col(h.account_id),
                col(h.kind),
                col(h.occurred_on),
                col(h.arr_before),
                col(h.arr_after),
            ).where(col(h.account_id).in_(scope), col(h.occurred_on) <= last)
        ).all()
    ]


def _interactions(
    session: Session, scope: Any, *, since: dt.datetime, until: dt.datetime, tz: ZoneInfo
) -> tuple[list[calc.ActivityIn], list[calc.NpsIn]]:
    """The accounts' touches, check-in answers and attendances over the trend, and their NPS
    responses."""
    i = Interaction
    at: Any = col(i.occurred_at)
    if session.get_bind().dialect.name == "sqlite":
        at = type_coerce(at, String)  # parsed below: far cheaper than the column type's own
    activities: list[calc.ActivityIn] = []
    for account_id, kind, occurred, checkin in session.execute(
        select(col(i.account_id), col(i.type), at, col(Checkin.id))
        .join(Checkin, col(Checkin.interaction_id) == col(i.id), isouter=True)
        .where(
            col(i.type).in_(_SIMPLE_TYPES),
            col(i.occurred_at) >= since,
            col(i.occurred_at) < until,
            col(i.account_id).in_(scope),
            or_(col(i.type) != "email_reply", col(Checkin.id).is_not(None)),
        )
    ).all():
        kind = "checkin_answer" if kind == "email_reply" and checkin is not None else kind
        activities.append(calc.ActivityIn(account_id, _local(occurred, tz), kind))

    responses: list[calc.NpsIn] = []
    for account_id, kind, occurred, data in session.execute(
        select(col(i.account_id), col(i.type), at, col(i.data)).where(
            col(i.type).in_(_DATA_TYPES),
            col(i.occurred_at) >= since,
            col(i.occurred_at) < until,
            col(i.account_id).in_(scope),
        )
    ).all():
        data = data if isinstance(data, dict) else {}
        on = _local(occurred, tz)
        if kind == "nps_response":
            score = data.get("score")
            if isinstance(score, int) and not isinstance(score, bool) and 0 <= score <= 10:
                comment = data.get("comment")
                responses.append(
                    calc.NpsIn(account_id, on, score, comment if isinstance(comment, str) else None)
                )
        else:
            activities.append(
                calc.ActivityIn(account_id, on, kind, attended=data.get("attended", True) is not False)
            )
    return activities, responses


def _tasks(session: Session, scope: Any, *, first: dt.date, last: dt.date, tz: ZoneInfo) -> list[calc.TaskIn]:
    """The accounts' tasks due within the trend."""
    return [
        calc.TaskIn(due, status, _local(done, tz) if done is not None else None)
        for due, status, done in session.execute(
            select(col(Task.due_on), col(Task.status), col(Task.completed_at)).where(
                col(Task.account_id).in_(scope), col(Task.due_on) >= first, col(Task.due_on) <= last
            )
        ).all()
    ]


def _items(
    session: Session, scope: Any, *, since: dt.datetime, until: dt.datetime, tz: ZoneInfo
) -> list[calc.ItemIn]:
    """The accounts' items on the weekly priority lists made within the trend (suppressed ones
    left out)."""
    return [
        calc.ItemIn(_local(as_of, tz), status)
        for as_of, status in session.execute(
            select(col(PriorityList.as_of), col(PriorityItem.status))
            .join(PriorityList, col(PriorityList.id) == col(PriorityItem.list_id))
            .where(
                col(PriorityItem.account_id).in_(scope),
                col(PriorityItem.suppressed_reason).is_(None),
                col(PriorityList.as_of) >= since,
                col(PriorityList.as_of) < until,
            )
        ).all()
    ]


def series(report: KpiReport) -> dict[str, list[float | None]]:
    """Each KPI's values over the trend, oldest first."""
    out: dict[str, list[float | None]] = defaultdict(list)
    for kpis in report.trend:
        for value in kpis.values():
            out[value.key].append(value.value)
    return dict(out)
