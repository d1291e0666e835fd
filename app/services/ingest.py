"""Ingestion: Segment-format messages in, raw events and daily rollups out, in one transaction.

For each batch: parse and check every message (bad ones are rejected one by one, with the reason
logged for the source); apply group calls (upsert the account, link the user); store the raw
events, skipping any ``(source, messageId)`` already stored so a retried batch counts once;
apply identify calls (upsert the contact); and add the new usage events to the daily rollups.
Usage events that cannot be attributed to an account yet are stored as *pending* (account_id
null) and attributed, rollups included, when the group call that links them arrives.

Rollups are kept exact under retries and concurrency by counting distinct users through
``INSERT ... ON CONFLICT DO NOTHING RETURNING`` on the sets behind each count.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, cast
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Table, and_, case, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from app.models import (
    Account,
    AccountActivity,
    Contact,
    Event,
    IngestError,
    Source,
    SourceDailyStat,
    TrackedUser,
    UsageAccountDay,
    UsageActiveUser,
    UsageDaily,
    UsageDailyUser,
)
from app.services.segment import USAGE_TYPES, Message, Rejected, parse_message

#: At most this many rejected messages per batch are written to the source's error log.
MAX_LOGGED_REJECTIONS = 50
_EXCERPT = 2000


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


EVENT = _table(Event)
USAGE_DAILY = _table(UsageDaily)
USAGE_DAILY_USER = _table(UsageDailyUser)
USAGE_ACCOUNT_DAY = _table(UsageAccountDay)
USAGE_ACTIVE_USER = _table(UsageActiveUser)
ACCOUNT_ACTIVITY = _table(AccountActivity)
SOURCE_DAILY_STAT = _table(SourceDailyStat)
INGEST_ERROR = _table(IngestError)


@dataclass(frozen=True)
class Rejection:
    index: int
    message_id: str | None
    reason: str


@dataclass
class IngestResult:
    accepted: int = 0  # new messages stored
    duplicates: int = 0  # already stored earlier (a retry): acknowledged, not counted again
    pending: int = 0  # new usage events not attributable to an account yet
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def acknowledged(self) -> int:
        return self.accepted + self.duplicates


@dataclass(frozen=True)
class UsageRow:
    account_id: int
    day: dt.date
    event: str
    user_key: str
    occurred_at: dt.datetime


def _insert(session: Session, table: Table) -> Any:
    """An INSERT that understands ON CONFLICT on both engines."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def ingest_messages(
    session: Session,
    *,
    source: Source,
    raws: list[Any],
    received_at: dt.datetime,
    tz: ZoneInfo,
    batch_sent_at: dt.datetime | None = None,
    implied_type: str | None = None,
) -> IngestResult:
    """Store a batch of Segment messages for ``source``; see the module docstring."""
    assert source.id is not None
    result = IngestResult()
    messages: list[Message] = []
    seen: set[str] = set()
    for index, raw in enumerate(raws):
        try:
            msg = parse_message(
                raw, received_at=received_at, batch_sent_at=batch_sent_at,
                implied_type=implied_type,
            )
        except Rejected as exc:
            message_id = raw.get("messageId") if isinstance(raw, dict) else None
            result.rejected.append(
                Rejection(index, str(message_id)[:255] if message_id else None, str(exc))
            )
            continue
        if msg.message_id in seen:  # the same message twice in one batch
            result.duplicates += 1
            continue
        seen.add(msg.message_id)
        messages.append(msg)

    if messages:
        _store(session, source, messages, received_at, tz, result)
    _record_stats(session, source, raws, result, received_at, tz)
    return result


