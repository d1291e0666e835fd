"""The ``bansou`` command: serve, migrate, demo data, users and API keys."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from app.cli.imports import ImportKindChoice
from app.config import ConfigError, Settings, load_settings
from app.db import make_engine, session_scope, utcnow
from app.errors import BansouError, InvalidInput

cli = typer.Typer(
    name="bansou",
    help="Bansō: self-hosted customer success platform.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
users_cli = typer.Typer(help="Manage CSM users.", no_args_is_help=True)
keys_cli = typer.Typer(help="Manage API keys.", no_args_is_help=True)
cli.add_typer(users_cli, name="users")
cli.add_typer(keys_cli, name="keys")
sources_cli = typer.Typer(help="Manage sources of Segment-format traffic.", no_args_is_help=True)
cli.add_typer(sources_cli, name="sources")
features_cli = typer.Typer(help="Manage the feature catalog.", no_args_is_help=True)
cli.add_typer(features_cli, name="features")


class RoleChoice(StrEnum):
    admin = "admin"
    csm = "csm"
    viewer = "viewer"


class ScopeChoice(StrEnum):
    read = "read"
    write = "write"
    admin = "admin"


def fail(message: str, code: int = 1) -> NoReturn:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        fail(str(exc), 2)


@contextmanager
def unit_of_work(settings: Settings, *, migrate_first: bool = True) -> Iterator[Session]:
    """A committed session on a migrated database, with readable errors instead of tracebacks."""
    try:
        if migrate_first:
            from app import migrations

            migrations.upgrade(settings.database_url)
        engine = make_engine(
            settings.database_url,
            busy_timeout_ms=settings.sqlite_busy_timeout_ms,
            sqlite_synchronous=settings.sqlite_synchronous,
        )
        try:
            with session_scope(engine) as session:
                yield session
        finally:
            engine.dispose()
    except InvalidInput as exc:
        fail("; ".join(f"{e.field}: {e.message}" for e in exc.errors))
    except BansouError as exc:
        fail(exc.detail)
    except OperationalError as exc:
        fail(f"cannot reach the database ({_safe_url(settings)}): {exc.orig}")


def counts_text(outcome: Mapping[str, object] | None) -> str:
    """A job's outcome on one line: ``claimed=2 sent=2 retrying=0 failed=0``."""
    return " ".join(f"{key}={value}" for key, value in (outcome or {}).items()) or "-"


def _safe_url(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.database_url).render_as_string(hide_password=True)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
) -> None:
    """Apply migrations, then serve Bansō."""
    import uvicorn

    settings = settings_or_exit()
    migrate_database(settings)
    typer.echo(f"Bansō on http://{host}:{port} (API docs: http://{host}:{port}/docs)", err=True)
    uvicorn.run(
        "app.main:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        log_level="warning",
    )


def migrate_database(settings: Settings) -> None:
    from app import migrations

    try:
        migrations.upgrade(settings.database_url)
    except OperationalError as exc:
        fail(f"cannot reach the database ({_safe_url(settings)}): {exc.orig}")


@cli.command()
def migrate() -> None:
    """Upgrade the database schema to the latest migration."""
    settings = settings_or_exit()
    migrate_database(settings)
    typer.echo(f"database at {_safe_url(settings)} is up to date")


