"""Periodic jobs run inside ``bansou serve``: scoring (changed accounts every five minutes, every
account four times a day so each day has a snapshot) and the daily raw-event purge.

With several server processes on PostgreSQL, each job takes a PostgreSQL advisory lock first,
so exactly one process runs it; on SQLite (one machine) the lock is not needed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Engine

from app.config import Settings
from app.db import session_scope, utcnow
from app.services import health, ingest, plans, score_queue

log = logging.getLogger("bansou.scheduler")


@dataclass
class Job:
    name: str
    every: dt.timedelta
    run: Callable[[Engine, Settings, dt.datetime], str]
    next_at: dt.datetime | None = None


def purge_job(engine: Engine, settings: Settings, now: dt.datetime) -> str:
    before = now - dt.timedelta(days=settings.event_retention_days)
    with session_scope(engine) as session:
        deleted = ingest.purge_events(session, before=before)
    return f"purged {deleted} raw events received before {before:%Y-%m-%d}"


def rescore_dirty_job(engine: Engine, settings: Settings, now: dt.datetime) -> str:
    """Rescore, for today, the accounts whose data changed since they were last scored."""
    today = now.astimezone(settings.tz).date()
    with session_scope(engine) as session:
        ids = score_queue.dirty_accounts(session)
        if not ids:
            return "nothing to rescore"
        written = health.run_scoring(session, as_of=today, tz=settings.tz, now=now, account_ids=ids)
    return f"rescored {len(ids)} accounts ({sum(written.values())} snapshots)"


def score_all_job(engine: Engine, settings: Settings, now: dt.datetime) -> str:
    """Score every account with every published model for today."""
    today = now.astimezone(settings.tz).date()
    with session_scope(engine) as session:
        written = health.run_scoring(session, as_of=today, tz=settings.tz, now=now)
    return f"scored {sum(written.values())} snapshots for {today}"


def plans_job(engine: Engine, settings: Settings, now: dt.datetime) -> str:
    """Track success-plan goals from the rollups; achieved and past-due goals raise events."""
    today = now.astimezone(settings.tz).date()
    with session_scope(engine) as session:
        events = plans.track_goals(session, as_of=today, now=now)
    return f"success plans: {len(events)} goal events for {today}"


def default_jobs() -> list[Job]:
    return [
        Job("purge-raw-events", dt.timedelta(days=1), purge_job),
        Job("score-all", dt.timedelta(hours=6), score_all_job),
        Job("rescore-dirty", dt.timedelta(minutes=5), rescore_dirty_job),
        Job("success-plan-automation", dt.timedelta(days=1), plans_job),
    ]


def run_job_once(engine: Engine, settings: Settings, job: Job, now: dt.datetime) -> str | None:
    """Run the job unless another process holds its lock; what it did, or None if skipped."""
    if engine.dialect.name != "postgresql":
        return job.run(engine, settings, now)
    key = zlib.crc32(job.name.encode())
    with engine.connect() as conn:
        if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
            return None
        try:
            return job.run(engine, settings, now)
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()


async def run_forever(
    engine: Engine, settings: Settings, jobs: list[Job], *, tick: float = 60.0,
    first_delay: dt.timedelta = dt.timedelta(minutes=1),
) -> None:
    """Run each job when due, forever; a failing job is logged and retried at its next turn."""
    start = utcnow() + first_delay
    for job in jobs:
        job.next_at = job.next_at or start
    while True:
        now = utcnow()
        for job in jobs:
            if job.next_at is not None and now >= job.next_at:
                job.next_at = now + job.every
                try:
                    outcome = await asyncio.to_thread(run_job_once, engine, settings, job, now)
                    log.info("job %s: %s", job.name, outcome or "skipped (running elsewhere)")
                except Exception:
                    log.exception("job %s failed", job.name)
        await asyncio.sleep(tick)
