"""Storing messages: raw events (each ``(source, messageId)`` once), the accounts, users and
contacts their group and identify calls change, and the attribution of usage to accounts.

Storing a batch: apply group calls (upsert the account, link the user); store the raw
events, skipping any ``(source, messageId)`` already stored so a retried batch counts once;
apply identify calls (upsert the contact); and add the new usage events to the daily rollups.
Usage events that cannot be attributed to an account yet are stored as *pending* (account_id
null) and attributed, rollups included, when the group call that links them arrives.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, cast
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import and_, or_, select, update
from sqlmodel import Session

from app.db import table_of
from app.ingest import identities, outcomes, rollups
from app.ingest.checks import IngestResult, parse_batch
from app.ingest.rollups import UsageRow
from app.ingest.segment import USAGE_TYPES, Message, user_key
from app.ingest.statements import Sql, sql_of
from app.models import Event, Source

EVENT = table_of(Event)


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
    """Check and store a batch of Segment messages for ``source`` at once, without the log."""
    assert source.id is not None
    result = IngestResult()
    messages = parse_batch(raws, received_at, batch_sent_at, implied_type, result, set())
    if messages:
        store_messages(session, source, messages, [received_at] * len(messages), tz, result)
    day = received_at.astimezone(tz).date()
    outcomes.add_stats(session, source.id, day, result.accepted, len(result.rejected), result.duplicates)
    outcomes.log_rejections(session, source.id, raws, result.rejected, received_at)
    return result


def store_messages(
    session: Session,
    source: Source,
    messages: list[Message],
    received: list[dt.datetime],
    tz: ZoneInfo,
    result: IngestResult,
) -> None:
    """Store messages (deduplicated within themselves) received at ``received`` (one each)."""
    received_at = max(received)
    groups = sorted(  # by account, then batch order: row locks in one order across transactions
        (m for m in messages if m.type == "group" and m.group_id), key=lambda m: m.group_id or ""
    )
    known = _read_attribution(session, messages, groups)
    # Group calls first, so that usage in the same batch is attributed to their accounts.
    _apply_group_calls(session, messages, groups, known, received_at)
    sql = sql_of(session)
    rows, attributions = _event_rows(sql, source, messages, received, known)
    new_ids = _insert_events(session, sql, rows)
    result.accepted += len(new_ids)
    result.duplicates += len(messages) - len(new_ids)
    usage, fresh_links = _apply_new(session, messages, attributions, new_ids, known, tz, received_at, result)

    # Events that named one of these accounts before it existed, or came from a user whose
    # account we did not know, are attributed now.
    grouped = sorted({m.group_id for m in groups if m.group_id})
    if fresh_links or grouped:
        usage.extend(_attribute_pending(session, fresh_links, grouped, known.accounts, tz))
    rollups.add_usage(session, usage, received_at)
    sql.execute(
        session,
        f"UPDATE source SET last_event_at = {sql.marks(1)} WHERE id = {sql.marks(1, 2)}",  # noqa: S608
        [sql.time(received_at), source.id],
    )


@dataclass
class _Attribution:
    """What says which account a message belongs to while a batch is stored."""

    accounts: dict[str, int]  # external id -> account id, of the accounts the batch names
    known_links: dict[str, int]  # user -> account, linked before this batch
    links: dict[str, int] = field(default_factory=dict)  # user -> account, by this batch's group calls

    def account_of(self, m: Message) -> int | None:
        if m.type not in USAGE_TYPES:
            return self.accounts.get(m.group_id or "")
        if m.group_id:
            return self.accounts.get(m.group_id)
        if m.user_id:
            return self.links.get(m.user_id) or self.known_links.get(m.user_id)
        return None


def _read_attribution(session: Session, messages: list[Message], groups: list[Message]) -> _Attribution:
    """The accounts the messages name and the stored links of the users whose usage names none
    (on PostgreSQL read again once no concurrent batch can change them)."""
    named = {m.group_id for m in messages if m.group_id}
    accounts = identities.account_ids(session, named)
    grouping_users = {m.user_id for m in groups if m.user_id}
    unlinked = {
        m.user_id
        for m in messages
        if m.type in USAGE_TYPES and m.user_id and not m.group_id and m.user_id not in grouping_users
    }
    known_links = identities.user_links(session, unlinked)
    if session.get_bind().dialect.name == "postgresql":
        _serialise_with_attribution(session, messages, groups, accounts, unlinked, known_links)
    return _Attribution(accounts, known_links)


def _apply_group_calls(
    session: Session, messages: list[Message], groups: list[Message], known: _Attribution, now: dt.datetime
) -> None:
    """Create or update the accounts the group calls name, and note the users they link."""
    for m in groups:
        assert m.group_id is not None
        known.accounts[m.group_id] = identities.upsert_account(session, m.group_id, m.traits, now)
    for m in messages:
        if m.type == "group" and m.group_id and m.user_id:
            known.links[m.user_id] = known.accounts[m.group_id]


def _event_rows(
    sql: Sql, source: Source, messages: list[Message], received: list[dt.datetime], known: _Attribution
) -> tuple[list[tuple[Any, ...]], list[int | None]]:
    """The messages' event rows, sorted by message id, and each message's account (or None)."""
    times: dict[dt.datetime, Any] = {}
    attributions: list[int | None] = []
    rows: list[tuple[Any, ...]] = []
    account_of = known.account_of
    for m, at in zip(messages, received, strict=True):
        account_id = account_of(m)
        attributions.append(account_id)
        stamp = times.get(at)
        if stamp is None:
            stamp = times[at] = sql.time(at)
        rows.append(
            (
                source.id,
                m.message_id,
                m.type,
                m.name,
                m.user_id,
                m.anonymous_id,
                m.group_id,
                account_id,
                sql.time(m.occurred_at),
                stamp,
                m.payload_json or _json(m.payload),
            )
        )
    # Sorted, so that two transactions racing on the same messages wait rather than deadlock.
    rows.sort(key=lambda r: cast(str, r[1]))
    return rows, attributions


def _insert_events(session: Session, sql: Sql, rows: list[tuple[Any, ...]]) -> set[str]:
    """Insert the event rows not stored yet; the message ids of those inserted."""
    return {
        row[0]
        for row in sql.run(
            session,
            f"INSERT INTO {EVENT.name} (source_id, message_id, type, name, user_id, "
            "anonymous_id, group_id, account_id, occurred_at, received_at, payload)",
            rows,
            "ON CONFLICT (source_id, message_id) DO NOTHING RETURNING message_id",
            json_at=10,
        )
    }


def _apply_new(
    session: Session,
    messages: list[Message],
    attributions: list[int | None],
    new_ids: set[str],
    known: _Attribution,
    tz: ZoneInfo,
    now: dt.datetime,
    result: IngestResult,
) -> tuple[list[UsageRow], dict[str, int]]:
    """Apply the messages stored for the first time: their usage rows (or count them pending),
    their identify calls and their group calls' links; the usage rows and the new links."""
    usage: list[UsageRow] = []
    fresh_links: dict[str, int] = {}
    for m, attributed in zip(messages, attributions, strict=True):
        if m.message_id not in new_ids:
            continue
        if m.type in USAGE_TYPES:
            if attributed is None:
                result.pending += 1
            else:
                usage.append(
                    UsageRow(
                        attributed,
                        m.occurred_at.astimezone(tz).date(),
                        m.name or m.type,
                        m.user_key,
                        m.occurred_at,
                    )
                )
        elif m.type == "identify" and m.user_id:
            account_id = known.accounts.get(m.group_id or "") or known.links.get(m.user_id)
            identities.identify(session, m.user_id, m.traits, account_id, now)
        elif m.type == "group" and m.user_id and m.group_id:
            identities.link_user(session, m.user_id, known.accounts[m.group_id], now)
            # Every new group call, not only a moved link: an identify earlier in this batch
            # may already have recorded the link, and the user's older events still wait.
            fresh_links[m.user_id] = known.accounts[m.group_id]
    return usage, fresh_links


