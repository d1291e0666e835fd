"""Operational checks: is the database reachable, its schema at the code's head, is the ingestion
applier keeping up, and are the scheduled jobs succeeding?"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app import migrations
from app.ingest.dead_letters import ApplierHealth, applier_health
from app.jobs import service as jobs


@dataclass(frozen=True)
class IngestLag:
    """How far the ingestion applier is behind: what ``/v1`` acknowledged and is not stored yet."""

    batches: int
    messages: int
    oldest_age_seconds: float | None  # since the oldest waiting batch was acknowledged
    failing_since: dt.datetime | None = None  # the applier's current run of failures began
    failures: int = 0
    error: str | None = None  # the last failure's exception class
    set_aside: int = 0  # messages the database refused, kept as dead letters
    problem: str | None = None  # why ingestion makes the process unready (``ingest_problem``)


@dataclass(frozen=True)
class Readiness:
    ready: bool
    database: str  # "ok" or the error
    schema_revision: str | None
    head_revision: str | None
    ingest: IngestLag | None = None  # known when the schema is at head


def ingest_problem(
    *, batches: int, oldest_age_seconds: float | None, health: ApplierHealth, max_lag_seconds: float
) -> str | None:
    """Why ingestion is not keeping up, or None: ``applier_failing`` while its transactions fail
    with something queued (an emptied log has nothing left to fail on), ``applier_lagging``
    once the oldest queued message has waited more than ``max_lag_seconds``."""
    if health.failing_since is not None and batches:
        return "applier_failing"
    if oldest_age_seconds is not None and oldest_age_seconds > max_lag_seconds:
        return "applier_lagging"
    return None


def readiness(
    engine: Engine,
    database_url: str,
    *,
    now: dt.datetime | None = None,
    max_ingest_lag_seconds: float = float("inf"),
) -> Readiness:
    """Whether this process can serve: the database answers and its schema is at head; with
    ``now``, also whether the ingestion applier keeps up (see ``ingest_problem``)."""
    head = migrations.head_revision(database_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = migrations.current_revision(engine)
    except Exception as exc:  # any driver error means "not ready"; the reason goes to the body
        return Readiness(False, f"unreachable: {type(exc).__name__}", None, head)
    if current != head or now is None:
        return Readiness(current == head, "ok", current, head)
    from app.ingest import pending as ingest_pending

    try:
        with Session(engine) as session:
            queued = ingest_pending.backlog(session)
            health = applier_health(session)
    except Exception as exc:  # the database went away since the check above: not ready, no 500
        return Readiness(False, f"unreachable: {type(exc).__name__}", current, head)
    oldest = queued.oldest_received_at
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else None
    problem = ingest_problem(
        batches=queued.batches, oldest_age_seconds=age, health=health, max_lag_seconds=max_ingest_lag_seconds
    )
    lag = IngestLag(
        queued.batches, queued.messages, age, health.failing_since, health.failures, health.error,
        health.set_aside, problem,
    )
    return Readiness(problem is None, "ok", current, head, lag)



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
