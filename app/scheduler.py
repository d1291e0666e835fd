"""Periodic jobs run inside ``bansou serve``: scoring (changed accounts every five minutes, every
account four times a day so each day has a snapshot) and the daily raw-event purge; and,
continuously, the ingestion applier, which stores the batches ``/v1`` acknowledged.

With several server processes on PostgreSQL, each job takes a PostgreSQL advisory lock first,
so exactly one process runs it; on SQLite (one machine) the lock is not needed. The applier
likewise runs in one process at a time (``applier.apply_log`` locks the log).

Each job returns what it did as counts; its start, finish, outcome or error, failures in a row
and next turn are recorded in ``job_run`` (``app.jobs.service``) by the process that ran it. That
row is the schedule every process shares: a failed job is retried with exponential backoff
instead of waiting a whole period, and a job that ran in one process is not run again by another
before its turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Engine

from app.auth.last_used import FLUSH_EVERY, LastUsed
from app.auth.last_used import store as store_last_used
from app.config import Settings
from app.db import session_scope, utcnow
from app.health import score_queue
from app.health import snapshots as health_snapshots
from app.ingest import applier, dead_letters, pacing
from app.ingest import store as ingest_store
from app.jobs import service as jobs
from app.jobs.service import Outcome
from app.lifecycle import run as lifecycle
from app.models import JobRun
from app.plans import tracking as goal_tracking
from app.priorities import service as priorities

log = logging.getLogger("bansou.scheduler")


@dataclass(frozen=True)
class Job:
    name: str
    every: dt.timedelta
    run: Callable[[Engine, Settings, dt.datetime], Outcome]


def purge_job(engine: Engine, settings: Settings, now: dt.datetime) -> Outcome:
    before = now - dt.timedelta(days=settings.event_retention_days)
    with session_scope(engine) as session:
        deleted = ingest_store.purge_events(session, before=before)
    return {"deleted": deleted, "before": before.date().isoformat()}


def web_sessions_job(engine: Engine, settings: Settings, now: dt.datetime) -> Outcome:
    """Forget ended browser sessions and failed sign-ins older than the throttling window."""
    from app.auth import web_auth

    with session_scope(engine) as session:
        ended = web_auth.purge_expired(session, now=now)
    return {"removed": ended}


def rescore_dirty_job(engine: Engine, settings: Settings, now: dt.datetime) -> Outcome:
    """Rescore, for today, the accounts whose data changed since they were last scored."""
    today = now.astimezone(settings.tz).date()
    with session_scope(engine, writes=False) as session:
        ids = score_queue.dirty_accounts(session)
    if not ids:
        return {"accounts": 0, "snapshots": 0}
    written = health_snapshots.score_and_store(engine, as_of=today, tz=settings.tz, now=now, account_ids=ids)
    return {"accounts": len(ids), "snapshots": sum(written.values())}


def score_all_job(engine: Engine, settings: Settings, now: dt.datetime) -> Outcome:
    """Score every account with every published model for today."""
    today = now.astimezone(settings.tz).date()
    written = health_snapshots.score_and_store(engine, as_of=today, tz=settings.tz, now=now)
    return {"day": today.isoformat(), "snapshots": sum(written.values())}


def renewal_forecast_job(engine: Engine, settings: Settings, now: dt.datetime) -> Outcome:
    """Fit the renewal forecast from the book's history and store every active account's."""
    from app.health import forecast

    today = now.astimezone(settings.tz).date()
    with session_scope(engine) as session:
        run = forecast.refresh(session, today=today, now=now)
        forecasts = forecast.forecast_count(session)
    return {"day": today.isoformat(), "forecasts": forecasts, "samples": run.samples}


def plans_job(engine: Engine, settings: Settings, now: dt.datetime) -> Outcome:
    """Track success-plan goals from the rollups; achieved and past-due goals raise events."""
    today = now.astimezone(settings.tz).date()
    with session_scope(engine) as session:
        events = goal_tracking.track_goals(session, as_of=today, now=now)
    return {"day": today.isoformat(), "goal_events": len(events)}


def lifecycle_job(engine: Engine, settings: Settings, now: dt.datetime) -> Outcome:
    """Stages, signals and playbook tasks for every account, after the day's scores."""
    with session_scope(engine) as session:
        r = lifecycle.run_daily(session, now=now, tz=settings.tz)
    return {"day": r.day.isoformat(), "accounts": r.accounts, "stage_changes": r.stage_changes,
            "signals_fired": r.signals_fired, "signals_cleared": r.signals_cleared,
            "tasks_created": r.tasks_created, "tasks_closed": r.tasks_closed,
            "tasks_reopened": r.tasks_reopened}