def _serialise_with_attribution(
    session: Session,
    messages: list[Message],
    groups: list[Message],
    accounts: dict[str, int],
    unlinked: set[str],
    known_links: dict[str, int],
) -> None:
    """On PostgreSQL, make storing a pending event and attributing it mutually exclusive.

    Without this, a batch with a user's first event and a concurrent batch with the user's
    group call can each miss the other (neither sees the other's uncommitted rows) and leave the
    event pending forever. Transactional advisory locks, one per user or account id involved,
    taken before any write and in sorted order, serialise just those transactions; the reads
    made before waiting are then repeated (READ COMMITTED sees what the other committed).
    Users and accounts that are created here are locked too, so two batches never race to
    insert the same account, user or contact. SQLite needs none of this: it has one writer.

    Within one process batches are written one transaction at a time (``app.api.segment``), so
    they never wait for each other here; between processes, a transaction that already wrote
    other batches of its group may deadlock with another, and PostgreSQL then fails one of them
    (the clients retry its batches: 503).
    """
    grouped = {m.group_id for m in groups if m.group_id}
    waiting_groups = {
        m.group_id
        for m in messages
        if m.type in USAGE_TYPES and m.group_id and m.group_id not in accounts and m.group_id not in grouped
    }
    waiting_users = unlinked - known_links.keys()
    users = {m.user_id for m in messages if m.type in ("group", "identify") and m.user_id}
    keys = {_lock_key("user", u) for u in users | waiting_users}
    keys |= {_lock_key("account", g) for g in grouped | waiting_groups}
    if not keys:
        return
    sql_of(session).execute(
        session, "SELECT pg_advisory_xact_lock(k) FROM unnest(CAST($1 AS bigint[])) AS t(k)", [sorted(keys)]
    )
    if waiting_groups:
        accounts.update(identities.account_ids(session, waiting_groups))
    if waiting_users:
        known_links.update(identities.user_links(session, waiting_users))


