"""``bansou serve`` and ``bansou migrate``: the server, and the schema it needs."""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli.common import migrate_database, safe_url, settings_or_exit


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


def migrate() -> None:
    """Upgrade the database schema to the latest migration."""
    settings = settings_or_exit()
    migrate_database(settings)
    typer.echo(f"database at {safe_url(settings)} is up to date")
