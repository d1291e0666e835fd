"""Messages the ingestion applier could not store, and the applier's health.

The request path checks every value against its column, so a message the database refuses is
a gap in those checks (or one accepted before they existed). Rather than failing its whole
transaction again every second, the applier stores the rest of the batch and sets the message
aside here, with a reason code; an admin replays it after the fix (it goes back to the log as
received). Errors that are the database's, not the message's (connection lost, deadlock, disk
full: ``is_transient``), fail the transaction instead, to be retried; the applier records such a
run of failures in ``ingest_applier_status``, which ``/readyz`` of every process reads.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select, update
from sqlmodel import Session, col

from app.db import dialect_insert, table_of
from app.ingest.sources import get_source
from app.models import IngestApplierStatus, IngestBatch, IngestDeadLetter, Source

DEAD_LETTER = table_of(IngestDeadLetter)
STATUS = table_of(IngestApplierStatus)
#: SQLSTATE classes that say the database is in trouble, not the statement: connection (08),
#: transaction rollback: deadlock, serialization (40), insufficient resources: disk full (53),
#: operator intervention: shutdown (57), system error (58).
_TRANSIENT_CLASSES = frozenset({"08", "40", "53", "57", "58"})


def is_transient(exc: BaseException) -> bool:
    """Whether an error is the database's trouble (retry the transaction later) rather than the
    message's (set the message aside)."""
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        if exc.orig is not None:
            exc = exc.orig
    if isinstance(exc, psycopg.Error):
        sqlstate = exc.sqlstate
        if sqlstate is None:  # no answer from the server: the connection failed
            return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
        return sqlstate[:2] in _TRANSIENT_CLASSES
    # SQLite: locked, busy, I/O error, disk full (a value it refuses is not operational).
    return isinstance(exc, sqlite3.OperationalError | sqlite3.InterfaceError)


def reason_of(exc: BaseException) -> tuple[str, dict[str, Any]]:
    """The reason code and parameters a dead letter records for an error (never its text, which
    may quote the message and is in English: it goes to the log)."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
        exc = exc.orig
    if isinstance(exc, psycopg.Error | sqlite3.Error):
        return "database_refused", {"error": type(exc).__name__, "sqlstate": getattr(exc, "sqlstate", None)}
    return "store_failed", {"error": type(exc).__name__}


@dataclass(frozen=True)
class Origin:
    """What a message's log row said about its arrival (a replay puts it back the same way)."""

    received_at: dt.datetime
    sent_at: dt.datetime | None
    implied_type: str | None


def set_aside(
    session: Session,
    *,
    source_id: int,
    origin: Origin,
    message_id: str | None,
    message_json: bytes,
    exc: BaseException,
    now: dt.datetime,
) -> None:
    """Record a message the applier could not store, with why."""
    reason, params = reason_of(exc)
    session.execute(
        DEAD_LETTER.insert().values(
            source_id=source_id,
            received_at=origin.received_at,
            sent_at=origin.sent_at,
            implied_type=origin.implied_type,
            set_aside_at=now,
            message_id=message_id.replace("\x00", "\ufffd")[:255] if message_id else None,
            reason=reason,
            params=params,
            message=message_json,
        )
    )


def dead_letters(session: Session, *, ref: str | int, limit: int = 100) -> list[IngestDeadLetter]:
    """A source's set-aside messages, newest first."""
    source = get_source(session, ref)
    return list(
        session.execute(
            select(IngestDeadLetter)
            .where(col(IngestDeadLetter.source_id) == source.id)
            .order_by(col(IngestDeadLetter.id).desc())
            .limit(limit)
        ).scalars()
    )


def count_by_source(session: Session) -> dict[int, int]:
    """How many messages each source has set aside (sources with none are absent)."""
    rows = session.execute(
        select(DEAD_LETTER.c.source_id, func.count()).group_by(DEAD_LETTER.c.source_id)
    ).all()
    return {source_id: n for source_id, n in rows}


def replay(session: Session, *, ref: str | int, ids: list[int] | None = None) -> int:
    """Put a source's set-aside messages (all, or those of ``ids``) back in the ingestion log,
    as they were received; returns how many. The applier stores them, or sets them aside again."""
    source: Source = get_source(session, ref)
    query = select(IngestDeadLetter).where(col(IngestDeadLetter.source_id) == source.id)
    if ids is not None:
        query = query.where(col(IngestDeadLetter.id).in_(ids))
    letters = list(session.execute(query.order_by(col(IngestDeadLetter.id))).scalars())
    for letter in letters:
        assert source.id is not None
        session.add(
            IngestBatch(
                source_id=source.id,
                received_at=letter.received_at,
                sent_at=letter.sent_at,
                implied_type=letter.implied_type,
                messages=1,
                body=b"[" + letter.message + b"]",
            )
        )
        session.delete(letter)
    session.flush()
    return len(letters)


# -- the applier's health ----------------------------------------------------------------------


def record_failure(session: Session, *, exc: BaseException, now: dt.datetime) -> None:
    """Count a failed applier transaction (the first of a run sets ``failing_since``)."""
    insert = dialect_insert(session, STATUS)
    error = type(exc).__name__[:100]
    session.execute(
        insert.values(
            id=1, failing_since=now, last_failure_at=now, failures=1, error=error
        ).on_conflict_do_update(
            index_elements=[STATUS.c.id],
            set_={
                "failing_since": func.coalesce(STATUS.c.failing_since, insert.excluded.failing_since),
                "last_failure_at": insert.excluded.last_failure_at,
                "failures": STATUS.c.failures + 1,
                "error": insert.excluded.error,
            },
        )
    )


def clear_failure(session: Session) -> None:
    """End a run of failures (a transaction succeeded); nothing is written when there is none."""
    session.execute(
        update(STATUS)
        .where(STATUS.c.failing_since.is_not(None))
        .values(failing_since=None, failures=0, error=None)
    )


@dataclass(frozen=True)
class ApplierHealth:
    failing_since: dt.datetime | None
    last_failure_at: dt.datetime | None
    failures: int
    error: str | None
    set_aside: int  # dead letters of every source


def applier_health(session: Session) -> ApplierHealth:
    """Whether the applier is failing (since when, how often, with which error class), and how
    many messages it has set aside."""
    row = session.execute(
        select(STATUS.c.failing_since, STATUS.c.last_failure_at, STATUS.c.failures, STATUS.c.error)
    ).first()
    set_aside = session.execute(select(func.count()).select_from(DEAD_LETTER)).scalar_one()
    if row is None:
        return ApplierHealth(None, None, 0, None, set_aside)
    return ApplierHealth(_aware(row[0]), _aware(row[1]), row[2], row[3], set_aside)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    return value if value is None or value.tzinfo else value.replace(tzinfo=dt.UTC)


def encode(raw: Any) -> bytes:
    """A message as JSON for a dead letter; what cannot be encoded is kept as its repr."""
    try:
        return orjson.dumps(raw)
    except (TypeError, orjson.JSONEncodeError):
        return orjson.dumps(repr(raw))
