"""``bansou features``: the feature catalog, and its export and import as JSON."""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli.common import fail, settings_or_exit, unit_of_work
from app.db import utcnow

features_cli = typer.Typer(help="Manage the feature catalog.", no_args_is_help=True)


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