@cli.command()
def demo(
    reset: Annotated[bool, typer.Option(help="Delete all existing data first")] = False,
    accounts: Annotated[int, typer.Option(min=1, max=20000, help="How many accounts")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same data")] = 7,
) -> None:
    """Load deterministic demo data (skipped when data exists, unless --reset)."""
    from app.demo import service as demo_svc

    settings = settings_or_exit()
    with unit_of_work(settings) as session:
        if reset:
            demo_svc.reset(session)
        elif demo_svc.has_data(session):
            typer.echo("demo: the database already holds accounts; use --reset to replace them")
            return
        result = demo_svc.load_demo(session, seed=seed, accounts=accounts, now=utcnow(), tz=settings.tz)
    typer.echo(
        f"demo: {result.accounts} accounts, {result.contacts} contacts, "
        f"{len(result.users)} users, {result.usage_rows} daily usage rows, {result.events} "
        f"live events, {result.interactions} interactions, {result.snapshots} score snapshots, "
        f"{result.plans} success plans, {result.stage_changes} stage changes, {result.tasks} "
        f"playbook tasks loaded (seed {seed})"
    )
    typer.echo("sign in with:")
    for email, role, password in result.users:
        typer.echo(f"  {email:<28} {role:<6} {password}")


@users_cli.command("create")
def users_create(
    email: str,
    role: Annotated[RoleChoice, typer.Option(help="admin, csm or viewer")] = RoleChoice.csm,
    name: Annotated[str, typer.Option(help="Display name")] = "",
    locale: Annotated[str, typer.Option(help="ja or en")] = "ja",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
) -> None:
    """Create a user; the password is prompted for (or read from stdin)."""
    from app.auth import users as svc

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    settings = settings_or_exit()
    with unit_of_work(settings) as session:
        user = svc.create_user(
            session,
            email=email,
            name=name or email.split("@")[0],
            role=role.value,
            password=password,
            locale=locale,
            now=utcnow(),
        )
    typer.echo(f"created {user.role} {user.email}")


@users_cli.command("list")
def users_list() -> None:
    """List users."""
    from app.auth import users as svc

    with unit_of_work(settings_or_exit()) as session:
        for user in svc.list_users(session):
            state = "" if user.is_active else " (inactive)"
            typer.echo(f"{user.email:<32} {user.role:<6} {user.name}{state}")


@keys_cli.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="What the key is for, e.g. crm")],
    scope: Annotated[ScopeChoice, typer.Option(help="read, write or admin")] = ScopeChoice.read,
) -> None:
    """Create an API key; its secret is printed alone on the last line, once."""
    from app.auth import api_keys as svc

    with unit_of_work(settings_or_exit()) as session:
        key, secret = svc.create_api_key(session, name=name, scope=scope.value, now=utcnow())
    typer.echo(f"created {key.scope} key {key.prefix} ({key.name}); the secret is not shown again:")
    typer.echo(secret)


@keys_cli.command("list")
def keys_list() -> None:
    """List API keys (prefixes only; secrets are never shown again)."""
    from app.auth import api_keys as svc

    with unit_of_work(settings_or_exit()) as session:
        for key in svc.list_api_keys(session):
            used = key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "never"
            state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
            typer.echo(
                f"{key.id:>4} {key.prefix:<14} {key.scope:<6} {state:<18} last used {used:<26} {key.name}"
            )


@keys_cli.command("revoke")
def keys_revoke(ref: Annotated[str, typer.Argument(help="The key's id or prefix")]) -> None:
    """Revoke an API key."""
    from app.auth import api_keys as svc

    with unit_of_work(settings_or_exit()) as session:
        key = svc.revoke_api_key(session, ref=ref, now=utcnow())
    typer.echo(f"revoked {key.prefix} ({key.name})")


@sources_cli.command("create")
def sources_create(name: Annotated[str, typer.Argument(help="e.g. web-app, ios")]) -> None:
    """Create a source; its write key is printed alone on the last line, once."""
    from app.ingest import sources as svc

    with unit_of_work(settings_or_exit()) as session:
        source, key = svc.create_source(session, name=name, now=utcnow())
    typer.echo(f"created source {source.name} ({source.key_prefix}); the write key is not shown again:")
    typer.echo(key)


@sources_cli.command("list")
def sources_list() -> None:
    """List sources with their last event and last error."""
    from app.ingest import sources as svc

    with unit_of_work(settings_or_exit()) as session:
        for source in svc.list_sources(session):
            state = f"revoked {source.revoked_at:%Y-%m-%d}" if source.revoked_at else "active"
            last = source.last_event_at.isoformat(timespec="seconds") if source.last_event_at else "never"
            typer.echo(
                f"{source.id:>4} {source.key_prefix:<14} {state:<18} last event {last:<26} {source.name}"
            )
            if source.last_error:
                typer.echo(f"     last error: {source.last_error}")


@sources_cli.command("revoke")
def sources_revoke(ref: Annotated[str, typer.Argument(help="The source's id, name or key prefix")]) -> None:
    """Revoke a source's write key."""
    from app.ingest import sources as svc

    with unit_of_work(settings_or_exit()) as session:
        source = svc.revoke_source(session, ref=ref, now=utcnow())
    typer.echo(f"revoked source {source.name} ({source.key_prefix})")


@cli.command()
def purge(
    older_than: Annotated[
        int | None, typer.Option(min=1, help="Days to keep (default: BANSOU_EVENT_RETENTION_DAYS)")
    ] = None,
) -> None:
    """Delete raw events past the retention period (daily rollups are kept)."""
    from app.ingest import store as ingest_store

    settings = settings_or_exit()
    days = older_than or settings.event_retention_days
    before = utcnow() - dt.timedelta(days=days)
    with unit_of_work(settings) as session:
        deleted = ingest_store.purge_events(session, before=before)
    typer.echo(f"purged {deleted} raw events received before {before:%Y-%m-%d}")


