"""Applying the ingestion log: the applier takes the oldest logged batches, many per
transaction, stores them (``store``) and deletes their log rows in the same transaction.

A crash before that commit leaves the rows to be applied again, and the ``(source, messageId)``
deduplication of storing makes a second application count nothing twice. A message the database
refuses is set aside as a dead letter (``dead_letters``) and the rest of its batch is stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Row, select
from sqlmodel import Session

from app.db import table_of, utcnow
from app.ingest import dead_letters, outcomes, store
from app.ingest.checks import IngestResult, parse_batch
from app.ingest.pacing import APPLY_MESSAGES, take_write_lock
from app.ingest.segment import USAGE_TYPES, Message
from app.ingest.statements import sql_of
from app.models import IngestBatch, Source

log = logging.getLogger("bansou.ingest")

LOG = table_of(IngestBatch)


@dataclass
class Applied:
    """What one ``apply_log`` call did."""

    batches: int = 0
    messages: int = 0
    accepted: int = 0  # new messages stored
    duplicates: int = 0  # already stored (a retried batch): counted once
    pending: int = 0  # new usage events not attributable to an account yet
    rejected: int = 0  # refused at apply time only if the checks changed since acceptance
    set_aside: int = 0  # the database refused them: kept as dead letters (``dead_letters``)
    busy: bool = False  # another process's applier holds the log (PostgreSQL)


_APPLIER_KEY = int.from_bytes(
    hashlib.blake2b(b"bansou:ingest:applier", digest_size=8).digest(), "big", signed=True
)


@dataclass
class _Unit:
    """Consecutive logged batches stored with one ``store.store_messages`` call."""

    source_id: int
    day: dt.date
    mergeable: bool  # usage only: storing it together with its neighbours changes nothing
    messages: list[Message] = field(default_factory=list)
    received: list[dt.datetime] = field(default_factory=list)
    origins: list[dead_letters.Origin] = field(default_factory=list)  # each message's log row
    result: IngestResult = field(default_factory=IngestResult)
    seen: set[str] = field(default_factory=set)
    set_aside: int = 0

    def add(self, messages: list[Message], received_at: dt.datetime, origin: dead_letters.Origin) -> None:
        """Take a logged batch's messages, but those the unit already has (duplicates)."""
        for msg in messages:
            if msg.message_id in self.seen:
                self.result.duplicates += 1
                continue
            self.seen.add(msg.message_id)
            self.messages.append(msg)
            self.received.append(received_at)
            self.origins.append(origin)


def apply_log(
    session: Session,
    *,
    tz: ZoneInfo,
    max_messages: int = APPLY_MESSAGES,
    wait: bool = True,
    now: dt.datetime | None = None,
) -> Applied:
    """Store the oldest logged batches (about ``max_messages`` messages) and delete them from
    the log, in the caller's transaction; a message the database refuses is set aside (see
    ``dead_letters``). One applier at a time: on PostgreSQL an advisory lock (``wait=False``:
    return ``busy`` at once if another process holds it)."""
    applied = Applied()
    now = now or utcnow()
    if not _lock_the_log(session, wait=wait):
        applied.busy = True
        return applied
    ids, applied.messages = _oldest_batches(session, max_messages)
    if not ids:
        return applied
    rows = session.execute(
        select(LOG.c.id, LOG.c.source_id, LOG.c.received_at, LOG.c.sent_at, LOG.c.implied_type, LOG.c.body)
        .where(LOG.c.id.in_(ids))
        .order_by(LOG.c.id)
    ).all()
    sources = {
        s.id: s
        for s in session.execute(
            select(Source).where(Source.id.in_({r.source_id for r in rows}))  # type: ignore[union-attr]
        ).scalars()
    }
    for unit in _units(session, rows, tz):
        _apply_unit(session, sources, unit, tz, now, applied)
    sql_of(session).select_in(session, "DELETE FROM ingest_batch WHERE id", ids)
    dead_letters.clear_failure(session)
    applied.batches = len(ids)
    return applied


def _lock_the_log(session: Session, *, wait: bool) -> bool:
    """Become the one applier (PostgreSQL: the advisory lock; SQLite: the writer); False when
    another process's applier holds the lock and ``wait`` is False."""
    sql = sql_of(session)
    if not sql.postgres:
        take_write_lock(session)
        return True
    if wait:
        sql.execute(session, "SELECT pg_advisory_xact_lock($1)", [_APPLIER_KEY])
        return True
    [(locked,)] = sql.execute(session, "SELECT pg_try_advisory_xact_lock($1)", [_APPLIER_KEY])
    return bool(locked)


