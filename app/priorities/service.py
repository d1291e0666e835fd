"""The weekly action list: computed as of Monday 00:00 in the team's time zone, stored, and kept.

A week's list is computed the first time it is asked for (or by the scheduler on Monday) from the
facts as of that Monday, so it does not move under the CSMs during the week; an admin may
recompute it (verdicts already given are kept). Every item carries its breakdown, and CSMs mark
items done or not actionable — the feedback report shows which factors drive rejected items.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from app.accounts.facts import Scale
from app.db import table_of
from app.errors import Conflict, FieldError, InvalidInput, NotFound
from app.lifecycle import rules, stages
from app.models import ITEM_STATUSES, REJECT_REASONS, Account, Interaction, PriorityItem, PriorityList, User
from app.scoring.priorities import (
    FeedbackItem,
    FeedbackReport,
    PriorityWeights,
    Ranked,
    feedback_report,
    rank,
    score_priority,
)

ITEM = table_of(PriorityItem)
LIST = table_of(PriorityList)
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def week_of(day: dt.date) -> str:
    """The ISO week of a day: 2026-11-23 → "2026-W48"."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def parse_week(value: str | None, *, today: dt.date, field: str = "week") -> str:
    """A valid, not-future ISO week ("YYYY-Www"); None → this week."""
    if value is None:
        return week_of(today)
    match = _WEEK.match(value)
    if match is None:
        raise InvalidInput([FieldError(field, "must be an ISO week such as 2026-W48", "query")])
    try:
        monday = dt.date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError as exc:
        raise InvalidInput([FieldError(field, f"no such week: {value}", "query")]) from exc
    if monday > today:
        raise InvalidInput([FieldError(field, "is in the future: a list is computed as of its Monday",
                                       "query")])
    return value


def monday_of(week: str) -> dt.date:
    match = _WEEK.match(week)
    assert match is not None
    return dt.date.fromisocalendar(int(match[1]), int(match[2]), 1)


def week_start(week: str, tz: ZoneInfo) -> dt.datetime:
    """Monday 00:00 of the week in the team's time zone, as UTC."""
    return dt.datetime.combine(monday_of(week), dt.time(), tzinfo=tz).astimezone(dt.UTC)


# -- computing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Computed:
    """A list computed in memory: ranked priorities with what each row shows."""

    week: str
    as_of: dt.datetime
    weights: PriorityWeights
    ranked: list[Ranked]
    context: dict[int, dict[str, Any]]  # per account: score, band, stage, signals


def compute(
    session: Session, *, week: str, tz: ZoneInfo, weights: PriorityWeights | None = None,
    scale: Scale | None = None,
) -> Computed:
    """The week's list as of its Monday (not stored), with the weights in force or the given ones."""
    as_of = week_start(week, tz)
    monday = monday_of(week)
    weights = weights or rules.priority_weights(session).rules
    signal_rules = rules.signal_rules(session)
    assessed = stages.assess(session, at=as_of, tz=tz, scale=scale, signal_rules=signal_rules)
    targets = stages.target_industries(session, day=monday)
    priorities, context = [], {}
    for account_id, a in assessed.items():
        f = a.facts
        kinds = [s.kind for s in a.signals]
        inputs = f.priority_inputs(
            monday, f.scale, signals=kinds, motivation=a.stage.champion_motivation,
            stage=a.stage.stage, is_target=f.industry in targets, signal_rules=signal_rules,
        )
        priorities.append(score_priority(inputs, monday, weights))
        context[account_id] = {"score": f.score, "band": f.band, "stage": a.stage.stage,
                               "signals": sorted(kinds)}
    return Computed(week, as_of, weights, rank(priorities, weights), context)


def _item_rows(list_id: int, computed: Computed) -> list[dict[str, Any]]:
    rows = []
    for r in computed.ranked:
        p = r.priority
        c = computed.context[p.account_id]
        rows.append({
            "list_id": list_id, "account_id": p.account_id, "owner_id": p.owner_id, "rank": r.rank,
            "total": p.total, "factors": [f.to_json() for f in p.factors], "score": c["score"],
            "band": c["band"], "stage": c["stage"], "signals": c["signals"],
            "suppressed_reason": p.suppressed.reason if p.suppressed else None,
            "suppressed_on": p.suppressed.on if p.suppressed else None,
            "status": "open", "reason": None, "reason_text": None, "interaction_id": None,
            "feedback_at": None, "feedback_by": None,
        })
    return rows


def _store(
    session: Session, *, computed: Computed, version: int, now: dt.datetime, author: str
) -> PriorityList:
    row = PriorityList(week=computed.week, as_of=computed.as_of, weights_version=version,
                       weights=computed.weights.to_json(), computed_at=now, computed_by=author)
    with session.begin_nested():
        session.add(row)
        session.flush()
        assert row.id is not None
        items = _item_rows(row.id, computed)
        if items:
            session.execute(ITEM.insert(), items)
    return row


def _stored(session: Session, week: str) -> PriorityList | None:
    return session.execute(select(PriorityList).where(PriorityList.week == week)).scalar_one_or_none()  # type: ignore[arg-type]


