"""``bansou users``: CSM users."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer

from app.cli.common import settings_or_exit, unit_of_work
from app.db import utcnow

users_cli = typer.Typer(help="Manage CSM users.", no_args_is_help=True)


class RoleChoice(StrEnum):
    admin = "admin"
    csm = "csm"
    viewer = "viewer"


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
