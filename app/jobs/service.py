"""Scheduled jobs' state (``job_run``): claimed before a run, recorded after it, read by admins.

A run is claimed with one conditional UPDATE (``next_attempt_at`` has come), so of two processes
only one gets a given turn, on SQLite as on PostgreSQL (where the scheduler also holds the job's
advisory lock for the whole run). After a success the job is due again one period after it
started; after a failure it is retried with exponential backoff from when it failed (1, 2, 4 …
minutes), never later than one period. A job overdue by many periods runs once: the next turn is
counted from the run, never from the missed turns, so nothing is made up for.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from app.db import dialect_insert, table_of
from app.models import JobRun

JOB_RUN = table_of(JobRun)
BACKOFF_BASE = dt.timedelta(minutes=1)
#: The stored error message is cut to this many characters.
MESSAGE_CHARS = 200
_URL_CREDENTIALS = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^\s/@]+@", re.IGNORECASE)
_PASSWORD = re.compile(r"(password\s*[=:]\s*)\S+", re.IGNORECASE)

#: What a job did, as counts (and the day or week it did it for): ``{"deleted": 12}``.
Outcome = dict[str, int | str]


@dataclass(frozen=True)
class JobStatus:
    """A scheduled job and its last run (None: it never ran)."""

    name: str
    every: dt.timedelta
    run: JobRun | None


def backoff(failures: int, *, every: dt.timedelta) -> dt.timedelta:
    """The wait before the retry after ``failures`` failures in a row, at most ``every``:
    1 → 1 min, 2 → 2 min, 3 → 4 min; a job run every hour waits 1, 2, 4 … 32 min, then 60."""
    return min(BACKOFF_BASE * 2 ** min(max(failures - 1, 0), 30), every)


def describe_error(exc: BaseException) -> tuple[str, str, str]:
    """Code, type and message of a failure, safe to store and show: the message's first line
    only (SQLAlchemy puts the statement and its parameters on the next ones, a driver its
    DETAIL), credentials masked, cut to ``MESSAGE_CHARS``."""
    code = "database" if isinstance(exc, DBAPIError) else "error"
    lines = str(exc).strip().splitlines()
    message = lines[0] if lines else ""
    message = _PASSWORD.sub(r"\1***", _URL_CREDENTIALS.sub(r"\1***@", message))
    if len(message) > MESSAGE_CHARS:
        message = message[: MESSAGE_CHARS - 1] + "…"
    return code, type(exc).__name__[:100], message


def get(session: Session, name: str) -> JobRun | None:
    """A job's state; None if it never ran."""
    return session.get(JobRun, name)


def states(session: Session) -> dict[str, JobRun]:
    """Every recorded job's state, by name."""
    return {row.name: row for row in session.exec(select(JobRun)).all()}


def due(session: Session, *, names: Iterable[str], now: dt.datetime) -> list[str]:
    """Of these jobs, the ones whose turn has come (one that never ran is due)."""
    known = states(session)
    return [n for n in names if n not in known or _is_due(known[n], now)]


def _is_due(row: JobRun, now: dt.datetime) -> bool:
    return row.next_attempt_at is None or row.next_attempt_at <= now