def _store(
    session: Session,
    source: Source,
    messages: list[Message],
    received_at: dt.datetime,
    tz: ZoneInfo,
    result: IngestResult,
) -> None:
    named = {m.group_id for m in messages if m.group_id}
    accounts = _account_ids(session, named)
    links: dict[str, int] = {}

    # Group calls first, so that usage in the same batch is attributed to their accounts.
    for m in messages:
        if m.type == "group" and m.group_id:
            accounts[m.group_id] = _upsert_account(session, m.group_id, m.traits, received_at)
            if m.user_id:
                links[m.user_id] = accounts[m.group_id]

    unlinked = {
        m.user_id for m in messages
        if m.type in USAGE_TYPES and m.user_id and not m.group_id and m.user_id not in links
    }
    known_links = _user_links(session, unlinked)

    def account_for(m: Message) -> int | None:
        if m.group_id:
            return accounts.get(m.group_id)
        if m.user_id:
            return links.get(m.user_id) or known_links.get(m.user_id)
        return None

    rows = []
    for m in messages:
        account_id = account_for(m) if m.type in USAGE_TYPES else accounts.get(m.group_id or "")
        rows.append({
            "source_id": source.id, "message_id": m.message_id, "type": m.type, "name": m.name,
            "user_id": m.user_id, "anonymous_id": m.anonymous_id, "group_id": m.group_id,
            "account_id": account_id, "occurred_at": m.occurred_at, "received_at": received_at,
            "payload": m.payload,
        })
    stmt = _insert(session, EVENT).on_conflict_do_nothing(
        index_elements=["source_id", "message_id"]
    ).returning(EVENT.c.message_id)
    new_ids = set(session.execute(stmt, rows).scalars().all())
    result.accepted += len(new_ids)
    result.duplicates += len(messages) - len(new_ids)

    usage: list[UsageRow] = []
    fresh_links: dict[str, int] = {}
    for m, row in zip(messages, rows, strict=True):
        if m.message_id not in new_ids:
            continue
        if m.type in USAGE_TYPES:
            attributed = cast("int | None", row["account_id"])
            if attributed is None:
                result.pending += 1
            else:
                usage.append(UsageRow(
                    attributed, m.occurred_at.astimezone(tz).date(), m.name or m.type,
                    m.user_key, m.occurred_at,
                ))
        elif m.type == "identify" and m.user_id:
            account_id = accounts.get(m.group_id or "") or links.get(m.user_id)
            _identify(session, m.user_id, m.traits, account_id, received_at)
        elif (
            m.type == "group" and m.user_id and m.group_id
            and _link_user(session, m.user_id, accounts[m.group_id], received_at)
        ):
            fresh_links[m.user_id] = accounts[m.group_id]

    # Events that named one of these accounts before it existed, or came from a user whose
    # account we did not know, are attributed now.
    grouped = sorted({m.group_id for m in messages if m.type == "group" and m.group_id})
    if fresh_links or grouped:
        usage.extend(_attribute_pending(session, fresh_links, grouped, accounts, tz))
    add_usage(session, usage, received_at)
    session.execute(
        update(_table(Source)).where(_table(Source).c.id == source.id)
        .values(last_event_at=received_at)
    )


def _account_ids(session: Session, external_ids: set[str]) -> dict[str, int]:
    if not external_ids:
        return {}
    table = _table(Account)
    rows = session.execute(
        select(table.c.external_id, table.c.id).where(table.c.external_id.in_(external_ids))
    ).all()
    return {ext: id_ for ext, id_ in rows}


def _user_links(session: Session, user_ids: set[str]) -> dict[str, int]:
    if not user_ids:
        return {}
    table = _table(TrackedUser)
    rows = session.execute(
        select(table.c.user_id, table.c.account_id)
        .where(table.c.user_id.in_(user_ids), table.c.account_id.is_not(None))
    ).all()
    return {u: a for u, a in rows}


def _text(value: Any, limit: int) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text[:limit] or None


def _seats(traits: dict[str, Any]) -> int | None:
    for key in ("licensed_seats", "licensedSeats", "seats"):
        value = traits.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return int(value)
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
    return None


