"""Periodic jobs run inside ``bansou serve``: scoring (changed accounts every five minutes, every
account four times a day so each day has a snapshot) and the daily raw-event purge; and,
continuously, the ingestion applier, which stores the batches ``/v1`` acknowledged.

With several server processes on PostgreSQL, each job takes a PostgreSQL advisory lock first,
so exactly one process runs it; on SQLite (one machine) the lock is not needed. The applier
likewise runs in one process at a time (``ingest.apply_log`` locks the log).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Engine

from app.config import Settings
from app.db import session_scope, utcnow
from app.services import health, ingest, lifecycle, plans, priorities, score_queue
from app.services.last_used import FLUSH_EVERY, LastUsed

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


def web_sessions_job(engine: Engine, settings: Settings, now: dt.datetime) -> str:
    """Forget ended browser sessions and failed sign-ins older than the throttling window."""
    from app.services import web_auth

    with session_scope(engine) as session:
        ended = web_auth.purge_expired(session, now=now)
    return f"removed {ended} ended web sessions"


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


def lifecycle_job(engine: Engine, settings: Settings, now: dt.datetime) -> str:
    """Stages, signals and playbook tasks for every account, after the day's scores."""
    with session_scope(engine) as session:
        r = lifecycle.run_daily(session, now=now, tz=settings.tz)
    return (f"lifecycle {r.day}: {r.accounts} accounts, {r.stage_changes} stage changes, "
            f"{r.signals_fired} signals fired / {r.signals_cleared} cleared, "
            f"{r.tasks_created} tasks created / {r.tasks_closed} closed")


def weekly_list_job(engine: Engine, settings: Settings, now: dt.datetime) -> str:
    """Makes sure this week's action list exists (computed as of Monday 00:00, then kept)."""
    week = priorities.week_of(now.astimezone(settings.tz).date())
    with session_scope(engine) as session:
        stored = priorities.weekly_list(session, week=week, tz=settings.tz, now=now)
    return f"weekly list {week}: computed {stored.computed_at:%Y-%m-%d %H:%M}"


def apply_ingest_log(
    engine: Engine, settings: Settings, *, wait: bool = True,
    max_messages: int = ingest.APPLY_MESSAGES,
) -> ingest.Applied:
    """One applier transaction: the oldest logged batches stored, their log rows deleted."""
    with ingest.writer_turn(engine), session_scope(engine) as session:
        return ingest.apply_log(session, tz=settings.tz, wait=wait, max_messages=max_messages)


def drain_ingest_log(engine: Engine, settings: Settings) -> ingest.Applied:
    """Apply the whole ingestion log now (tests, commands and benchmarks wait with this)."""
    total = ingest.Applied()
    while True:
        applied = apply_ingest_log(engine, settings)
        if not applied.batches:
            return total
        for name in ("batches", "messages", "accepted", "duplicates", "pending", "rejected"):
            setattr(total, name, getattr(total, name) + getattr(applied, name))


async def run_applier(engine: Engine, settings: Settings, *, idle: float = 0.05) -> None:
    """Apply the ingestion log as it fills, forever: back to back while there is a backlog,
    polling every ``idle`` seconds when there is none or another process is applying it."""
    # One apply keeps ~5,000 parsed messages alive at once; with the default threshold (700
    # allocations) the cyclic collector runs every few messages and promotes them, and the
    # full collections that follow walk every object of the server: measured 70 → 54 µs of CPU
    # per applied event with 50,000. Startup objects are frozen out of those walks too.
    gc.freeze()
    first, *rest = gc.get_threshold()
    gc.set_threshold(max(first, 50_000), *rest)
    pacer = ingest.ApplierPacer()
    while True:
        pacer.starting()
        started = time.monotonic()
        try:
            applied = await asyncio.to_thread(
                apply_ingest_log, engine, settings, wait=False, max_messages=ingest.apply_budget()
            )
        except Exception:
            log.exception("ingestion applier failed; the log is kept and retried")
            await asyncio.sleep(1.0)
            continue
        # With a backlog, a rest that leaves requests the time they need (SQLite: the same write
        # turn; any engine: the same interpreter).
        if not applied.batches:
            pacer.idle()
            await asyncio.sleep(idle)
            continue
        await asyncio.sleep(pacer.rest(time.monotonic() - started))


def flush_last_used(engine: Engine, last_used: LastUsed) -> int:
    """Store the noted last uses of API keys and web sessions (one short write transaction)."""
    with session_scope(engine) as session:
        return last_used.flush(session)


async def run_last_used_flusher(
    engine: Engine, last_used: LastUsed, *, every: dt.timedelta = FLUSH_EVERY
) -> None:
    """Store the noted last uses every ``every``, forever, and once more when cancelled (the
    server stops); a failure is logged and the notes are kept for the next turn."""
    try:
        while True:
            await asyncio.sleep(every.total_seconds())
            try:
                await asyncio.to_thread(flush_last_used, engine, last_used)
            except Exception:
                log.exception("storing the last use of API keys and sessions failed; retried")
    finally:
        try:
            flush_last_used(engine, last_used)
        except Exception:
            log.exception("storing the last use of API keys and sessions at shutdown failed")


def outbox_job(engine: Engine, settings: Settings, now: dt.datetime) -> str:
    """Deliver due emails over SMTP (none configured: they wait in the outbox)."""
    from app.services import outbox

    r = outbox.send_due(engine, smtp_url=settings.smtp_url, mail_from=settings.mail_from, now=now)
    return f"outbox: {r.claimed} claimed, {r.sent} sent, {r.retrying} to retry, {r.failed} failed"


def reports_job(engine: Engine, settings: Settings, now: dt.datetime) -> str:
    """Scheduled adoption reports, tech-touch check-ins and Monday digests that are due (each
    at most once)."""
    from app.services import checkins, digest, reports

    with session_scope(engine) as session:
        made = reports.run_schedules(session, settings=settings, now=now)
        asked = checkins.send_checkins(session, settings=settings, now=now)
        digests = digest.send_digests(session, settings=settings, now=now)
    return (f"adoption reports: {made} scheduled reports, {asked} check-ins, "
            f"{digests} Monday digests queued")


def default_jobs() -> list[Job]:
    return [
        Job("purge-raw-events", dt.timedelta(days=1), purge_job),
        Job("web-sessions", dt.timedelta(hours=1), web_sessions_job),
        Job("score-all", dt.timedelta(hours=6), score_all_job),
        Job("rescore-dirty", dt.timedelta(minutes=5), rescore_dirty_job),
        Job("success-plan-automation", dt.timedelta(days=1), plans_job),
        Job("lifecycle", dt.timedelta(hours=6), lifecycle_job),
        Job("weekly-list", dt.timedelta(hours=1), weekly_list_job),
        Job("email-outbox", dt.timedelta(minutes=1), outbox_job),
        Job("adoption-reports", dt.timedelta(hours=1), reports_job),
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
    """Run each job when due, forever, with the ingestion applier alongside; a failing job is
    logged and retried at its next turn."""
    applier = asyncio.create_task(run_applier(engine, settings))
    try:
        await _run_jobs(engine, settings, jobs, tick=tick, first_delay=first_delay)
    finally:
        applier.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await applier


async def _run_jobs(
    engine: Engine, settings: Settings, jobs: list[Job], *, tick: float,
    first_delay: dt.timedelta,
) -> None:
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