def _oldest_batches(session: Session, max_messages: int) -> tuple[list[int], int]:
    """The ids of the oldest logged batches up to about ``max_messages`` messages (at least
    one batch), and how many messages they hold."""
    heads = session.execute(select(LOG.c.id, LOG.c.messages).order_by(LOG.c.id).limit(1000)).all()
    ids: list[int] = []
    messages = 0
    for id_, count in heads:
        if ids and messages + count > max_messages:
            break
        ids.append(id_)
        messages += count
    return ids, messages


def _units(session: Session, rows: Sequence[Row[Any]], tz: ZoneInfo) -> list[_Unit]:
    """The logged batches' messages, in units to store (see ``_Unit``); the messages the checks
    reject now are logged for their source."""
    units: list[_Unit] = []
    for row in rows:
        origin = dead_letters.Origin(row.received_at, row.sent_at, row.implied_type)
        day = row.received_at.astimezone(tz).date()
        unit = units[-1] if units else None
        raws = orjson.loads(row.body)
        probe = IngestResult()
        messages = parse_batch(raws, row.received_at, row.sent_at, row.implied_type, probe, set())
        mergeable = all(m.type in USAGE_TYPES for m in messages)
        if not (
            unit and mergeable and unit.mergeable and unit.source_id == row.source_id and unit.day == day
        ):
            unit = _Unit(row.source_id, day, mergeable)
            units.append(unit)
        unit.result.rejected.extend(probe.rejected)
        if probe.rejected:
            outcomes.log_rejections(session, row.source_id, raws, probe.rejected, row.received_at)
        unit.result.duplicates += probe.duplicates
        unit.add(messages, row.received_at, origin)
    return units


def _apply_unit(
    session: Session,
    sources: dict[int | None, Source],
    unit: _Unit,
    tz: ZoneInfo,
    now: dt.datetime,
    applied: Applied,
) -> None:
    """Store a unit, add its counts to its source's stats of the day and to ``applied``."""
    result = unit.result
    if unit.messages:
        _store_or_set_aside(session, sources[unit.source_id], unit, tz, now)
        applied.set_aside += unit.set_aside
    outcomes.add_stats(
        session, unit.source_id, unit.day, result.accepted, len(result.rejected), result.duplicates
    )
    applied.accepted += result.accepted
    applied.duplicates += result.duplicates
    applied.pending += result.pending
    applied.rejected += len(result.rejected)


def _store_or_set_aside(
    session: Session, source: Source, unit: _Unit, tz: ZoneInfo, now: dt.datetime, lo: int = 0, hi: int = -1
) -> None:
    """Store a unit's messages ``lo:hi`` in a savepoint; if the database refuses them, store each
    half the same way, down to single messages, and set aside each one it refuses (one bad
    message among 5,000 costs ~26 attempts, not 5,000). Errors that are the database's
    (``is_transient``) propagate: the whole transaction is retried later."""
    hi = len(unit.messages) if hi < 0 else hi
    result = IngestResult()
    try:
        with session.begin_nested():
            store.store_messages(session, source, unit.messages[lo:hi], unit.received[lo:hi], tz, result)
    except Exception as exc:
        if dead_letters.is_transient(exc):
            raise
        if hi - lo > 1:
            mid = (lo + hi) // 2
            _store_or_set_aside(session, source, unit, tz, now, lo, mid)
            _store_or_set_aside(session, source, unit, tz, now, mid, hi)
            return
        msg = unit.messages[lo]
        log.warning("ingestion: message %r of source %s set aside: %r", msg.message_id, source.id, exc)
        assert source.id is not None
        dead_letters.set_aside(
            session,
            source_id=source.id,
            origin=unit.origins[lo],
            message_id=msg.message_id,
            message_json=(msg.payload_json or "").encode() or dead_letters.encode(msg.payload),
            exc=exc,
            now=now,
        )
        unit.set_aside += 1
    else:
        _add_result(unit.result, result)


def _add_result(total: IngestResult, part: IngestResult) -> None:
    total.accepted += part.accepted
    total.duplicates += part.duplicates
    total.pending += part.pending
