"""The ``bansou`` command: one module per command or group of commands, assembled here in the order
``bansou --help`` lists them."""

from __future__ import annotations

import typer

from app.cli import demo, features, imports, ingest, jobs, keys, outbox, score, serve, sources, users

cli = typer.Typer(
    name="bansou",
    help="Bansō: self-hosted customer success platform.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
cli.add_typer(users.users_cli, name="users")
cli.add_typer(keys.keys_cli, name="keys")
cli.add_typer(sources.sources_cli, name="sources")
cli.add_typer(features.features_cli, name="features")
cli.command()(serve.serve)
cli.command()(serve.migrate)
cli.command()(demo.demo)
cli.command()(ingest.purge)
cli.add_typer(ingest.ingest_cli, name="ingest")
cli.command()(score.score)
cli.command("import")(imports.import_csv)
cli.add_typer(outbox.outbox_cli, name="outbox")
cli.add_typer(jobs.jobs_cli, name="jobs")
cli.command("dev-smtp")(outbox.dev_smtp)


def main() -> None:
    cli()
