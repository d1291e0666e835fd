"""``bansou ingest``: the ingestion log (its backlog, and storing it now); ``bansou purge``: raw
events past the retention period."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from app.cli.common import settings_or_exit, unit_of_work
from app.db import utcnow

ingest_cli = typer.Typer(
    help="The ingestion log: what /v1 acknowledged and is not stored yet.", no_args_is_help=True
)


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