def _upsert_account(
    session: Session, external_id: str, traits: dict[str, Any], now: dt.datetime
) -> int:
    """Create the account a group call names, or update it from the call's traits."""
    account = session.execute(
        select(Account).where(Account.external_id == external_id)  # type: ignore[arg-type]
    ).scalar_one_or_none()
    if account is None:
        account = Account(
            external_id=external_id, name=_text(traits.get("name"), 255) or external_id,
            created_at=now, updated_at=now, traits={},
        )
    changed = False
    for attr, key, limit in (("name", "name", 255), ("industry", "industry", 100),
                             ("plan", "plan", 100)):
        value = _text(traits.get(key), limit)
        if value and getattr(account, attr) != value:
            setattr(account, attr, value)
            changed = True
    seats = _seats(traits)
    if seats is not None and account.licensed_seats != seats:
        account.licensed_seats = seats
        changed = True
    merged = {**(account.traits or {}), **traits}
    if merged != account.traits:
        account.traits = merged
        changed = True
    if changed or account.id is None:
        account.updated_at = now
        session.add(account)
        session.flush()
    assert account.id is not None
    return account.id


def _tracked_user(session: Session, user_id: str) -> TrackedUser | None:
    return session.execute(
        select(TrackedUser).where(TrackedUser.user_id == user_id)  # type: ignore[arg-type]
    ).scalar_one_or_none()


def _link_user(session: Session, user_id: str, account_id: int, now: dt.datetime) -> bool:
    """Record the user's latest group link; True when it is new or moved. Creates the contact."""
    user = _tracked_user(session, user_id)
    moved = user is None or user.account_id != account_id
    if user is None:
        user = TrackedUser(user_id=user_id, account_id=account_id, traits={},
                           first_seen_at=now, last_seen_at=now)
    user.account_id = account_id
    user.last_seen_at = now
    session.add(user)
    _upsert_contact(session, user_id, user.traits, account_id, now)
    session.flush()
    return moved


def _identify(
    session: Session, user_id: str, traits: dict[str, Any], account_id: int | None,
    now: dt.datetime,
) -> None:
    user = _tracked_user(session, user_id)
    if user is None:
        user = TrackedUser(user_id=user_id, account_id=None, traits={},
                           first_seen_at=now, last_seen_at=now)
    user.traits = {**(user.traits or {}), **traits}
    user.last_seen_at = now
    account_id = account_id or user.account_id
    user.account_id = account_id
    session.add(user)
    if account_id is not None:
        _upsert_contact(session, user_id, user.traits, account_id, now)
    session.flush()


def _upsert_contact(
    session: Session, user_id: str, traits: dict[str, Any], account_id: int, now: dt.datetime
) -> None:
    contact = session.execute(
        select(Contact).where(Contact.external_id == user_id)  # type: ignore[arg-type]
    ).scalar_one_or_none()
    if contact is None:
        contact = Contact(account_id=account_id, external_id=user_id, traits={},
                          created_at=now, updated_at=now)
    contact.account_id = account_id
    email = _text(traits.get("email"), 320)
    if email and "@" in email:
        contact.email = email.lower()
    name = _text(traits.get("name"), 200) or _text(
        " ".join(str(traits[k]) for k in ("lastName", "firstName") if traits.get(k)), 200
    )
    if name:
        contact.name = name
    title = _text(traits.get("title"), 200)
    if title:
        contact.title = title
    contact.traits = {**(contact.traits or {}), **traits}
    contact.updated_at = now
    session.add(contact)


