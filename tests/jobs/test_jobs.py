"""Scheduled jobs' recorded state: success and failure, backoff on a fixed clock, one run per
turn, and retries that never queue an email twice."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from app.config import Settings
from app.jobs import service as jobs
from app.jobs.service import Outcome
from app.models import JobRun, Outbox
from app.priorities import digest
from app.scheduler import Job, find_job, reports_job, run_job_once
from tests.builders import AS_OF, make_account, make_contact

MINUTE = dt.timedelta(minutes=1)


class Clock:
    """A fixed clock, moved by hand."""

    def __init__(self, now: dt.datetime = AS_OF) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def _state(engine: Engine, name: str) -> JobRun:
    with Session(engine) as session:
        row = jobs.get(session, name)
    assert row is not None
    return row


def _flaky(failures: int) -> Job:
    """A job, run hourly, that fails its first ``failures`` runs."""
    calls: list[dt.datetime] = []

    def run(engine: Engine, settings: Settings, now: dt.datetime) -> Outcome:
        calls.append(now)
        if len(calls) <= failures:
            raise RuntimeError(f"attempt {len(calls)} failed")
        return {"attempts": len(calls)}

    return Job("flaky", dt.timedelta(hours=1), run)


def test_a_success_is_recorded_with_its_counts(engine: Engine, settings: Settings) -> None:
    job = find_job("purge-raw-events")
    assert job is not None
    clock = Clock()

    run = run_job_once(engine, settings, job, clock=clock)

    assert run is not None
    state = _state(engine, "purge-raw-events")
    assert (state.last_status, state.consecutive_failures) == ("succeeded", 0)
    assert state.last_started_at == state.last_finished_at == state.last_success_at == AS_OF
    assert state.last_outcome == {"deleted": 0, "before": "2025-10-19"}
    assert state.next_attempt_at == AS_OF + dt.timedelta(days=1)
    assert state.last_error_code is None


def test_a_failure_is_recorded_without_sql_parameters_or_passwords(
    engine: Engine, settings: Settings
) -> None:
    def broken(engine: Engine, settings: Settings, now: dt.datetime) -> Outcome:
        raise OperationalError(
            "UPDATE account SET name=%(name)s",
            {"name": "Secret Customer"},
            Exception("connection to postgresql://bansou:hunter2@db:5432/bansou failed"),
        )

    run = run_job_once(engine, settings, Job("lifecycle", dt.timedelta(hours=6), broken), clock=Clock())

    assert run is not None
    state = _state(engine, "lifecycle")
    assert (state.last_status, state.consecutive_failures) == ("failed", 1)
    assert (state.last_error_code, state.last_error_type) == ("database", "OperationalError")
    assert state.last_error_at == AS_OF and state.last_success_at is None
    message = state.last_error_message or ""
    assert "postgresql://***@db:5432/bansou failed" in message
    assert "hunter2" not in message and "Secret Customer" not in message and "UPDATE" not in message
    assert state.next_attempt_at == AS_OF + MINUTE


def test_error_messages_are_cut_short() -> None:
    code, kind, message = jobs.describe_error(ValueError("x" * 1000 + "\nsecond line"))

    assert (code, kind) == ("error", "ValueError")
    assert len(message) == jobs.MESSAGE_CHARS and message.endswith("…")


@pytest.mark.parametrize(
    ("failures", "every", "wait"),
    [
        (1, dt.timedelta(hours=6), MINUTE),
        (2, dt.timedelta(hours=6), 2 * MINUTE),
        (3, dt.timedelta(hours=6), 4 * MINUTE),
        (9, dt.timedelta(hours=6), 256 * MINUTE),
        (10, dt.timedelta(hours=6), dt.timedelta(hours=6)),  # 512 min, capped at the period
        (1, MINUTE, MINUTE),
        (5, MINUTE, MINUTE),
        (500, dt.timedelta(days=1), dt.timedelta(days=1)),
    ],
)
def test_backoff_doubles_up_to_the_period(failures: int, every: dt.timedelta, wait: dt.timedelta) -> None:
    assert jobs.backoff(failures, every=every) == wait


def test_a_failed_job_is_retried_with_backoff_then_runs_each_period(
    engine: Engine, settings: Settings
) -> None:
    job, clock = _flaky(failures=3), Clock()
    runs: list[tuple[dt.timedelta, str, int]] = []

    def attempt(after: dt.timedelta) -> JobRun | None:
        clock.now = AS_OF + after
        run = run_job_once(engine, settings, job, clock=clock)
        if run is not None:
            runs.append((after, run.last_status, run.consecutive_failures))
        return run

    assert attempt(dt.timedelta(0)) is not None  # fails: retry 1 min later
    assert attempt(30 * dt.timedelta(seconds=1)) is None  # not due yet
    attempt(MINUTE)  # fails again: 2 min later
    assert attempt(2 * MINUTE) is None
    attempt(3 * MINUTE)  # fails a third time: 4 min later
    attempt(7 * MINUTE)  # succeeds: next turn a period after it started
    assert attempt(7 * MINUTE + dt.timedelta(minutes=59)) is None
    attempt(7 * MINUTE + dt.timedelta(hours=1))

    assert runs == [
        (dt.timedelta(0), "failed", 1),
        (MINUTE, "failed", 2),
        (3 * MINUTE, "failed", 3),
        (7 * MINUTE, "succeeded", 0),
        (7 * MINUTE + dt.timedelta(hours=1), "succeeded", 0),
    ]
    state = _state(engine, "flaky")
    assert state.last_outcome == {"attempts": 5}
    # The last failure stays on record after the success.
    assert state.last_error_message == "attempt 3 failed" and state.last_error_at == AS_OF + 3 * MINUTE


def test_an_overdue_job_runs_once_and_makes_nothing_up(engine: Engine, settings: Settings) -> None:
    job, clock = _flaky(failures=0), Clock()
    run_job_once(engine, settings, job, clock=clock)

    clock.now = AS_OF + dt.timedelta(days=10)  # ten days (240 turns) without a server
    late = run_job_once(engine, settings, job, clock=clock)
    again = run_job_once(engine, settings, job, clock=clock)

    assert late is not None and again is None
    assert late.next_attempt_at == clock.now + dt.timedelta(hours=1)


def test_a_turn_is_taken_once_and_forcing_runs_it_anyway(engine: Engine, settings: Settings) -> None:
    job, clock = _flaky(failures=0), Clock()

    first = run_job_once(engine, settings, job, clock=clock)
    second = run_job_once(engine, settings, job, clock=clock)
    forced = run_job_once(engine, settings, job, clock=clock, force=True)

    assert first is not None and second is None
    assert forced is not None and forced.last_outcome == {"attempts": 2}


def _claim(engine: Engine, job: Job, now: dt.datetime, *, force: bool = False) -> bool:
    with Session(engine) as session:
        taken = jobs.claim(session, name=job.name, every=job.every, now=now, force=force)
        session.commit()
    return taken


def test_forcing_never_starts_a_second_run_while_one_is_running(engine: Engine, settings: Settings) -> None:
    job = _flaky(failures=0)
    assert _claim(engine, job, AS_OF)  # a run started (by the scheduler) and is still going

    forced = run_job_once(engine, settings, job, clock=Clock(AS_OF + MINUTE), force=True)

    assert forced is None  # `bansou jobs run` says the job is running in another process
    assert _state(engine, job.name).last_status == "running"


def test_a_run_that_never_finished_is_counted_as_a_failure_at_the_next_turn(
    engine: Engine, settings: Settings
) -> None:
    job = _flaky(failures=0)
    assert _claim(engine, job, AS_OF)  # the process stopped mid-run: nothing recorded its end
    assert not _claim(engine, job, AS_OF + 30 * MINUTE)  # its turn is still held

    later = AS_OF + dt.timedelta(hours=1)
    assert _claim(engine, job, later)
    state = _state(engine, job.name)

    assert state.last_status == "running" and state.last_started_at == later
    assert state.consecutive_failures == 1
    assert (state.last_error_code, state.last_error_type) == ("error", "Interrupted")
    assert state.last_error_at == later and state.last_error_message is not None
    assert AS_OF.isoformat() in state.last_error_message


def test_a_retried_email_job_queues_each_email_once(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Session(engine) as session:
        make_account(session, contract_start_on=AS_OF.date() - dt.timedelta(days=40))
        make_contact(session, email="champion@acme.example", is_champion=True)
        session.commit()
    real = digest.send_digests
    calls = []

    def failing_once(session: Session, **kwargs: object) -> int:
        calls.append(1)
        if len(calls) == 1:  # after the check-in was queued in the same transaction
            raise RuntimeError("digest failed")
        return real(session, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(digest, "send_digests", failing_once)
    job, clock = Job("adoption-reports", dt.timedelta(hours=1), reports_job), Clock()

    failed = run_job_once(engine, settings, job, clock=clock)
    assert failed is not None and failed.last_status == "failed"
    assert _outbox(engine) == 0  # the failed attempt queued nothing
    clock.now += MINUTE
    retried = run_job_once(engine, settings, job, clock=clock)
    clock.now += dt.timedelta(hours=1)
    later = run_job_once(engine, settings, job, clock=clock)
    forced = run_job_once(engine, settings, job, clock=clock, force=True)

    assert retried is not None and retried.last_outcome == {"reports": 0, "checkins": 1, "digests": 0}
    assert later is not None and later.last_outcome == {"reports": 0, "checkins": 0, "digests": 0}
    assert forced is not None and forced.last_status == "succeeded"
    assert _outbox(engine) == 1


def _outbox(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(Outbox)).one()


async def test_the_scheduler_loop_retries_a_failed_job_when_its_backoff_ends(
    engine: Engine, settings: Settings
) -> None:
    import asyncio

    from app.scheduler import _run_jobs

    job, clock = _flaky(failures=1), Clock()

    async def until(condition: str) -> JobRun:
        for _ in range(1000):
            with Session(engine) as session:
                row = jobs.get(session, "flaky")
            if row is not None and row.last_status == condition:
                return row
            await asyncio.sleep(0.01)
        raise AssertionError(f"the job did not become {condition} within 10 s")

    async def scenario() -> tuple[JobRun, JobRun, JobRun]:
        loop = asyncio.create_task(
            _run_jobs(engine, settings, [job], tick=0.01, first_delay=dt.timedelta(0), clock=clock)
        )
        try:
            failed = await until("failed")
            await asyncio.sleep(0.1)  # many ticks, none of them due
            waiting = await until("failed")
            clock.now += MINUTE
            return failed, waiting, await until("succeeded")
        finally:
            loop.cancel()

    failed, waiting, retried = await scenario()

    assert failed.next_attempt_at == AS_OF + MINUTE
    assert waiting.last_started_at == AS_OF  # not retried before the backoff ended
    assert retried.last_started_at == AS_OF + MINUTE and retried.last_outcome == {"attempts": 2}


def test_of_two_processes_racing_for_a_turn_one_runs_the_job(engine: Engine, settings: Settings) -> None:
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from app.db import make_engine

    started = threading.Barrier(2)
    calls: list[dt.datetime] = []

    def slow(engine: Engine, settings: Settings, now: dt.datetime) -> Outcome:
        calls.append(now)
        time.sleep(0.3)
        return {"runs": len(calls)}

    job = Job("slow", dt.timedelta(hours=1), slow)

    def process() -> JobRun | None:
        own = make_engine(settings.database_url)  # a process of its own: its own connections
        try:
            started.wait()
            return run_job_once(own, settings, job, clock=Clock())
        finally:
            own.dispose()

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: process(), range(2)))

    assert sorted(r is None for r in results) == [False, True]
    assert calls == [AS_OF]
    state = _state(engine, "slow")
    assert (state.last_status, state.last_outcome) == ("succeeded", {"runs": 1})