def _lock_key(kind: str, value: str) -> int:
    """A signed 64-bit advisory lock key for a user or account id (collisions only wait)."""
    digest = hashlib.blake2b(f"bansou:ingest:{kind}:{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


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
        select(
            EVENT.c.id,
            EVENT.c.type,
            EVENT.c.name,
            EVENT.c.user_id,
            EVENT.c.anonymous_id,
            EVENT.c.group_id,
            EVENT.c.occurred_at,
        ).where(EVENT.c.account_id.is_(None), EVENT.c.type.in_(USAGE_TYPES), or_(*conditions))
    ).all()
    by_account: dict[int, list[int]] = defaultdict(list)
    usage = []
    for id_, kind, name, user_id, anonymous_id, group_id, occurred_at in rows:
        account_id = accounts.get(group_id) if group_id else links.get(user_id)
        if account_id is None:
            continue
        occurred = occurred_at if occurred_at.tzinfo else occurred_at.replace(tzinfo=dt.UTC)
        by_account[account_id].append(id_)
        usage.append(
            UsageRow(
                account_id,
                occurred.astimezone(tz).date(),
                name or kind,
                user_key(user_id, anonymous_id),
                occurred,
            )
        )
    for account_id, ids in by_account.items():
        for start in range(0, len(ids), 500):
            session.execute(
                update(EVENT).where(EVENT.c.id.in_(ids[start : start + 500])).values(account_id=account_id)
            )
    return usage


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def attribute_pending_for_account(
    session: Session, *, account_id: int, external_id: str, tz: ZoneInfo, now: dt.datetime
) -> int:
    """Attribute events that named this account before it existed (e.g. it was just created
    through the API or an import); returns how many."""
    usage = _attribute_pending(session, {}, [external_id], {external_id: account_id}, tz)
    rollups.add_usage(session, usage, now)
    return len(usage)


def purge_events(session: Session, *, before: dt.datetime, chunk: int = 10_000) -> int:
    """Delete raw events received before ``before`` (rollups stay); returns how many."""
    deleted = 0
    while True:
        ids = (
            session.execute(select(EVENT.c.id).where(EVENT.c.received_at < before).limit(chunk))
            .scalars()
            .all()
        )
        if not ids:
            return deleted
        session.execute(EVENT.delete().where(EVENT.c.id.in_(ids)))
        deleted += len(ids)