def _attribute_pending(
    session: Session,
    links: dict[str, int],
    group_ids: list[str],
    accounts: dict[str, int],
    tz: ZoneInfo,
) -> list[UsageRow]:
    """Attribute waiting usage events to accounts that just became known; their usage rows."""
    conditions = []
    if links:
        conditions.append(and_(EVENT.c.group_id.is_(None), EVENT.c.user_id.in_(links)))
    if group_ids:
        conditions.append(EVENT.c.group_id.in_(group_ids))
    rows = session.execute(
        select(EVENT.c.id, EVENT.c.type, EVENT.c.name, EVENT.c.user_id, EVENT.c.anonymous_id,
               EVENT.c.group_id, EVENT.c.occurred_at)
        .where(EVENT.c.account_id.is_(None), EVENT.c.type.in_(USAGE_TYPES), or_(*conditions))
    ).all()
    by_account: dict[int, list[int]] = defaultdict(list)
    usage = []
    for id_, kind, name, user_id, anonymous_id, group_id, occurred_at in rows:
        account_id = accounts.get(group_id) if group_id else links.get(user_id)
        if account_id is None:
            continue
        occurred = occurred_at if occurred_at.tzinfo else occurred_at.replace(tzinfo=dt.UTC)
        by_account[account_id].append(id_)
        user_key = user_id if user_id is not None else f"anon:{anonymous_id}"
        usage.append(UsageRow(account_id, occurred.astimezone(tz).date(), name or kind,
                              user_key, occurred))
    for account_id, ids in by_account.items():
        for start in range(0, len(ids), 500):
            session.execute(
                update(EVENT).where(EVENT.c.id.in_(ids[start:start + 500]))
                .values(account_id=account_id)
            )
    return usage


def add_usage(session: Session, usage: list[UsageRow], received_at: dt.datetime) -> None:
    """Add new (never seen before) usage events to the daily rollups."""
    if not usage:
        return
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

    new_users: Counter[tuple[int, dt.date, str]] = Counter()
    stmt = _insert(session, USAGE_DAILY_USER).on_conflict_do_nothing().returning(
        USAGE_DAILY_USER.c.account_id, USAGE_DAILY_USER.c.day, USAGE_DAILY_USER.c.event
    )
    params = [{"account_id": a, "day": d, "event": e, "user_key": u} for a, d, e, u in pairs]
    for a, d, e in session.execute(stmt, params).all():
        new_users[(a, d, e)] += 1

    ins = _insert(session, USAGE_DAILY)
    session.execute(
        ins.on_conflict_do_update(
            index_elements=["account_id", "day", "event"],
            set_={
                "event_count": USAGE_DAILY.c.event_count + ins.excluded.event_count,
                "distinct_users": USAGE_DAILY.c.distinct_users + ins.excluded.distinct_users,
            },
        ),
        [{"account_id": a, "day": d, "event": e, "event_count": n,
          "distinct_users": new_users[(a, d, e)]} for (a, d, e), n in counts.items()],
    )

    new_actives: Counter[tuple[int, dt.date]] = Counter()
    stmt = _insert(session, USAGE_ACTIVE_USER).on_conflict_do_nothing().returning(
        USAGE_ACTIVE_USER.c.account_id, USAGE_ACTIVE_USER.c.day
    )
    params = [{"account_id": a, "day": d, "user_key": u} for a, d, u in actives]
    for a, d in session.execute(stmt, params).all():
        new_actives[(a, d)] += 1

    ins = _insert(session, USAGE_ACCOUNT_DAY)
    session.execute(
        ins.on_conflict_do_update(
            index_elements=["account_id", "day"],
            set_={
                "event_count": USAGE_ACCOUNT_DAY.c.event_count + ins.excluded.event_count,
                "active_users": USAGE_ACCOUNT_DAY.c.active_users + ins.excluded.active_users,
            },
        ),
        [{"account_id": a, "day": d, "event_count": n, "active_users": new_actives[(a, d)]}
         for (a, d), n in day_counts.items()],
    )

    ins = _insert(session, ACCOUNT_ACTIVITY)
    session.execute(
        ins.on_conflict_do_update(
            index_elements=["account_id"],
            set_={
                "last_event_at": case(
                    (ins.excluded.last_event_at > ACCOUNT_ACTIVITY.c.last_event_at,
                     ins.excluded.last_event_at),
                    else_=ACCOUNT_ACTIVITY.c.last_event_at,
                ),
                "last_received_at": ins.excluded.last_received_at,
            },
        ),
        [{"account_id": a, "last_event_at": t, "last_received_at": received_at}
         for a, t in latest.items()],
    )