def weekly_list_job(engine: Engine, settings: Settings, now: dt.datetime) -> Outcome:
    """Makes sure this week's action list exists (computed as of Monday 00:00, then kept)."""
    week = priorities.week_of(now.astimezone(settings.tz).date())
    with session_scope(engine) as session:
        stored = priorities.weekly_list(session, week=week, tz=settings.tz, now=now)
    # 1 when this run computed the list, 0 when it was already stored.
    return {"week": week, "computed": int(stored.computed_at == now)}


def apply_ingest_log(
    engine: Engine, settings: Settings, *, wait: bool = True,
    max_messages: int = pacing.APPLY_MESSAGES,
) -> applier.Applied:
    """One applier transaction: the oldest logged batches stored, their log rows deleted."""
    with pacing.writer_turn(engine), session_scope(engine) as session:
        return applier.apply_log(session, tz=settings.tz, wait=wait, max_messages=max_messages, now=utcnow())


def drain_ingest_log(engine: Engine, settings: Settings) -> applier.Applied:
    """Apply the whole ingestion log now (tests, commands and benchmarks wait with this)."""
    total = applier.Applied()
    while True:
        applied = apply_ingest_log(engine, settings)
        if not applied.batches:
            return total
        for name in ("batches", "messages", "accepted", "duplicates", "pending", "rejected", "set_aside"):
            setattr(total, name, getattr(total, name) + getattr(applied, name))


def record_applier_failure(engine: Engine, exc: BaseException) -> None:
    """Record a failed applier transaction for ``/readyz`` (of every process); if the database
    cannot take even that, ``/readyz`` finds the database unreachable by itself."""
    try:
        with pacing.writer_turn(engine), session_scope(engine) as session:
            dead_letters.record_failure(session, exc=exc, now=utcnow())
    except Exception:
        log.exception("could not record the ingestion applier's failure")


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
    pacer = pacing.ApplierPacer()
    while True:
        pacer.starting()
        started = time.monotonic()
        try:
            applied = await asyncio.to_thread(
                apply_ingest_log, engine, settings, wait=False, max_messages=pacing.apply_budget()
            )
        except Exception as exc:
            log.exception("ingestion applier failed; the log is kept and retried")
            await asyncio.to_thread(record_applier_failure, engine, exc)
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
    # The notes go back if the write or its commit fails (the commit runs as session_scope ends,
    # inside ``taken``).
    with last_used.taken() as (keys, sessions), session_scope(engine) as session:
        return store_last_used(session, keys, sessions)


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


def outbox_job(engine: Engine, settings: Settings, now: dt.datetime) -> Outcome:
    """Deliver due emails over SMTP (none configured: they wait in the outbox)."""
    from app.email import outbox

    r = outbox.send_due(engine, settings=settings, now=now, clock=utcnow)
    return {"claimed": r.claimed, "sent": r.sent, "retrying": r.retrying, "failed": r.failed,
            "expired": r.expired, "smtp_unavailable": int(r.unavailable)}


def reports_job(engine: Engine, settings: Settings, now: dt.datetime) -> Outcome:
    """Scheduled adoption reports, tech-touch check-ins and Monday digests that are due (each
    at most once: a retry finds the ones already queued by their dedupe keys)."""
    from app.priorities import digest
    from app.reports import checkins
    from app.reports import service as reports

    with session_scope(engine) as session:
        made = reports.run_schedules(session, settings=settings, now=now)
        asked = checkins.send_checkins(session, settings=settings, now=now)
        digests = digest.send_digests(session, settings=settings, now=now)
    return {"reports": made, "checkins": asked, "digests": digests}


