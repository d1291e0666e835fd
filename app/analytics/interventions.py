"""Intervention effectiveness and breadth vs depth, read from stored scores in a few set-based
queries and computed by ``app.scoring.interventions``.

Scores are the default health model's stored snapshots (the newest version's where a day has
several; a change counts only when both ends come from the same version). Interventions are
interactions of the types in ``INTERACTION_INTERVENTIONS`` (webinars, events and community
sessions only when attended), tech-touch check-in emails (by the day they were sent) and playbook
actions (tasks marked done, by the day they were completed). Days are the team's local days.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlmodel import Session

from app.db import table_of
from app.errors import InvalidInput
from app.health import assignments as health_assignments
from app.health import models as health_models
from app.models import SEGMENTS, Account, Checkin, HealthModel, Interaction, ScoreSnapshot, Task, User
from app.scoring import interventions as pure
from app.scoring.kpis import ATTENDANCE_TYPES  # ``attended: false``: registered, did not come
from app.scoring.playbooks import ACTIONS

ACCOUNT = table_of(Account)
INTERACTION = table_of(Interaction)
SNAPSHOT = table_of(ScoreSnapshot)
TASK = table_of(Task)
CHECKIN = table_of(Checkin)
USER = table_of(User)

WINDOWS = (30, 60)
#: Interaction types analysed as interventions, in the order shown.
INTERACTION_INTERVENTIONS = ("meeting", "call", "training", "webinar", "event", "community")
CHECKIN_KEY = "checkin_email"
ACTION_PREFIX = "action:"
#: What counts as a touch of an account for breadth vs depth: the team reaching out.
TOUCH_TYPES = ("meeting", "call", "email_sent", "training", "webinar", "event")
#: The default period: the last half year of interventions.
DEFAULT_DAYS = 182
MAX_RANGE_DAYS = 400
#: Dates must lie within these years (the windows reach past either end of the period).
YEARS = (1900, 9998)


@dataclass(frozen=True)
class Filters:
    start: dt.date
    end: dt.date
    windows: tuple[int, ...]
    segment: str | None
    owner: str | None  # an owner's email, or "none" for accounts without one


@dataclass(frozen=True)
class TypeEffect:
    key: str  # "training", "checkin_email", "action:feature_rollout"
    kind: str  # "interaction" | "checkin" | "action"
    events: int  # interventions of this type among the scored accounts in the period
    effect: pure.Effect


@dataclass(frozen=True)
class WindowEffects:
    window: int
    anchors: int  # anchor days with a follow-up score
    observations: int
    rows: list[TypeEffect]


@dataclass(frozen=True)
class BreadthDepth:
    start: dt.date | None  # the score days compared (the nearest on or before each end)
    end: dt.date | None
    touch_types: tuple[str, ...]
    buckets: list[pure.TouchBucket]


@dataclass(frozen=True)
class InterventionReport:
    filters: Filters
    model_id: int | None
    model_name: str | None
    scale_max: float | None
    windows: list[WindowEffects]
    breadth_depth: BreadthDepth
    config: pure.EffectConfig


def parse_filters(
    session: Session,
    *,
    start: dt.date | None,
    end: dt.date | None,
    window: int | None,
    segment: str | None,
    owner: str | None,
    today: dt.date,
) -> Filters:
    """Checked filters; the period defaults to the half year up to ``today``."""
    for name, day in (("from", start), ("to", end)):
        if day is not None and not YEARS[0] <= day.year <= YEARS[1]:
            raise InvalidInput.field(name, f"must lie within the years {YEARS[0]}–{YEARS[1]}", "query")
    if end is None:
        end = today
    if start is None:
        start = end - dt.timedelta(days=DEFAULT_DAYS)
    if start > end:
        raise InvalidInput.field("from", "must not be after `to`", "query")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise InvalidInput.field("from", f"the range is limited to {MAX_RANGE_DAYS} days", "query")
    if window is not None and window not in WINDOWS:
        raise InvalidInput.field("window", "must be 30 or 60", "query")
    segment = segment or None
    if segment is not None and segment not in SEGMENTS:
        raise InvalidInput.field("segment", f"must be one of {', '.join(SEGMENTS)}", "query")
    owner = (owner or "").strip().lower() or None
    if owner is not None and owner != "none":
        known = session.execute(select(USER.c.id).where(USER.c.email == owner)).first()
        if known is None:
            raise InvalidInput.field("owner", "no user has this email", "query")
    return Filters(start, end, (window,) if window else WINDOWS, segment, owner)


def _account_conditions(filters: Filters) -> list[Any]:
    """Conditions on ``account`` for the accounts the filters select (never deleted ones)."""
    conditions: list[Any] = [ACCOUNT.c.status != "deleted"]
    if filters.segment:
        conditions.append(ACCOUNT.c.segment == filters.segment)
    if filters.owner == "none":
        conditions.append(ACCOUNT.c.owner_id.is_(None))
    elif filters.owner:
        owner_id = select(USER.c.id).where(USER.c.email == filters.owner).scalar_subquery()
        conditions.append(ACCOUNT.c.owner_id == owner_id)
    return conditions


def _scoped(query: Select[Any], filters: Filters, account_id: Any) -> Select[Any]:
    """Limit a query to the accounts the filters select."""
    return query.join(ACCOUNT, ACCOUNT.c.id == account_id).where(*_account_conditions(filters))


def _instant(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=tz).astimezone(dt.UTC)


def _local_day(at: dt.datetime, tz: ZoneInfo) -> dt.date:
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(tz).date()


class _Scores:
    """Stored scores on chosen days: ``at[(account, day)] = (version, score, band)``."""

    def __init__(
        self,
        session: Session,
        filters: Filters,
        version_ids: list[int],
        days: set[dt.date],
        own: _Own | None = None,
    ) -> None:
        self.at: dict[tuple[int, dt.date], tuple[int, float, str | None]] = {}
        self.segment: dict[int, str | None] = {}
        if not days or not version_ids:
            return
        query = _scoped(
            select(
                SNAPSHOT.c.account_id,
                SNAPSHOT.c.day,
                SNAPSHOT.c.model_version_id,
                SNAPSHOT.c.score,
                SNAPSHOT.c.band,
                ACCOUNT.c.segment,
            ).where(
                SNAPSHOT.c.model_version_id.in_(version_ids),
                SNAPSHOT.c.day.in_(sorted(days)),
                SNAPSHOT.c.score.is_not(None),
            ),
            filters,
            SNAPSHOT.c.account_id,
        )
        if own is not None:  # each account's own model's scores, on the default model's scale
            query = query.where(own.assignments.own_snapshot(SNAPSHOT.c.model_version_id))
        for account_id, day, version, score, band, segment in session.execute(query).all():
            if own is not None:
                score = float(score) * own.factor.get(version, 1.0)
            key = (account_id, day)
            known = self.at.get(key)
            if known is None or version > known[0]:  # the newest version's score wins
                self.at[key] = (version, float(score), band)
            self.segment[account_id] = segment

    def change(self, account_id: int, start: dt.date, end: dt.date) -> float | None:
        first, last = self.at.get((account_id, start)), self.at.get((account_id, end))
        if first is None or last is None or first[0] != last[0]:
            return None
        return last[1] - first[1]


def _events(
    session: Session, filters: Filters, start: dt.date, end: dt.date, tz: ZoneInfo
) -> dict[str, list[tuple[int, dt.date]]]:
    """Every intervention from ``start`` to ``end`` (local days, inclusive), by type key."""
    lo, hi = _instant(start, tz), _instant(end + dt.timedelta(days=1), tz)
    out: dict[str, list[tuple[int, dt.date]]] = defaultdict(list)
    at = INTERACTION.c.occurred_at
    rows = session.execute(
        _scoped(
            select(INTERACTION.c.account_id, INTERACTION.c.type, at, INTERACTION.c.data).where(
                INTERACTION.c.type.in_(INTERACTION_INTERVENTIONS), at >= lo, at < hi
            ),
            filters,
            INTERACTION.c.account_id,
        )
    ).all()
    for account_id, type_, occurred_at, data in rows:
        if type_ in ATTENDANCE_TYPES and isinstance(data, dict) and data.get("attended") is False:
            continue
        out[type_].append((account_id, _local_day(occurred_at, tz)))
    for account_id, sent_at in session.execute(
        _scoped(
            select(CHECKIN.c.account_id, CHECKIN.c.sent_at).where(
                CHECKIN.c.sent_at >= lo, CHECKIN.c.sent_at < hi
            ),
            filters,
            CHECKIN.c.account_id,
        )
    ).all():
        out[CHECKIN_KEY].append((account_id, _local_day(sent_at, tz)))
    for account_id, action, completed_at in session.execute(
        _scoped(
            select(TASK.c.account_id, TASK.c.action, TASK.c.completed_at).where(
                TASK.c.status == "done",
                TASK.c.action.is_not(None),
                TASK.c.completed_at >= lo,
                TASK.c.completed_at < hi,
            ),
            filters,
            TASK.c.account_id,
        )
    ).all():
        out[ACTION_PREFIX + action].append((account_id, _local_day(completed_at, tz)))
    return out


def _type_keys(events: dict[str, list[tuple[int, dt.date]]]) -> list[tuple[str, str]]:
    """(key, kind) of every type shown: all interaction types and the check-in always, playbook
    actions when some were done (in catalog order)."""
    keys = [(t, "interaction") for t in INTERACTION_INTERVENTIONS] + [(CHECKIN_KEY, "checkin")]
    keys += [(ACTION_PREFIX + a, "action") for a in ACTIONS if ACTION_PREFIX + a in events]
    return keys


def effectiveness(
    session: Session,
    *,
    filters: Filters,
    tz: ZoneInfo,
    config: pure.EffectConfig = pure.EffectConfig(),
) -> InterventionReport:
    """Each intervention type's effect on the score 30 and 60 days on, and breadth vs depth."""
    model, version_ids, scale_max = _default_model(session)
    own = _own_models(session, scale_max)
    if own is not None:
        version_ids = list(own.factor)
    last = filters.end + dt.timedelta(days=max(filters.windows) + config.followup_tolerance_days)
    score_days = _score_days(session, version_ids, first=filters.start, last=last)
    anchor_days = pure.anchors([d for d in score_days if d <= filters.end], config)
    followups = {
        w: {a: f for a in anchor_days if (f := pure.followup(a, w, score_days, config)) is not None}
        for w in filters.windows
    }
    touch_start, touch_end = _touch_days(session, version_ids, filters)
    wanted = set(anchor_days) | {f for by in followups.values() for f in by.values()}
    wanted |= {d for d in (touch_start, touch_end) if d is not None}
    scores = _Scores(session, filters, version_ids, wanted, own)
    events = _events(
        session,
        filters,
        filters.start - dt.timedelta(days=max(filters.windows)),
        max([filters.end, *(f for by in followups.values() for f in by.values())]),
        tz,
    )
    windows = [
        _window_effects(
            window,
            followups[window],
            scores=scores,
            events=events,
            anchor_days=anchor_days,
            filters=filters,
            config=config,
        )
        for window in filters.windows
    ]
    touches = _touches(session, filters, tz)
    accounts = _accounts_in_scope(session, filters)
    buckets = pure.breadth_depth(
        (touches.get(a, 0), scores.change(a, touch_start, touch_end) if touch_start and touch_end else None)
        for a in accounts
    )
    return InterventionReport(
        filters,
        model.id if model else None,
        model.name if model else None,
        scale_max,
        windows,
        BreadthDepth(touch_start, touch_end, TOUCH_TYPES, buckets),
        config,
    )


