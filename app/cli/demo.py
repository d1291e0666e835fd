"""``bansou demo``: deterministic demo data."""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli.common import settings_or_exit, unit_of_work
from app.db import utcnow


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
