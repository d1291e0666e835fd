"""What the CSM pages read: the portfolio table and heatmap, next meetings, who changed a goal.

The portfolio is read a page at a time: one query for the page's accounts (with their owner,
lifecycle stage and latest stored score under its primary model's published version: the default
model's, or the one the first matching assignment rule gives, ``health/assignments``), one for the
count and ARR of every matching account, and one each for the page's score history (sparklines),
scheduled meetings and open tasks: a fixed number of queries however many accounts, and the rows
rendered are at most a page, so the page stays fast on a large book.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, func, or_
from sqlmodel import Session, col, select

from app.accounts.industries import IndustryTier, industry_tiers
from app.health import assignments as health_assignments
from app.health import models as health_models
from app.health import reading as health_reading
from app.health.spec import to_model_def
from app.models import (
    SEGMENTS,
    STAGE_NAMES,
    Account,
    AccountStage,
    HealthModelVersion,
    Interaction,
    PlanAudit,
    RenewalForecast,
    ScoreSnapshot,
    Task,
    User,
)
from app.scoring.health import BANDS, band, grade_value, measure_order

SORTS = (
    "name", "-name", "score", "-score", "arr", "-arr", "renewal", "-renewal",
    "renewal_probability", "-renewal_probability",
)
#: The sparkline shows the last 26 weeks of stored scores (the demo stores one a week).
SPARK_DAYS = 182
#: Meetings scheduled longer ago than this are not looked at for "next meeting".
SCHEDULE_LOOKBACK = dt.timedelta(days=120)
#: Rows per page of the table and the heatmap: a CSM's own book fits on one page; "all accounts"
#: on a 300-account book is six pages instead of one slow one.
PAGE_SIZE = 50
TIERS = (1, 2, 3, 4)


@dataclass(frozen=True)
class PortfolioFilters:
    """``owner``: a user's email, ``"none"`` (unowned) or None (everyone's)."""

    owner: str | None = None
    band: str | None = None
    segment: str | None = None
    search: str | None = None
    sort: str = "name"
    stage: str | None = None
    tier: int | None = None
    page: int = 1  # 1-based


@dataclass(frozen=True)
class PortfolioRow:
    account: Account
    owner: User | None
    score: float | None
    band: str | None
    trend: list[float]  # oldest first
    next_meeting: dt.datetime | None
    stage: str | None = None
    tier: int | None = None
    is_target: bool = False
    open_tasks: int = 0
    overdue_tasks: int = 0
    #: Each measure's grade (good / normal / bad; None: no data or stale), in the definition's
    #: order of groups and measures; filled for the heatmap only.
    grades: list[str | None] = field(default_factory=list)
    #: The account's own model, when models are assigned per segment (None: all on the default).
    model_name: str | None = None
    scale_max: float | None = None
    #: The stored renewal forecast's probability (None: none made, or no renewal to forecast).
    renewal_probability: float | None = None


@dataclass(frozen=True)
class Portfolio:
    rows: list[PortfolioRow]
    day: dt.date | None  # the day of the scores shown
    model_name: str | None
    scale_max: float
    measures: list[tuple[str, str, str]]  # (group name, measure key, measure name) for the heatmap
    total: int = 0  # accounts matching the filters, on every page
    total_arr: Any = None  # their ARR, when they share one currency
    currency: str | None = None
    page: int = 1
    pages: int = 1
    page_size: int = PAGE_SIZE

    @property
    def first(self) -> int:
        """The 1-based position of the page's first row (0 when nothing matches)."""
        return (self.page - 1) * self.page_size + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return (self.page - 1) * self.page_size + len(self.rows)


def _whole(value: str | None, choices: Sequence[int]) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if number in choices else None


def parse_filters(
    *, owner: str | None, band: str | None, segment: str | None, search: str | None, sort: str | None,
    stage: str | None = None, tier: str | None = None, page: str | None = None,
) -> PortfolioFilters:
    """Filters from a query string; unknown values are dropped (a stale shared link still opens)."""
    try:
        number = max(1, int(page or "1"))
    except ValueError:
        number = 1
    return PortfolioFilters(
        owner=(owner or "").strip().lower() or None,
        band=band if band in BANDS else None,
        segment=segment if segment in SEGMENTS else None,
        search=(search or "").strip()[:100] or None,
        sort=sort if sort in SORTS else "name",
        stage=stage if stage in STAGE_NAMES else None,
        tier=_whole(tier, TIERS),
        page=min(number, 10_000),
    )


