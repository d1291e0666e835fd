"""An account's timeline: its interactions, score changes and goal events, newest first, a page at
a time.

Three sources are merged on one key, ``(moment, source rank, id)`` descending: interactions (rank
2), goal events from the plan audit (rank 1) and score changes derived from the stored daily
scores (rank 0). The cursor is the key of the last item shown; each source is asked for the first
``limit + 1`` items after it, so "load more" never skips nor repeats an item, whichever sources the
items came from.

Score changes are what a CSM would want to see beside the meetings: the band changed, or the score
moved by at least ``BIG_MOVE_SHARE`` of the scale between two stored scores (10 points on 0–100).
Goal events are a goal's status changes and its verifications; a goal the automation marked
achieved is left out here because that run also writes a "Goal achieved" note to the timeline.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, true
from sqlmodel import Session, col, select

from app.errors import InvalidInput, NotFound
from app.health import assignments as health_assignments
from app.health import models as health_models
from app.interactions.service import InteractionView
from app.interactions.service import _contacts_of as contacts_of
from app.models import Account, Interaction, PlanAudit, PlanGoal, ScoreSnapshot
from app.pagination import Cursor, decode_cursor, encode_cursor

SORT = "timeline"
#: A move of at least this share of the scale between two stored scores is shown (0.10 × 100 =
#: 10 points; 0.10 × 4 = 0.4 on the adoption scale).
BIG_MOVE_SHARE = 0.10
RANKS = {"interaction": 2, "goal": 1, "score": 0}
SOURCES = tuple(RANKS)


@dataclass(frozen=True)
class ScoreEvent:
    """A band change or a big move between two stored scores (``day`` is the later one's)."""

    day: dt.date
    before: float
    after: float
    band_before: str | None
    band_after: str | None

    @property
    def change(self) -> float:
        return self.after - self.before

    @property
    def band_changed(self) -> bool:
        return self.band_before != self.band_after


@dataclass(frozen=True)
class GoalEvent:
    """A goal's status change or verification, from the plan audit."""

    id: int
    goal_id: int
    goal_title: str | None  # None: the goal was deleted since
    action: str  # "status" | "verify"
    status_before: str | None
    status_after: str | None
    actor: str


@dataclass(frozen=True)
class TimelineItem:
    source: str  # interaction | goal | score
    at: dt.datetime
    id: int
    interaction: InteractionView | None = None
    goal: GoalEvent | None = None
    score: ScoreEvent | None = None

    @property
    def key(self) -> tuple[dt.datetime, int, int]:
        return (self.at, RANKS[self.source], self.id)


@dataclass(frozen=True)
class TimelinePage:
    items: list[TimelineItem]
    next_cursor: str | None


@dataclass(frozen=True)
class TimelineFilter:
    """Which sources to read; ``types`` narrows the interactions (empty: all types)."""

    sources: tuple[str, ...] = SOURCES
    types: tuple[str, ...] = field(default_factory=tuple)


def score_events(
    series: Sequence[tuple[dt.date, float, str | None]],
    *,
    scale_max: float,
    big_move_share: float = BIG_MOVE_SHARE,
) -> list[ScoreEvent]:
    """The changes worth showing in a day-ordered series of (day, score, band), oldest first.

    With scale 100: 62 normal → 75 good is a band change; 80 → 69.5 is both; 50 → 58 is neither.
    """
    out: list[ScoreEvent] = []
    limit = big_move_share * scale_max
    for (_, before, band_before), (day, after, band_after) in itertools.pairwise(series):
        if band_before != band_after or abs(after - before) >= limit - 1e-9:
            out.append(ScoreEvent(day, before, after, band_before, band_after))
    return out


def _encode(item: TimelineItem) -> str:
    return encode_cursor(Cursor(SORT, [item.at.isoformat(), RANKS[item.source]], item.id))


def _decode(token: str) -> tuple[dt.datetime, int, int]:
    cursor = decode_cursor(token, sort=SORT)
    try:
        moment_text, rank = cursor.value
        moment = dt.datetime.fromisoformat(moment_text)
        rank = int(rank)
    except (TypeError, ValueError):
        raise InvalidInput.field("cursor", "not a cursor returned by this API", "query") from None
    if moment.tzinfo is None or rank not in RANKS.values():
        raise InvalidInput.field("cursor", "not a cursor returned by this API", "query")
    return moment, rank, cursor.last_id


def _after(key: tuple[dt.datetime, int, int] | None, source: str, at: Any, row_id: Any) -> Any:
    """The SQL condition for rows of ``source`` that come after the cursor key (newest first)."""
    if key is None:
        return true()
    c_at, c_rank, c_id = key
    rank = RANKS[source]
    if rank < c_rank:
        return at <= c_at
    if rank > c_rank:
        return at < c_at
    return or_(at < c_at, and_(at == c_at, row_id < c_id))


def _interactions(
    session: Session,
    account: Account,
    key: Any,
    types: tuple[str, ...],
    limit: int,
) -> list[TimelineItem]:
    occurred = col(Interaction.occurred_at)
    query = select(Interaction).where(
        col(Interaction.account_id) == account.id, _after(key, "interaction", occurred, col(Interaction.id))
    )
    if types:
        query = query.where(col(Interaction.type).in_(types))
    rows = list(session.exec(query.order_by(occurred.desc(), col(Interaction.id).desc()).limit(limit)))
    contacts = contacts_of(session, (r.id for r in rows if r.id is not None))
    return [
        TimelineItem(
            "interaction",
            r.occurred_at,
            r.id or 0,
            interaction=InteractionView(r, account.external_id, contacts.get(r.id or 0, [])),
        )
        for r in rows
    ]


def _goal_events(session: Session, account: Account, key: Any, limit: int) -> list[TimelineItem]:
    at = col(PlanAudit.at)
    rows = session.exec(
        select(PlanAudit, col(PlanGoal.title))
        .join(PlanGoal, col(PlanGoal.id) == col(PlanAudit.entity_id), isouter=True)
        .where(
            col(PlanAudit.account_id) == account.id,
            col(PlanAudit.entity_type) == "goal",
            col(PlanAudit.action).in_(("update", "auto", "verify")),
            _after(key, "goal", at, col(PlanAudit.id)),
        )
        .order_by(at.desc(), col(PlanAudit.id).desc())
    )
    out: list[TimelineItem] = []
    for audit, title in rows:
        before, after = audit.before or {}, audit.after or {}
        if audit.action == "verify":
            action = "verify"
        elif "status" in after and before.get("status") != after.get("status"):
            if audit.action == "auto" and after.get("status") == "achieved":
                continue  # the automation's "Goal achieved" note is in the timeline already
            action = "status"
        else:
            continue
        out.append(
            TimelineItem(
                "goal",
                audit.at,
                audit.id or 0,
                goal=GoalEvent(
                    audit.id or 0,
                    audit.entity_id,
                    title or after.get("title") or before.get("title"),
                    action,
                    before.get("status"),
                    after.get("status"),
                    audit.actor,
                ),
            )
        )
        if len(out) >= limit:
            break
    return out


def _score_events(
    session: Session,
    account: Account,
    key: Any,
    limit: int,
    tz: ZoneInfo,
) -> list[TimelineItem]:
    model = health_assignments.primary_of(session, account.id or 0).model  # the account's own model
    if model is None or model.id is None:
        return []
    model_versions = health_models.versions(session, model.id)
    published = next((v for v in model_versions if v.state == "published"), None)
    definition = published.definition if published is not None else {}
    scale = float(definition.get("scale_max", 100.0) or 100.0)
    rows = session.exec(
        select(col(ScoreSnapshot.day), col(ScoreSnapshot.score), col(ScoreSnapshot.band))
        .where(
            col(ScoreSnapshot.account_id) == account.id,
            col(ScoreSnapshot.model_version_id).in_([v.id for v in model_versions]),
        )
        .order_by(col(ScoreSnapshot.day), col(ScoreSnapshot.model_version_id))
    ).all()
    by_day: dict[dt.date, tuple[float, str | None]] = {}
    for day, score, band in rows:
        if score is not None:
            by_day[day] = (score, band)  # a later version wins on the same day
    series = [(day, score, band) for day, (score, band) in sorted(by_day.items())]
    items = [
        TimelineItem(
            "score",
            dt.datetime.combine(e.day, dt.time(), tzinfo=tz).astimezone(dt.UTC),
            e.day.toordinal(),
            score=e,
        )
        for e in reversed(score_events(series, scale_max=scale))
    ]
    if key is not None:
        items = [i for i in items if i.key < key]
    return items[:limit]


def account_timeline(
    session: Session,
    *,
    account_id: str,
    filter_in: TimelineFilter,
    cursor: str | None,
    limit: int,
    tz: ZoneInfo,
) -> TimelinePage:
    """One page of the account's timeline, newest first, across the chosen sources."""
    account = session.exec(
        select(Account).where(Account.external_id == account_id, Account.status != "deleted")
    ).first()
    if account is None:
        raise NotFound(f"no account with id {account_id!r}")
    key = _decode(cursor) if cursor else None
    items: list[TimelineItem] = []
    if "interaction" in filter_in.sources:
        items += _interactions(session, account, key, filter_in.types, limit + 1)
    if "goal" in filter_in.sources:
        items += _goal_events(session, account, key, limit + 1)
    if "score" in filter_in.sources:
        items += _score_events(session, account, key, limit + 1, tz)
    items.sort(key=lambda i: i.key, reverse=True)
    if len(items) > limit:
        return TimelinePage(items[:limit], _encode(items[limit - 1]))
    return TimelinePage(items, None)