def _record_stats(
    session: Session,
    source: Source,
    raws: list[Any],
    result: IngestResult,
    received_at: dt.datetime,
    tz: ZoneInfo,
) -> None:
    day = received_at.astimezone(tz).date()
    ins = _insert(session, SOURCE_DAILY_STAT)
    session.execute(
        ins.on_conflict_do_update(
            index_elements=["source_id", "day"],
            set_={
                "accepted": SOURCE_DAILY_STAT.c.accepted + ins.excluded.accepted,
                "rejected": SOURCE_DAILY_STAT.c.rejected + ins.excluded.rejected,
                "duplicates": SOURCE_DAILY_STAT.c.duplicates + ins.excluded.duplicates,
            },
        ),
        [{"source_id": source.id, "day": day, "accepted": result.accepted,
          "rejected": len(result.rejected), "duplicates": result.duplicates}],
    )
    if not result.rejected:
        return
    logged = result.rejected[:MAX_LOGGED_REJECTIONS]
    session.execute(
        INGEST_ERROR.insert(),
        [{"source_id": source.id, "received_at": received_at, "message_id": r.message_id,
          "reason": r.reason[:500], "excerpt": _excerpt(raws[r.index])} for r in logged],
    )
    last = result.rejected[-1]
    session.execute(
        update(_table(Source)).where(_table(Source).c.id == source.id)
        .values(last_error_at=received_at, last_error=f"{last.reason}"[:1000])
    )


def _excerpt(raw: Any) -> str:
    try:
        return orjson.dumps(raw).decode()[:_EXCERPT]
    except TypeError:
        return repr(raw)[:_EXCERPT]


def pending_summary(session: Session, *, limit: int = 50) -> dict[str, Any]:
    """Usage events still waiting for an account: how many, since when, and from whom."""
    pending = and_(EVENT.c.account_id.is_(None), EVENT.c.type.in_(USAGE_TYPES))
    total, oldest = session.execute(
        select(func.count(), func.min(EVENT.c.received_at)).where(pending)
    ).one()
    who = func.coalesce(EVENT.c.user_id, "anon:" + func.coalesce(EVENT.c.anonymous_id, ""))
    rows = session.execute(
        select(who.label("who"), EVENT.c.group_id, func.count().label("n"),
               func.min(EVENT.c.received_at).label("oldest"))
        .where(pending).group_by(who, EVENT.c.group_id)
        .order_by(func.count().desc()).limit(limit)
    ).all()
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=dt.UTC)
    return {
        "pending_events": total,
        "oldest_received_at": oldest,
        "by_user": [
            {"user": w, "group_id": g, "events": n,
             "oldest_received_at": o if o is None or o.tzinfo else o.replace(tzinfo=dt.UTC)}
            for w, g, n, o in rows
        ],
    }


def attribute_pending_for_account(
    session: Session, *, account_id: int, external_id: str, tz: ZoneInfo, now: dt.datetime
) -> int:
    """Attribute events that named this account before it existed (e.g. it was just created
    through the API or an import); returns how many."""
    usage = _attribute_pending(session, {}, [external_id], {external_id: account_id}, tz)
    add_usage(session, usage, now)
    return len(usage)


def purge_events(session: Session, *, before: dt.datetime, chunk: int = 10_000) -> int:
    """Delete raw events received before ``before`` (rollups stay); returns how many."""
    deleted = 0
    while True:
        ids = session.execute(
            select(EVENT.c.id).where(EVENT.c.received_at < before).limit(chunk)
        ).scalars().all()
        if not ids:
            return deleted
        session.execute(EVENT.delete().where(EVENT.c.id.in_(ids)))
        deleted += len(ids)