@dataclass(frozen=True)
class _Source:
    """Where each account's score is read: its primary model's published version and that
    version's latest stored day (one model for all accounts unless rules assign others)."""

    model: Any
    version: HealthModelVersion | None
    day: dt.date | None
    scale: float
    assignments: health_assignments.Assignments
    #: Per model in use (with rules): (model, published version or None, latest day, scale max).
    models: dict[int, tuple[Any, HealthModelVersion | None, dt.date | None, float]] = field(
        default_factory=dict
    )

    @property
    def mixed(self) -> bool:
        return not self.assignments.single

    def per_account(self, index: int) -> Any:
        """Each account's model's version id (0), latest day (1) or scale (2), in SQL."""

        def value(entry: tuple[Any, HealthModelVersion | None, dt.date | None, float]) -> Any:
            _, version, day, scale = entry
            if index == 0:
                return version.id if version is not None else -1
            return (day or dt.date.min) if index == 1 else scale

        return self.assignments.per_account({m: value(e) for m, e in self.models.items()})


def _model_source(
    session: Session, model: Any
) -> tuple[Any, HealthModelVersion | None, dt.date | None, float]:
    version = health_models.published_version(session, model.id)
    if version is None or version.id is None:
        return model, None, None, 100.0
    day = health_reading.latest_day(session, version.id)
    scale = float(version.definition.get("scale_max", 100.0) or 100.0)
    return model, version, day, scale


def _score_source(session: Session) -> _Source:
    assignments = health_assignments.load(session)
    model = health_models.default_model(session)
    if model is None or model.id is None:
        return _Source(None, None, None, 100.0, assignments)
    _, version, day, scale = _model_source(session, model)
    models = {}
    if not assignments.single:
        models = {
            m: _model_source(session, health_models.get_model(session, m)) for m in assignments.model_ids
        }
    return _Source(model, version, day, scale, assignments, models)