def claim(session: Session, *, name: str, every: dt.timedelta, now: dt.datetime, force: bool = False) -> bool:
    """Take this turn of a job if it is due (any time with ``force``): it is marked running and
    not due again for a period meanwhile. False if it is not due, if another process took it, or
    if a run is still going (started less than a period ago and not finished: not even ``force``
    starts a second one).

    A run marked running whose period has passed never recorded its end: its process stopped.
    It is recorded as a failure (``Interrupted``, with the time it started) as this turn is
    taken, so the failures in a row and ``/readyz`` see it."""
    insert = dialect_insert(session, JOB_RUN).values(
        name=name, last_status="succeeded", consecutive_failures=0, next_attempt_at=None
    )
    session.execute(insert.on_conflict_do_nothing(index_elements=["name"]))
    row = session.execute(
        select(
            JOB_RUN.c.last_status,
            JOB_RUN.c.last_started_at,
            JOB_RUN.c.next_attempt_at,
            JOB_RUN.c.consecutive_failures,
        ).where(JOB_RUN.c.name == name)
    ).one()
    turn_held = row.next_attempt_at is not None and row.next_attempt_at > now
    if row.last_status == "running" and turn_held:
        return False
    values: dict[str, Any] = {
        "last_status": "running",
        "last_started_at": now,
        "next_attempt_at": now + every,
    }
    if row.last_status == "running":
        started = row.last_started_at
        values.update(
            consecutive_failures=row.consecutive_failures + 1,
            last_error_at=now,
            last_error_code="error",
            last_error_type="Interrupted",
            last_error_message=started.isoformat() if started is not None else None,
        )
    same_run = (
        JOB_RUN.c.last_started_at.is_(None)
        if row.last_started_at is None
        else JOB_RUN.c.last_started_at == row.last_started_at
    )
    statement = update(JOB_RUN).where(
        JOB_RUN.c.name == name, JOB_RUN.c.last_status == row.last_status, same_run
    )
    if not force:
        statement = statement.where(
            or_(JOB_RUN.c.next_attempt_at.is_(None), JOB_RUN.c.next_attempt_at <= now)
        )
    result = session.execute(statement.values(**values))
    return bool(getattr(result, "rowcount", 0))


def record_success(
    session: Session,
    *,
    name: str,
    every: dt.timedelta,
    outcome: Outcome,
    started_at: dt.datetime,
    finished_at: dt.datetime,
) -> JobRun:
    """The claimed run succeeded: its outcome kept, the failures in a row reset, the next turn
    one period after it started."""
    return _finish(
        session,
        name,
        last_status="succeeded",
        last_finished_at=finished_at,
        last_success_at=finished_at,
        last_duration_ms=_ms(started_at, finished_at),
        last_outcome=dict(outcome),
        consecutive_failures=0,
        next_attempt_at=started_at + every,
    )


def record_failure(
    session: Session,
    *,
    name: str,
    every: dt.timedelta,
    error: BaseException,
    started_at: dt.datetime,
    finished_at: dt.datetime,
) -> JobRun:
    """The claimed run failed: the error kept, and a retry after a backoff from now."""
    row = get(session, name)
    failures = (row.consecutive_failures if row is not None else 0) + 1
    code, kind, message = describe_error(error)
    return _finish(
        session,
        name,
        last_status="failed",
        last_finished_at=finished_at,
        last_duration_ms=_ms(started_at, finished_at),
        last_error_at=finished_at,
        last_error_code=code,
        last_error_type=kind,
        last_error_message=message,
        consecutive_failures=failures,
        next_attempt_at=finished_at + backoff(failures, every=every),
    )


def _ms(start: dt.datetime, end: dt.datetime) -> int:
    return max(0, round((end - start).total_seconds() * 1000))


def _finish(session: Session, name: str, **values: Any) -> JobRun:
    row = get(session, name) or JobRun(name=name, last_status="running")
    for key, value in values.items():
        setattr(row, key, value)
    session.add(row)
    session.flush()
    return row


def overview(session: Session, *, schedule: Sequence[tuple[str, dt.timedelta]]) -> list[JobStatus]:
    """The scheduled jobs, in the schedule's order, each with its last run."""
    known = states(session)
    return [JobStatus(name, every, known.get(name)) for name, every in schedule]


def is_failing(run: JobRun | None, *, threshold: int) -> bool:
    """Whether a job has failed ``threshold`` times or more in a row (never with 0): then
    ``/readyz`` answers 503."""
    return run is not None and 0 < threshold <= run.consecutive_failures


def failing(session: Session, *, names: Iterable[str], threshold: int) -> list[JobRun]:
    """Of these jobs, those that failed ``threshold`` times or more in a row, by name."""
    wanted = set(names)
    rows = states(session).values()
    return sorted(
        (r for r in rows if r.name in wanted and is_failing(r, threshold=threshold)), key=lambda r: r.name
    )