def default_jobs() -> list[Job]:
    return [
        Job("purge-raw-events", dt.timedelta(days=1), purge_job),
        Job("web-sessions", dt.timedelta(hours=1), web_sessions_job),
        Job("score-all", dt.timedelta(hours=6), score_all_job),
        Job("rescore-dirty", dt.timedelta(minutes=5), rescore_dirty_job),
        Job("success-plan-automation", dt.timedelta(days=1), plans_job),
        Job("lifecycle", dt.timedelta(hours=6), lifecycle_job),
        Job("renewal-forecast", dt.timedelta(days=1), renewal_forecast_job),
        Job("weekly-list", dt.timedelta(hours=1), weekly_list_job),
        Job("email-outbox", dt.timedelta(minutes=1), outbox_job),
        Job("adoption-reports", dt.timedelta(hours=1), reports_job),
    ]


def find_job(name: str, among: list[Job] | None = None) -> Job | None:
    """The scheduled job of that name, if any."""
    return next((j for j in among or default_jobs() if j.name == name), None)


def run_job_once(
    engine: Engine, settings: Settings, job: Job, *, clock: Callable[[], dt.datetime] = utcnow,
    force: bool = False,
) -> JobRun | None:
    """Run the job if its turn has come (any time with ``force``) and no other process is
    running it; its recorded state afterwards, or None if it did not run here.

    A failure is logged and recorded (never raised): the job is retried after a backoff."""
    with _lock(engine, job.name) as held:
        if not held:
            return None
        started = clock()
        with session_scope(engine) as session:
            if not jobs.claim(session, name=job.name, every=job.every, now=started, force=force):
                return None
        try:
            outcome = job.run(engine, settings, started)
        except Exception as exc:
            log.exception("job %s failed", job.name)
            with session_scope(engine) as session:
                return jobs.record_failure(session, name=job.name, every=job.every, error=exc,
                                           started_at=started, finished_at=clock())
        with session_scope(engine) as session:
            return jobs.record_success(session, name=job.name, every=job.every, outcome=outcome,
                                       started_at=started, finished_at=clock())


@contextlib.contextmanager
def _lock(engine: Engine, name: str) -> Iterator[bool]:
    """The job's PostgreSQL advisory lock, held (True) or not (False: another process has it);
    always True on SQLite, where ``jobs.claim`` alone decides which process takes a turn."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    key = zlib.crc32(name.encode())
    with engine.connect() as conn:
        held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()  # a session-level lock outlives the transaction; none stays open meanwhile
        try:
            yield held
        finally:
            if held:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()


def due_jobs(engine: Engine, scheduled: list[Job], now: dt.datetime) -> list[Job]:
    """The jobs whose turn has come, by the shared schedule (one read for all)."""
    with session_scope(engine) as session:
        names = set(jobs.due(session, names=[j.name for j in scheduled], now=now))
    return [j for j in scheduled if j.name in names]


async def run_forever(
    engine: Engine, settings: Settings, scheduled: list[Job], *, tick: float = 60.0,
    first_delay: dt.timedelta = dt.timedelta(minutes=1),
) -> None:
    """Run each job when its turn comes, forever, with the ingestion applier alongside; a
    failing job is recorded and retried after a backoff."""
    applier = asyncio.create_task(run_applier(engine, settings))
    try:
        await _run_jobs(engine, settings, scheduled, tick=tick, first_delay=first_delay)
    finally:
        applier.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await applier


async def _run_jobs(
    engine: Engine, settings: Settings, scheduled: list[Job], *, tick: float,
    first_delay: dt.timedelta, clock: Callable[[], dt.datetime] = utcnow,
) -> None:
    await asyncio.sleep(first_delay.total_seconds())
    while True:
        try:
            due = await asyncio.to_thread(due_jobs, engine, scheduled, clock())
        except Exception:
            log.exception("the job schedule could not be read; trying again in %s s", tick)
            due = []
        for job in due:
            try:
                run = await asyncio.to_thread(run_job_once, engine, settings, job, clock=clock)
            except Exception:  # the database went away: the job's state could not be written
                log.exception("job %s could not run or record its run", job.name)
                continue
            if run is None:
                log.debug("job %s: run elsewhere or not due", job.name)
            elif run.last_status == "succeeded":
                log.info("job %s succeeded: %s", job.name, run.last_outcome)
            else:
                log.warning("job %s failed %d times in a row; retrying at %s", job.name,
                            run.consecutive_failures, run.next_attempt_at)
        await asyncio.sleep(tick)