@dataclass(frozen=True)
class _Own:
    """Models per segment: the rules, and each version's factor to the default model's scale."""

    assignments: health_assignments.Assignments
    factor: dict[int, float]


def _own_models(session: Session, scale_max: float | None) -> _Own | None:
    """With models per segment, each account's effects are read under its primary model and put
    on the default model's scale (a share of the scale is kept); None when all share one model."""
    assigned = health_assignments.load(session)
    if assigned.single or scale_max is None:
        return None
    factor: dict[int, float] = {}
    for model_id, ids in assigned.version_ids.items():
        own = health_models.published_version(session, model_id)
        own_scale = float((own.definition if own else {}).get("scale_max", 100.0) or 100.0)
        factor.update(dict.fromkeys(ids, scale_max / own_scale))
    return _Own(assigned, factor)


def _default_model(session: Session) -> tuple[HealthModel | None, list[int], float | None]:
    """The default health model, its versions' ids and its published version's scale."""
    model = health_models.default_model(session)
    version_ids = (
        [v.id for v in health_models.versions(session, model.id) if v.id is not None]
        if model is not None and model.id is not None
        else []
    )
    scale_max = None
    published = (
        health_models.published_version(session, model.id)
        if model is not None and model.id is not None
        else None
    )
    if published is not None:
        scale_max = float(published.definition.get("scale_max", 100.0))
    return model, version_ids, scale_max


