"""Operational checks: is the database reachable, is its schema at the code's head, and are the
scheduled jobs succeeding?"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app import migrations
from app.services import jobs


@dataclass(frozen=True)
class IngestLag:
    """How far the ingestion applier is behind: what ``/v1`` acknowledged and is not stored yet."""

    batches: int
    messages: int
    oldest_age_seconds: float | None  # since the oldest waiting batch was acknowledged


@dataclass(frozen=True)
class Readiness:
    ready: bool
    database: str  # "ok" or the error
    schema_revision: str | None
    head_revision: str | None
    ingest: IngestLag | None = None  # known when the schema is at head


def readiness(engine: Engine, database_url: str, *, now: dt.datetime | None = None) -> Readiness:
    """Whether this process can serve: the database answers and its schema is at head; with
    ``now``, also the ingestion applier's lag (informative: a lagging applier is still ready)."""
    head = migrations.head_revision(database_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = migrations.current_revision(engine)
    except Exception as exc:  # any driver error means "not ready"; the reason goes to the body
        return Readiness(False, f"unreachable: {type(exc).__name__}", None, head)
    if current != head or now is None:
        return Readiness(current == head, "ok", current, head)
    from app.services import ingest

    try:
        with Session(engine) as session:
            queued = ingest.backlog(session)
    except Exception as exc:  # the database went away since the check above: not ready, no 500
        return Readiness(False, f"unreachable: {type(exc).__name__}", current, head)
    oldest = queued.oldest_received_at
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else None
    return Readiness(True, "ok", current, head, IngestLag(queued.batches, queued.messages, age))


@dataclass(frozen=True)
class FailingJob:
    name: str
    consecutive_failures: int
    last_error_code: str | None
    last_error_at: dt.datetime | None


@dataclass(frozen=True)
class JobsCheck:
    ready: bool
    failing: tuple[FailingJob, ...] = ()
    error: str | None = None  # the database could not be read


def jobs_check(engine: Engine, *, names: Iterable[str], threshold: int) -> JobsCheck:
    """Not ready while a scheduled job has failed ``threshold`` times or more in a row (never
    with a threshold of 0); which jobs, with their last error's code."""
    try:
        with Session(engine) as session:
            rows = jobs.failing(session, names=names, threshold=threshold)
    except Exception as exc:  # the database went away since the readiness check: not ready, no 500
        return JobsCheck(False, error=f"unreachable: {type(exc).__name__}")
    failing = tuple(
        FailingJob(r.name, r.consecutive_failures, r.last_error_code, r.last_error_at) for r in rows
    )
    return JobsCheck(not failing, failing)
