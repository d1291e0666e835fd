"""``bansou keys``: API keys."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from app.cli.common import settings_or_exit, unit_of_work
from app.db import utcnow

keys_cli = typer.Typer(help="Manage API keys.", no_args_is_help=True)


class ScopeChoice(StrEnum):
    read = "read"
    write = "write"
    admin = "admin"


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
