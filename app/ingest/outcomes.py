"""What ingestion records for a source about each batch: its daily accepted, rejected and
duplicate counts, the error log of its rejected messages, and its last error.

The request path writes a batch's rejections on the log writer's own connection
(``rejection_statements``); the applier and ``ingest_messages`` write through the session.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from sqlmodel import Session

from app.db import table_of
from app.ingest.checks import Rejection
from app.ingest.statements import Sql, sql_of
from app.models import IngestError, SourceDailyStat

#: At most this many rejected messages per batch are written to the source's error log.
MAX_LOGGED_REJECTIONS = 50
_EXCERPT = 2000

SOURCE_DAILY_STAT = table_of(SourceDailyStat)
INGEST_ERROR = table_of(IngestError)


def _stats_statement(
    sql: Sql, source_id: int, day: dt.date, accepted: int, rejected: int, duplicates: int
) -> tuple[str, list[Any]]:
    return (
        f"INSERT INTO {SOURCE_DAILY_STAT.name} (source_id, day, accepted, rejected, duplicates) "  # noqa: S608
        f"VALUES ({sql.marks(5)}) ON CONFLICT (source_id, day) DO UPDATE SET "
        "accepted = source_daily_stat.accepted + excluded.accepted, "
        "rejected = source_daily_stat.rejected + excluded.rejected, "
        "duplicates = source_daily_stat.duplicates + excluded.duplicates",
        [source_id, sql.day(day), accepted, rejected, duplicates],
    )


def _rejection_log_statements(
    sql: Sql, source_id: int, raws: list[Any], rejected: list[Rejection], received_at: dt.datetime
) -> list[tuple[str, list[Any]]]:
    """The source's error log rows (the first ``MAX_LOGGED_REJECTIONS``) and its last error."""
    logged = rejected[:MAX_LOGGED_REJECTIONS]
    when = sql.time(received_at)
    rows = [(source_id, when, r.message_id, r.reason[:500], _excerpt(raws[r.index])) for r in logged]
    last = rejected[-1]
    return [
        (
            f"INSERT INTO {INGEST_ERROR.name} (source_id, received_at, message_id, reason, excerpt) "  # noqa: S608
            f"VALUES {sql.values(len(rows), 5)}",
            [v for row in rows for v in row],
        ),
        (
            f"UPDATE source SET last_error_at = {sql.marks(1)}, last_error = {sql.marks(1, 2)} "  # noqa: S608
            f"WHERE id = {sql.marks(1, 3)}",
            [when, f"{last.reason}"[:1000], source_id],
        ),
    ]


def rejection_statements(
    sql: Sql,
    source_id: int,
    day: dt.date,
    raws: list[Any],
    rejected: list[Rejection],
    received_at: dt.datetime,
) -> list[tuple[str, list[Any]]]:
    """What a batch's rejections write: the source's daily count, its error log, its last error."""
    if not rejected:
        return []
    return [
        _stats_statement(sql, source_id, day, 0, len(rejected), 0),
        *_rejection_log_statements(sql, source_id, raws, rejected, received_at),
    ]


def add_stats(
    session: Session, source_id: int, day: dt.date, accepted: int, rejected: int, duplicates: int
) -> None:
    """Add to the source's counts of the day."""
    if not (accepted or rejected or duplicates):
        return
    sql = sql_of(session)
    sql.execute(session, *_stats_statement(sql, source_id, day, accepted, rejected, duplicates))


def log_rejections(
    session: Session,
    source_id: int,
    raws: list[Any],
    rejected: list[Rejection],
    received_at: dt.datetime,
) -> None:
    """Write the rejected messages to the source's error log and note its last error."""
    if not rejected:
        return
    sql = sql_of(session)
    for statement, params in _rejection_log_statements(sql, source_id, raws, rejected, received_at):
        sql.execute(session, statement, params)


def _excerpt(raw: Any) -> str:
    try:
        return orjson.dumps(raw).decode()[:_EXCERPT]
    except TypeError:
        return repr(raw)[:_EXCERPT]
