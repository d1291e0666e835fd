"""``bansou score``: score every account now, or backfill daily snapshots."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from app.cli.common import settings_or_exit, unit_of_work
from app.db import utcnow


def score(
    since: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Backfill daily snapshots from this day (YYYY-MM-DD)"),
    ] = None,
    step: Annotated[int, typer.Option(min=1, help="Days between backfilled snapshots")] = 1,
) -> None:
    """Score every account with every published health model (today, or from --since)."""
    from app.health import snapshots as health_snapshots

    settings = settings_or_exit()
    now = utcnow()
    today = now.astimezone(settings.tz).date()
    with unit_of_work(settings) as session:
        if since is not None:
            written = health_snapshots.backfill(
                session, since=since.date(), until=today, tz=settings.tz, now=now, step_days=step
            )
        else:
            scored = health_snapshots.run_scoring(session, as_of=today, tz=settings.tz, now=now)
            written = sum(scored.values())
    typer.echo(f"stored {written} score snapshots")
