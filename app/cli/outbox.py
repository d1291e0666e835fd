"""``bansou outbox``: retry a failed email, deliver the due ones now; ``bansou dev-smtp``: a local
SMTP server to try delivery with."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from app.cli.common import counts_text, settings_or_exit, unit_of_work
from app.db import make_engine, utcnow

outbox_cli = typer.Typer(help="The email outbox.", no_args_is_help=True)


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