def _score_days(session: Session, version_ids: list[int], *, first: dt.date, last: dt.date) -> list[dt.date]:
    """The days with stored scores of these versions from ``first`` to ``last``, in order."""
    if not version_ids:
        return []
    return sorted(
        session.execute(
            select(SNAPSHOT.c.day)
            .where(
                SNAPSHOT.c.model_version_id.in_(version_ids),
                SNAPSHOT.c.day >= first,
                SNAPSHOT.c.day <= last,
            )
            .distinct()
        )
        .scalars()
        .all()
    )


def _window_effects(
    window: int,
    followups: dict[dt.date, dt.date],
    *,
    scores: _Scores,
    events: dict[str, list[tuple[int, dt.date]]],
    anchor_days: list[dt.date],
    filters: Filters,
    config: pure.EffectConfig,
) -> WindowEffects:
    """Each intervention type's matched effect on the score ``window`` days on: the scored
    accounts' changes from each anchor day to its follow-up, treated against controls."""
    scored_accounts = set(scores.segment)
    observations = []
    for anchor, end in followups.items():
        for account_id in scored_accounts:
            change = scores.change(account_id, anchor, end)
            if change is None:
                continue
            band = scores.at[(account_id, anchor)][2]
            observations.append(
                pure.Observation(account_id, anchor, band, scores.segment[account_id], round(change, 4))
            )
    rows = []
    for key, kind in _type_keys(events):
        happened = events.get(key, [])
        treated, controls = pure.split(
            observations,
            happened,
            window=window,
            anchor_days=anchor_days,
            followups=followups,
            config=config,
        )
        in_period = sum(1 for a, d in happened if a in scored_accounts and filters.start <= d <= filters.end)
        rows.append(TypeEffect(key, kind, in_period, pure.matched_effect(treated, controls, config)))
    return WindowEffects(window, len(followups), len(observations), rows)


