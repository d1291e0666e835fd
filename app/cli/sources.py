"""``bansou sources``: sources of Segment-format traffic and their write keys."""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli.common import settings_or_exit, unit_of_work
from app.db import utcnow

sources_cli = typer.Typer(help="Manage sources of Segment-format traffic.", no_args_is_help=True)


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
