"""What every command shares: readable failures, the settings, and a unit of work on a migrated
database."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import NoReturn

import typer
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from app.config import ConfigError, Settings, load_settings
from app.db import make_engine, session_scope
from app.errors import BansouError, InvalidInput


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
        fail(f"cannot reach the database ({safe_url(settings)}): {exc.orig}")


def migrate_database(settings: Settings) -> None:
    from app import migrations

    try:
        migrations.upgrade(settings.database_url)
    except OperationalError as exc:
        fail(f"cannot reach the database ({safe_url(settings)}): {exc.orig}")


def counts_text(outcome: Mapping[str, object] | None) -> str:
    """A job's outcome on one line: ``claimed=2 sent=2 retrying=0 failed=0``."""
    return " ".join(f"{key}={value}" for key, value in (outcome or {}).items()) or "-"


def safe_url(settings: Settings) -> str:
    """The database URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(settings.database_url).render_as_string(hide_password=True)