def _touch_days(
    session: Session, version_ids: list[int], filters: Filters
) -> tuple[dt.date | None, dt.date | None]:
    """The stored score days nearest on or before each end of the period."""
    if not version_ids:
        return None, None

    def latest(day: dt.date) -> dt.date | None:
        found: dt.date | None = session.execute(
            select(func.max(SNAPSHOT.c.day)).where(
                SNAPSHOT.c.model_version_id.in_(version_ids), SNAPSHOT.c.day <= day
            )
        ).scalar()
        return found

    start, end = latest(filters.start), latest(filters.end)
    if start is None or end is None or start >= end:
        return None, None
    return start, end


def _touches(session: Session, filters: Filters, tz: ZoneInfo) -> dict[int, int]:
    """Touches per account in the period (one grouped count)."""
    at = INTERACTION.c.occurred_at
    rows = session.execute(
        _scoped(
            select(INTERACTION.c.account_id, func.count())
            .where(
                INTERACTION.c.type.in_(TOUCH_TYPES),
                at >= _instant(filters.start, tz),
                at < _instant(filters.end + dt.timedelta(days=1), tz),
                # registered for a webinar or event but did not come: no touch
                INTERACTION.c.data["attended"].as_boolean().is_not(False),
            )
            .group_by(INTERACTION.c.account_id),
            filters,
            INTERACTION.c.account_id,
        )
    ).all()
    return {a: int(n) for a, n in rows}