ingest_cli = typer.Typer(
    help="The ingestion log: what /v1 acknowledged and is not stored yet.", no_args_is_help=True
)
cli.add_typer(ingest_cli, name="ingest")


@ingest_cli.command("status")
def ingest_status() -> None:
    """Show the ingestion log's backlog (how far the applier lags) and the pending events."""
    from app.ingest import pending as ingest_pending

    now = utcnow()
    with unit_of_work(settings_or_exit()) as session:
        summary = ingest_pending.pending_summary(session, limit=10)
    queued = summary["queued"]
    oldest = queued["oldest_received_at"]
    lag = f"; the oldest was acknowledged {(now - oldest).total_seconds():.1f} s ago" if oldest else ""
    typer.echo(f"queued: {queued['messages']} messages in {queued['batches']} batches{lag}")
    since = summary["oldest_received_at"]
    typer.echo(
        f"pending (no account yet): {summary['pending_events']} events"
        + (f", the oldest received {since.isoformat(timespec='seconds')}" if since else "")
    )
    for row in summary["by_user"]:
        typer.echo(f"  {row['events']:>8} {row['user']} (group {row['group_id'] or '-'})")
    applier = summary["applier"]
    if applier["failing_since"] is not None:
        typer.echo(
            f"applier failing since {applier['failing_since'].isoformat(timespec='seconds')}: "
            f"{applier['failures']} failed transactions, last {applier['error']}"
        )
    typer.echo(f"set aside (dead letters): {applier['set_aside']} messages")


@ingest_cli.command("apply")
def ingest_apply() -> None:
    """Store everything in the ingestion log now (the server's applier does this by itself)."""
    import time

    from app import scheduler

    settings = settings_or_exit()
    started = time.monotonic()
    with unit_of_work(settings) as session:  # migrates first; the drain commits as it goes
        engine = session.get_bind()
        try:
            total = scheduler.drain_ingest_log(engine, settings)  # type: ignore[arg-type]
        except Exception as exc:  # the database's trouble (messages it refuses are set aside)
            scheduler.record_applier_failure(engine, exc)  # type: ignore[arg-type]
            typer.echo(f"applying failed, the log is kept: {type(exc).__name__}: {exc}", err=True)
            raise typer.Exit(1) from None
    typer.echo(
        f"applied {total.batches} batches ({total.messages} messages) in "
        f"{time.monotonic() - started:.1f} s: {total.accepted} stored, {total.duplicates} "
        f"duplicates, {total.pending} pending, {total.rejected} rejected, {total.set_aside} set aside"
    )
    if total.set_aside:
        typer.echo("set-aside messages: see each source's dead letters (replay them after a fix)")


@cli.command()
def score(
    since: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Backfill daily snapshots from this day (YYYY-MM-DD)"),
    ] = None,
    step: Annotated[int, typer.Option(min=1, help="Days between backfilled snapshots")] = 1,
) -> None:
    """Score every account with every published health model (today, or from --since)."""
    from app.health import service as health

    settings = settings_or_exit()
    now = utcnow()
    today = now.astimezone(settings.tz).date()
    with unit_of_work(settings) as session:
        if since is not None:
            written = health.backfill(
                session, since=since.date(), until=today, tz=settings.tz, now=now, step_days=step
            )
        else:
            written = sum(health.run_scoring(session, as_of=today, tz=settings.tz, now=now).values())
    typer.echo(f"stored {written} score snapshots")


@features_cli.command("list")
def features_list() -> None:
    """List the catalog in matching order."""
    from app.usage import features as svc

    with unit_of_work(settings_or_exit()) as session:
        for f in svc.list_features(session):
            flag = "key" if f.is_key else "   "
            typer.echo(f"{f.key:<24} {flag} {f.name:<28} {', '.join(f.patterns)}")


@features_cli.command("add")
def features_add(
    key: str,
    name: Annotated[str, typer.Option(help="Display name")],
    pattern: Annotated[list[str], typer.Option("--pattern", "-p", help="Event name or pattern (repeatable)")],
    key_feature: Annotated[bool, typer.Option("--key-feature", help="Mark as a key feature")] = False,
    description: Annotated[str | None, typer.Option(help="What it is for")] = None,
) -> None:
    """Add a feature to the catalog."""
    from app.usage import features as svc

    with unit_of_work(settings_or_exit()) as session:
        feature = svc.create_feature(
            session,
            now=utcnow(),
            feature_in=svc.FeatureIn(
                key=key, name=name, patterns=pattern, is_key=key_feature, description=description
            ),
        )
    typer.echo(f"added feature {feature.key}")