def weekly_list(
    session: Session, *, week: str, tz: ZoneInfo, now: dt.datetime, author: str = "system"
) -> PriorityList:
    """The stored list of the week, computed and stored first if nobody asked for it yet."""
    stored = _stored(session, week)
    if stored is not None:
        return stored
    weights = rules.priority_weights(session)
    computed = compute(session, week=week, tz=tz, weights=weights.rules)
    try:
        return _store(session, computed=computed, version=weights.version, now=now, author=author)
    except IntegrityError:  # another request stored it meanwhile: theirs is the week's list
        stored = _stored(session, week)
        if stored is None:
            raise
        return stored


def recompute(
    session: Session, *, week: str, tz: ZoneInfo, now: dt.datetime, author: str
) -> PriorityList:
    """Recomputes the week's list with today's weights and data as of its Monday; verdicts stay."""
    weights = rules.priority_weights(session)
    computed = compute(session, week=week, tz=tz, weights=weights.rules)
    stored = _stored(session, week)
    if stored is None:
        return _store(session, computed=computed, version=weights.version, now=now, author=author)
    assert stored.id is not None
    existing = {
        row.account_id: row.id
        for row in session.execute(
            select(ITEM.c.account_id, ITEM.c.id).where(ITEM.c.list_id == stored.id)
        ).all()
    }
    fresh, changed = [], []
    computed_fields = ("owner_id", "rank", "total", "factors", "score", "band", "stage", "signals",
                       "suppressed_reason", "suppressed_on")
    for item in _item_rows(stored.id, computed):
        item_id = existing.pop(item["account_id"], None)
        if item_id is None:
            fresh.append(item)
        else:  # in place: the item keeps its id and the CSM's verdict
            changed.append({"b_id": item_id, **{f"b_{k}": item[k] for k in computed_fields}})
    if changed:
        session.execute(
            update(ITEM).where(ITEM.c.id == bindparam("b_id"))
            .values(**{k: bindparam(f"b_{k}") for k in computed_fields}),
            changed, execution_options={"synchronize_session": False},
        )
    if existing:  # accounts no longer active
        session.execute(delete(ITEM).where(ITEM.c.id.in_(list(existing.values()))))
    if fresh:
        session.execute(ITEM.insert(), fresh)
    stored.weights_version = weights.version
    stored.weights = weights.rules.to_json()
    stored.computed_at = now
    stored.computed_by = author
    session.add(stored)
    session.flush()
    session.expire_all()
    return stored


# -- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemView:
    item: PriorityItem
    account: Account
    owner: User | None


@dataclass(frozen=True)
class WeekView:
    stored: PriorityList
    items: list[ItemView]  # ranked, by owner then rank
    suppressed: list[ItemView]


def week_view(
    session: Session, *, week: str, tz: ZoneInfo, now: dt.datetime, owner_id: int | None = None,
    limit: int | None = None,
) -> WeekView:
    """The week's top items per CSM (or one CSM's) and the suppressed accounts apart."""
    stored = weekly_list(session, week=week, tz=tz, now=now)
    query = (
        select(PriorityItem, Account)
        .join(Account, Account.id == PriorityItem.account_id)  # type: ignore[arg-type]
        .where(PriorityItem.list_id == stored.id)  # type: ignore[arg-type]
    )
    if owner_id is not None:
        query = query.where(PriorityItem.owner_id == owner_id)  # type: ignore[arg-type]
    users = {u.id: u for u in session.execute(select(User)).scalars()}
    ranked: list[ItemView] = []
    suppressed: list[ItemView] = []
    for item, account in session.execute(query).all():
        view = ItemView(item, account, users.get(item.owner_id))
        if item.rank is not None and (limit is None or item.rank <= limit):
            ranked.append(view)
        elif item.suppressed_reason is not None:
            suppressed.append(view)
    ranked.sort(key=lambda v: (v.owner.email if v.owner else "~", v.item.rank or 0))
    suppressed.sort(key=lambda v: (v.owner.email if v.owner else "~", -v.item.total, v.account.name))
    return WeekView(stored, ranked, suppressed)


def get_item(session: Session, item_id: int) -> PriorityItem:
    item = session.get(PriorityItem, item_id)
    if item is None:
        raise NotFound(f"no weekly list item {item_id}")
    return item


def item_view(session: Session, item: PriorityItem) -> ItemView:
    account = session.get(Account, item.account_id)
    assert account is not None
    return ItemView(item, account, session.get(User, item.owner_id) if item.owner_id else None)