def _accounts_in_scope(session: Session, filters: Filters) -> list[int]:
    """Accounts that were customers for the whole period."""
    query = select(ACCOUNT.c.id).where(*_account_conditions(filters))
    query = query.where(
        (ACCOUNT.c.contract_start_on.is_(None)) | (ACCOUNT.c.contract_start_on <= filters.start),
        (ACCOUNT.c.churned_on.is_(None)) | (ACCOUNT.c.churned_on > filters.end),
    )
    return list(session.execute(query.order_by(ACCOUNT.c.id)).scalars())


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def effect_json(row: TypeEffect, config: pure.EffectConfig) -> dict[str, Any]:
    """One type's effect as JSON-ready values (score points, rounded to 2 decimals)."""
    e = row.effect
    return {
        "type": row.key,
        "kind": row.kind,
        "interventions": row.events,
        "effect": _round(e.effect),
        "ci": {"low": _round(e.ci_low), "high": _round(e.ci_high), "level": config.confidence},
        "treated_mean": _round(e.treated_mean),
        "control_mean": _round(e.control_mean),
        "std_error": _round(e.std_error, 3),
        "df": _round(e.df, 1),
        "treated": e.treated,
        "treated_accounts": e.treated_accounts,
        "unmatched": e.unmatched,
        "controls": e.controls,
        "strata": e.strata,
        "reading": e.reading,
    }


def as_json(report: InterventionReport) -> dict[str, Any]:
    """The report as JSON-ready values (dates as ISO strings)."""
    f, bd = report.filters, report.breadth_depth
    return {
        "from": f.start.isoformat(),
        "to": f.end.isoformat(),
        "segment": f.segment,
        "owner": f.owner,
        "model": None
        if report.model_id is None
        else {"id": report.model_id, "name": report.model_name, "scale_max": report.scale_max},
        "windows": [
            {
                "window": w.window,
                "anchors": w.anchors,
                "observations": w.observations,
                "interventions": [effect_json(r, report.config) for r in w.rows],
            }
            for w in report.windows
        ],
        "breadth_depth": {
            "score_from": bd.start.isoformat() if bd.start else None,
            "score_to": bd.end.isoformat() if bd.end else None,
            "touch_types": list(bd.touch_types),
            "buckets": [
                {
                    "touches": b.label,
                    "accounts": b.accounts,
                    "scored": b.scored,
                    "total_touches": b.touches,
                    "mean_change": _round(b.mean_change),
                    "total_change": _round(b.total_change),
                    "change_per_touch": _round(b.change_per_touch),
                }
                for b in bd.buckets
            ],
        },
        "definitions": DEFINITIONS,
    }


#: What each number means (the API's ``definitions``; the page shows the same in its language).
DEFINITIONS = {
    "effect": "Mean health-score change over the window after the intervention, minus the mean "
    "change of comparable accounts without it (same band and segment on the same day)",
    "ci": "95% confidence interval of the effect (Welch t); an interval that excludes 0 is a "
    "clear difference",
    "treated": "Account-weeks with the intervention that had comparable accounts to match",
    "controls": "Account-weeks without the intervention in the window, in the matched strata",
    "unmatched": "Account-weeks with the intervention but fewer than 2 comparable accounts",
    "reading": "insufficient (fewer than 5 treated or controls), positive, negative or unclear",
    "breadth_depth": "Accounts by number of touches in the period, with their health-score "
    "change from the first to the last day",
}
