"""``bansou jobs``: the scheduled jobs' last runs, or run one now."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from sqlalchemy.exc import OperationalError

from app.cli.common import counts_text, fail, safe_url, settings_or_exit, unit_of_work
from app.db import make_engine

jobs_cli = typer.Typer(
    help="Scheduled jobs: last run, success and error of each (with no command), or run one now.",
    invoke_without_command=True,
)


@jobs_cli.callback()
def jobs_main(ctx: typer.Context) -> None:
    """List the scheduled jobs with their last run, success and error."""
    if ctx.invoked_subcommand is None:
        jobs_list()


def _when(moment: dt.datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "never"


def _period(every: dt.timedelta) -> str:
    seconds = int(every.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@jobs_cli.command("list")
def jobs_list() -> None:
    """List the scheduled jobs with their last run, success and error (times in UTC)."""
    from app import scheduler
    from app.jobs import service as svc

    schedule = [(job.name, job.every) for job in scheduler.default_jobs()]
    with unit_of_work(settings_or_exit()) as session:
        statuses = svc.overview(session, schedule=schedule)
    typer.echo(
        f"{'job':<24} {'every':>5}  {'status':<9} {'last run':<25} {'last success':<25} "
        f"{'failures':>8}  next attempt"
    )
    for status in statuses:
        run = status.run
        typer.echo(
            f"{status.name:<24} {_period(status.every):>5}  "
            f"{run.last_status if run else 'never run':<9} "
            f"{_when(run.last_started_at if run else None):<25} "
            f"{_when(run.last_success_at if run else None):<25} "
            f"{run.consecutive_failures if run else 0:>8}  "
            f"{_when(run.next_attempt_at) if run and run.next_attempt_at else 'due'}"
        )
        if run and run.last_outcome is not None:
            typer.echo(f"    last outcome: {counts_text(run.last_outcome)}")
        if run and run.last_error_at is not None:
            typer.echo(
                f"    last error at {_when(run.last_error_at)}: {run.last_error_code} "
                f"{run.last_error_type}: {run.last_error_message}"
            )


@jobs_cli.command("run")
def jobs_run(name: Annotated[str, typer.Argument(help="The job's name, as `bansou jobs` lists it")]) -> None:
    """Run a job now, whether due or not, and record the run; exit status 1 if it failed."""
    from app import scheduler

    settings = settings_or_exit()
    job = scheduler.find_job(name)
    if job is None:
        names = ", ".join(j.name for j in scheduler.default_jobs())
        fail(f"no job {name!r}; the jobs are {names}")
    with unit_of_work(settings):
        pass  # migrate first
    engine = make_engine(
        settings.database_url,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        sqlite_synchronous=settings.sqlite_synchronous,
    )
    try:
        run = scheduler.run_job_once(engine, settings, job, force=True)
    except OperationalError as exc:
        fail(f"cannot reach the database ({safe_url(settings)}): {exc.orig}")
    finally:
        engine.dispose()
    if run is None:
        fail(f"{name} is running in another process; try again when it has finished")
    if run.last_status != "succeeded":
        fail(
            f"{name} failed ({run.consecutive_failures} in a row): {run.last_error_code} "
            f"{run.last_error_type}: {run.last_error_message}; retrying at {_when(run.next_attempt_at)}"
        )
    typer.echo(f"{name} succeeded in {run.last_duration_ms} ms: {counts_text(run.last_outcome)}")