def give_feedback(
    session: Session, *, item_id: int, status: str, interaction_id: int | None, reason: str | None,
    text: str | None, author: str, now: dt.datetime,
) -> PriorityItem:
    """Marks an item done (optionally linking the interaction that did it) or not actionable."""
    item = get_item(session, item_id)
    errors: list[FieldError] = []
    if status not in ITEM_STATUSES:
        errors.append(FieldError("status", f"must be one of {', '.join(ITEM_STATUSES)}"))
    if status == "not_actionable":
        if reason not in REJECT_REASONS:
            errors.append(FieldError("reason", f"must be one of {', '.join(REJECT_REASONS)}"))
        elif reason == "other" and not (text and text.strip()):
            errors.append(FieldError("text", "say why when the reason is 'other'"))
    elif reason is not None:
        errors.append(FieldError("reason", "only a 'not_actionable' verdict takes a reason"))
    if interaction_id is not None:
        if status != "done":
            errors.append(FieldError("interaction_id", "only a 'done' verdict links an interaction"))
        else:
            interaction = session.get(Interaction, interaction_id)
            if interaction is None or interaction.account_id != item.account_id:
                errors.append(FieldError("interaction_id", "no such interaction on this account"))
    if errors:
        raise InvalidInput(errors)
    if item.suppressed_reason is not None and status != "open":
        raise Conflict("a suppressed account is not on the list: there is nothing to mark")
    item.status = status
    item.reason = reason if status == "not_actionable" else None
    item.reason_text = (text.strip() if text else None) if status != "open" else None
    item.interaction_id = interaction_id
    item.feedback_at = now if status != "open" else None
    item.feedback_by = author if status != "open" else None
    session.add(item)
    session.flush()
    return item


def feedback(
    session: Session, *, from_week: str, to_week: str, owner_id: int | None = None
) -> tuple[FeedbackReport, int]:
    """The feedback report over the lists of a range of weeks, and how many lists it read."""
    lists = list(session.execute(
        select(LIST.c.id).where(LIST.c.week >= from_week, LIST.c.week <= to_week)
    ).scalars())
    if not lists:
        return feedback_report([]), 0
    query = select(ITEM.c.status, ITEM.c.factors, ITEM.c.reason).where(
        ITEM.c.list_id.in_(lists), ITEM.c.status != "open")
    if owner_id is not None:
        query = query.where(ITEM.c.owner_id == owner_id)
    items = [
        FeedbackItem(status, [(f["factor"], float(f["points"])) for f in factors], reason)
        for status, factors, reason in session.execute(query).all()
    ]
    return feedback_report(items), len(lists)


@dataclass(frozen=True)
class PreviewRow:
    account: Account
    owner: User | None
    before_rank: int | None
    after_rank: int | None
    before_total: float | None
    after_total: float


def preview(
    session: Session, *, week: str, config_in: dict[str, Any], tz: ZoneInfo, now: dt.datetime,
    owner_id: int | None = None,
) -> tuple[PriorityWeights, list[PreviewRow]]:
    """The week's list as the given weights would make it, beside the stored one (nothing saved)."""
    weights: PriorityWeights = rules.parse("priorities", config_in)
    stored = weekly_list(session, week=week, tz=tz, now=now)
    before = {
        row.account_id: (row.rank, row.total)
        for row in session.execute(
            select(ITEM.c.account_id, ITEM.c.rank, ITEM.c.total).where(ITEM.c.list_id == stored.id)
        ).all()
    }
    computed = compute(session, week=week, tz=tz, weights=weights)
    wanted: list[Ranked] = [
        r for r in computed.ranked
        if (owner_id is None or r.priority.owner_id == owner_id)
        and (r.rank is not None or (before.get(r.priority.account_id, (None, 0))[0] is not None))
    ]
    accounts = _accounts(session, [r.priority.account_id for r in wanted])
    users = {u.id: u for u in session.execute(select(User)).scalars()}
    rows = [
        PreviewRow(accounts[r.priority.account_id], users.get(r.priority.owner_id),
                   before.get(r.priority.account_id, (None, None))[0],
                   r.rank, before.get(r.priority.account_id, (None, None))[1], r.priority.total)
        for r in wanted
    ]
    rows.sort(key=lambda x: (x.owner.email if x.owner else "~", x.after_rank or 10**6,
                             x.before_rank or 10**6))
    return weights, rows


def _accounts(session: Session, ids: Sequence[int]) -> dict[int, Account]:
    if not ids:
        return {}
    return {
        a.id: a for a in session.execute(
            select(Account).where(Account.id.in_(list(ids)))  # type: ignore[union-attr]
        ).scalars() if a.id is not None
    }


#: What a CSM can link as the interaction that did an item.
DOING_TYPES = ("meeting", "call", "email_sent", "training", "note")


def recent_interactions(
    session: Session, *, account_ids: Sequence[int], since: dt.datetime
) -> dict[int, list[Interaction]]:
    """Per account, its meetings, calls, emails, trainings and notes since ``since`` (newest first)."""
    out: dict[int, list[Interaction]] = {a: [] for a in account_ids}
    if not account_ids:
        return out
    rows = session.execute(
        select(Interaction)
        .where(col(Interaction.account_id).in_(list(account_ids)), col(Interaction.occurred_at) >= since,
               col(Interaction.type).in_(DOING_TYPES))
        .order_by(col(Interaction.occurred_at).desc())
    ).scalars()
    for row in rows:
        out[row.account_id].append(row)
    return out