def load_portfolio(
    session: Session,
    *,
    filters: PortfolioFilters,
    now: dt.datetime,
    with_groups: bool = False,
    page_size: int | None = None,
    today: dt.date | None = None,
) -> Portfolio:
    """One page of the accounts matching the filters (deleted and churned ones left out), sorted,
    with their latest score, band, stage, industry tier, a half-year score trend, open tasks and
    next scheduled meeting; plus how many accounts match in all and their ARR. Each account's
    score is its primary model's; sorting by score sorts by the share of each one's scale."""
    page_size = page_size or PAGE_SIZE
    source = _score_source(session)
    model, version, day, scale = source.model, source.version, source.day, source.scale
    tiers = industry_tiers(session, as_of=now)
    snap = ScoreSnapshot
    columns: list[Any] = [
        Account, User, col(snap.score), col(snap.band), col(AccountStage.stage),
        col(RenewalForecast.probability),
    ]
    if source.mixed:
        columns += [source.assignments.model_column(), col(snap.model_version_id)]
    if with_groups:
        columns += [col(snap.measure_values), col(snap.stale_mask)]
    if source.mixed:
        joined = and_(
            col(snap.account_id) == col(Account.id),
            col(snap.model_version_id) == source.per_account(0),
            col(snap.day) == source.per_account(1),
        )
    else:
        joined = and_(
            col(snap.account_id) == col(Account.id),
            col(snap.model_version_id) == (version.id if version else -1),
            col(snap.day) == (day or dt.date.min),
        )
    conditions = _conditions(filters, tiers)

    def joins(query: Any) -> Any:
        return (
            query.join(User, col(User.id) == col(Account.owner_id), isouter=True)
            .join(snap, joined, isouter=True)
            .join(AccountStage, col(AccountStage.account_id) == col(Account.id), isouter=True)
            .join(RenewalForecast, col(RenewalForecast.account_id) == col(Account.id), isouter=True)
            .where(*conditions)
        )

    total, currencies, arr = session.exec(
        joins(
            select(
                func.count(), func.count(func.distinct(col(Account.currency))), func.sum(col(Account.arr))
            ).select_from(Account)
        )
    ).one()
    pages = max(1, -(-int(total) // page_size))
    number = min(filters.page, pages)
    key = filters.sort.lstrip("-")
    descending = filters.sort.startswith("-")
    score_order: Any = col(snap.score) / source.per_account(2) if source.mixed else col(snap.score)
    order: Any = {
        "name": col(Account.name),
        "score": score_order,
        "arr": col(Account.arr),
        "renewal": col(Account.renewal_on),
        "renewal_probability": col(RenewalForecast.probability),
    }[key]
    # Accounts without a score or renewal date go last whichever way the column is sorted.
    query = (
        joins(select(*columns).select_from(Account))
        .order_by(order.is_(None), order.desc() if descending else order.asc(), col(Account.id))
        .offset((number - 1) * page_size)
        .limit(page_size)
    )
    found = session.exec(query).all()
    ids = [r[0].id for r in found]
    own: dict[int, int | None] = {r[0].id: r[6] for r in found} if source.mixed else {}
    extra = 8 if source.mixed else 6  # where the measure values are, for the heatmap
    if source.mixed:
        trends = _own_trends(session, source, own, ids)
    else:
        trends = _trends(session, model, ids, day) if model is not None and day else {}
    meetings = next_meetings(session, account_ids=ids, now=now)
    tasks = open_tasks(session, account_ids=ids, today=today or now.date())
    grader = _Grader(version) if with_groups and version is not None else None
    rows = []
    for r in found:
        tier = tiers.get(r[0].industry or "")
        task_count, overdue = tasks.get(r[0].id, (0, 0))
        own_model = source.models.get(own.get(r[0].id) or 0) if source.mixed else None
        # The heatmap's columns are the default model's measures: other models' rows show none.
        same = own_model is None or (
            own_model[1] is not None and version is not None and own_model[1].id == version.id
        )
        rows.append(
            PortfolioRow(
                account=r[0],
                owner=r[1],
                score=r[2],
                band=r[3],
                trend=trends.get(r[0].id, []),
                next_meeting=meetings.get(r[0].id),
                stage=r[4],
                tier=tier.tier if tier is not None else None,
                is_target=bool(tier is not None and tier.is_target),
                open_tasks=task_count,
                overdue_tasks=overdue,
                grades=grader.grades(r[extra], r[extra + 1])
                if grader is not None and same and r[extra] is not None
                else [],
                model_name=own_model[0].name if own_model is not None else None,
                scale_max=own_model[3] if own_model is not None else None,
                renewal_probability=r[5],
            )
        )
    measures = _measures(version)
    currency = rows[0].account.currency if rows and currencies == 1 else None
    names: str | None
    if source.mixed:
        names = ", ".join(m.name for m, *_ in source.models.values())
    else:
        names = model.name if model is not None else None
    return Portfolio(
        rows,
        day,
        names,
        scale,
        measures,
        total=int(total),
        total_arr=arr if currency is not None else None,
        currency=currency,
        page=number,
        pages=pages,
        page_size=page_size,
    )


def _own_trends(
    session: Session, source: _Source, own: dict[int, int | None], ids: Sequence[int | None]
) -> dict[int, list[float]]:
    """Each account's trend under its own model, one query per model in use on the page."""
    out: dict[int, list[float]] = {}
    for model_id in {m for m in own.values() if m is not None}:
        model, _, day, _ = source.models[model_id]
        if day is None:
            continue
        out.update(_trends(session, model, [a for a in ids if own.get(a or 0) == model_id], day))
    return out


def _conditions(filters: PortfolioFilters, tiers: dict[str, IndustryTier]) -> list[Any]:
    """The filters as conditions on the portfolio query (active accounts only)."""
    snap = ScoreSnapshot
    conditions: list[Any] = [col(Account.status) == "active"]
    if filters.owner == "none":
        conditions.append(col(Account.owner_id).is_(None))
    elif filters.owner:
        conditions.append(col(User.email) == filters.owner)
    if filters.band:
        conditions.append(col(snap.band) == filters.band)
    if filters.segment:
        conditions.append(col(Account.segment) == filters.segment)
    if filters.stage:
        conditions.append(col(AccountStage.stage) == filters.stage)
    if filters.tier is not None:
        industries = sorted(name for name, t in tiers.items() if t.tier == filters.tier)
        conditions.append(col(Account.industry).in_(industries))
    if filters.search:
        needle = f"%{filters.search.lower()}%"
        conditions.append(or_(
            func.lower(col(Account.name)).like(needle),
            func.lower(col(Account.external_id)).like(needle),
            func.lower(func.coalesce(col(Account.industry), "")).like(needle),
        ))
    return conditions


def _measures(version: HealthModelVersion | None) -> list[tuple[str, str, str]]:
    """The heatmap's columns: (group name, measure key, measure name) in the definition's order."""
    measures: list[tuple[str, str, str]] = []
    if version is not None:
        for group in version.definition.get("groups", []):
            for measure in group.get("measures", []):
                measures.append((group.get("name", group.get("key", "")), measure["key"],
                                 measure.get("name", measure["key"])))
    return measures


def open_tasks(
    session: Session, *, account_ids: Sequence[int | None], today: dt.date
) -> dict[int, tuple[int, int]]:
    """Per account: how many tasks are open, and how many of them are past their due date."""
    if not account_ids:
        return {}
    overdue = func.sum(case((col(Task.due_on) < today, 1), else_=0))
    rows = session.exec(
        select(col(Task.account_id), func.count(), overdue)
        .where(col(Task.status) == "open", col(Task.account_id).in_(list(account_ids)))
        .group_by(col(Task.account_id))
    ).all()
    return {account_id: (int(n), int(late or 0)) for account_id, n, late in rows}


class _Grader:
    """Grades stored measure values the way the scorer does (``grade_value``, else the band of
    the value's fraction), without rescoring whole accounts: the heatmap needs only the grades,
    and for 300 accounts a full rescoring costs more than the rest of the page."""

    def __init__(self, version: HealthModelVersion) -> None:
        self.model = to_model_def(health_models.version_spec(version))
        self.measures = measure_order(self.model)

    def grades(self, values: Sequence[float | None], stale: int) -> list[str | None]:
        out: list[str | None] = []
        for i, (measure, value) in enumerate(zip(self.measures, values, strict=False)):
            if value is None or stale >> i & 1:
                out.append("bad" if measure.missing == "bad" else None)
                continue
            fraction, _, label = grade_value(measure, value)
            out.append(label or band(self.model, fraction * self.model.scale_max))
        return out


def _trends(
    session: Session, model: Any, account_ids: Sequence[int | None], day: dt.date
) -> dict[int, list[float]]:
    if not account_ids:
        return {}
    version_ids = [v.id for v in health_models.versions(session, model.id)]
    rows = session.exec(
        select(col(ScoreSnapshot.account_id), col(ScoreSnapshot.day), col(ScoreSnapshot.score))
        .where(col(ScoreSnapshot.model_version_id).in_(version_ids),
               col(ScoreSnapshot.account_id).in_(list(account_ids)),
               col(ScoreSnapshot.day) > day - dt.timedelta(days=SPARK_DAYS),
               col(ScoreSnapshot.day) <= day)
        .order_by(col(ScoreSnapshot.account_id), col(ScoreSnapshot.day),
                  col(ScoreSnapshot.model_version_id))
    ).all()
    by_day: dict[int, dict[dt.date, float]] = defaultdict(dict)
    for account_id, when, score in rows:
        if score is not None:
            by_day[account_id][when] = score  # a later version wins on the same day
    return {a: [s for _, s in sorted(days.items())] for a, days in by_day.items()}


def next_meetings(
    session: Session, *, account_ids: Sequence[int | None], now: dt.datetime
) -> dict[int, dt.datetime]:
    """Each account's soonest meeting still ahead (from ``meeting_scheduled`` interactions)."""
    if not account_ids:
        return {}
    rows = session.exec(
        select(col(Interaction.account_id), col(Interaction.data))
        .where(col(Interaction.type) == "meeting_scheduled",
               col(Interaction.account_id).in_(list(account_ids)),
               col(Interaction.occurred_at) >= now - SCHEDULE_LOOKBACK)
    ).all()
    wanted = set(account_ids)
    out: dict[int, dt.datetime] = {}
    for account_id, data in rows:
        if account_id not in wanted:
            continue
        try:
            when = dt.datetime.fromisoformat(str((data or {}).get("scheduled_for", "")))
        except ValueError:
            continue
        if when.tzinfo is None or when <= now:
            continue
        if account_id not in out or when < out[account_id]:
            out[account_id] = when
    return out


def owners(session: Session) -> list[User]:
    """Users who may own accounts (active admins and CSMs), by name."""
    return list(session.exec(
        select(User).where(col(User.is_active).is_(True), col(User.role).in_(("admin", "csm")))
        .order_by(col(User.name))
    ).all())


def last_change(session: Session, *, entity: str, entity_id: int) -> PlanAudit | None:
    """The latest recorded change to a plan, goal or step (who made it and when)."""
    return session.exec(
        select(PlanAudit).where(PlanAudit.entity_type == entity, PlanAudit.entity_id == entity_id)
        .order_by(col(PlanAudit.id).desc()).limit(1)
    ).first()


def user_names(session: Session, emails: Sequence[str]) -> dict[str, str]:
    """Display names for these emails (users only; unknown emails are left out)."""
    if not emails:
        return {}
    rows = session.exec(select(User.email, User.name).where(col(User.email).in_(list(emails)))).all()
    return dict(rows)