@features_cli.command("remove")
def features_remove(key: str) -> None:
    """Remove a feature (its events become unmapped)."""
    from app.usage import features as svc

    with unit_of_work(settings_or_exit()) as session:
        svc.delete_feature(session, key=key)
    typer.echo(f"removed feature {key}")


@features_cli.command("export")
def features_export() -> None:
    """Print the catalog as JSON (for `features import`)."""
    import json

    from app.usage import features as svc

    with unit_of_work(settings_or_exit()) as session:
        data = [
            {
                "key": f.key,
                "name": f.name,
                "patterns": f.patterns,
                "is_key": f.is_key,
                "description": f.description,
            }
            for f in svc.list_features(session)
        ]
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


@features_cli.command("import")
def features_import(
    file: Annotated[typer.FileText, typer.Argument(help="JSON list from `features export`")],
) -> None:
    """Replace the catalog with the features in a JSON file (all or nothing)."""
    import json

    from app.usage import features as svc

    try:
        data = json.load(file)
        items = [
            svc.FeatureIn(
                key=d["key"],
                name=d["name"],
                patterns=list(d["patterns"]),
                is_key=bool(d.get("is_key", False)),
                description=d.get("description"),
            )
            for d in data
        ]
    except (ValueError, KeyError, TypeError) as exc:
        fail(f"not a feature list: {exc}")
    with unit_of_work(settings_or_exit()) as session:
        count = svc.replace_catalog(session, features=items, now=utcnow())
    typer.echo(f"imported {count} features")


@cli.command("import")
def import_csv(
    kind: Annotated[ImportKindChoice, typer.Argument(help="What the rows are")],
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The CSV, header first")
    ],
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help="CSVCOLUMN=FIELD (repeatable); FIELD empty skips the column"),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check every row, write nothing")] = False,
    partial: Annotated[
        bool, typer.Option("--partial", help="Keep the good rows (default: all or nothing)")
    ] = False,
    encoding: Annotated[str, typer.Option(help="utf-8-sig (with or without BOM), cp932, ...")] = "utf-8-sig",
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr")] = True,
) -> None:
    """Import accounts, contacts, interactions or daily usage from a CSV file (streamed).

    Errors name the row (the header is row 1, the first data row is row 2) and the column.
    Exit status 1 if any row had an error.
    """
    from app.cli.imports import run_import

    run_import(
        kind=kind.value,
        path=file,
        mapping=mapping or [],
        dry_run=dry_run,
        partial=partial,
        encoding=encoding,
        progress=progress,
    )


outbox_cli = typer.Typer(help="The email outbox.", no_args_is_help=True)
cli.add_typer(outbox_cli, name="outbox")


@outbox_cli.command("retry")
def outbox_retry(outbox_id: Annotated[int, typer.Argument(help="The failed email's id")]) -> None:
    """Queue a failed email again."""
    from app.email import outbox

    with unit_of_work(settings_or_exit()) as session:
        row = outbox.retry(session, outbox_id=outbox_id, now=utcnow())
    typer.echo(f"email {row.id} to {row.to_addr} queued again")


@outbox_cli.command("send")
def outbox_send() -> None:
    """Deliver the due emails now over BANSOU_SMTP_URL."""
    from app.scheduler import outbox_job

    settings = settings_or_exit()
    with unit_of_work(settings):
        pass  # migrate first
    engine = make_engine(
        settings.database_url,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        sqlite_synchronous=settings.sqlite_synchronous,
    )
    try:
        typer.echo(f"outbox: {counts_text(outbox_job(engine, settings, utcnow()))}")
    finally:
        engine.dispose()


jobs_cli = typer.Typer(
    help="Scheduled jobs: last run, success and error of each (with no command), or run one now.",
    invoke_without_command=True,
)
cli.add_typer(jobs_cli, name="jobs")


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
        fail(f"cannot reach the database ({_safe_url(settings)}): {exc.orig}")
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


@cli.command("dev-smtp")
def dev_smtp(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (then BANSOU_SMTP_URL=smtp://HOST:PORT)")] = 1025,
) -> None:
    """A local catch-all SMTP server that prints every message it receives (for trying it out)."""
    import asyncio

    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Debugging

    controller = Controller(Debugging(sys.stdout), hostname=host, port=port)
    controller.start()
    typer.echo(f"catching mail on smtp://{host}:{port}; Ctrl-C to stop")
    try:
        asyncio.run(asyncio.Event().wait())
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


def main() -> None:
    cli()
