"""``bansou import KIND FILE.csv``: stream a CSV through the importer with a progress bar.

Exit status: 0 when every row was good; 1 when any row had an error (with ``--partial`` the good
rows were still written; otherwise nothing was); 2 for unusable options.
"""

from __future__ import annotations

import codecs
import io
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import fail, settings_or_exit, unit_of_work
from app.db import utcnow
from app.errors import InvalidInput
from app.imports import service as csv_import


class ImportKindChoice(StrEnum):
    accounts = "accounts"
    contacts = "contacts"
    interactions = "interactions"
    usage = "usage"


def import_csv(
    kind: Annotated[ImportKindChoice, typer.Argument(help="What the rows are")],
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The CSV, header first")
    ],
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help="CSVCOLUMN=FIELD (repeatable); FIELD empty skips the column"),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check every row, write nothing")] = False,
    partial: Annotated[
        bool, typer.Option("--partial", help="Keep the good rows (default: all or nothing)")
    ] = False,
    encoding: Annotated[str, typer.Option(help="utf-8-sig (with or without BOM), cp932, ...")] = "utf-8-sig",
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr")] = True,
) -> None:
    """Import accounts, contacts, interactions or daily usage from a CSV file (streamed).

    Errors name the row (the header is row 1, the first data row is row 2) and the column.
    Exit status 1 if any row had an error.
    """
    run_import(
        kind=kind.value,
        path=file,
        mapping=mapping or [],
        dry_run=dry_run,
        partial=partial,
        encoding=encoding,
        progress=progress,
    )


def run_import(
    *,
    kind: csv_import.ImportKind,
    path: Path,
    mapping: list[str],
    dry_run: bool,
    partial: bool,
    encoding: str,
    progress: bool,
) -> None:
    """Import ``path`` and print the report; exits 1 if any row was bad."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    try:
        codecs.lookup(encoding)
    except LookupError:
        fail(f"unknown encoding {encoding!r} (try utf-8-sig or cp932)", 2)
    try:
        columns = csv_import.parse_mapping(mapping)
    except InvalidInput as exc:
        fail(exc.errors[0].message.replace("CSVCOLUMN", "--map CSVCOLUMN"), 2)
    settings = settings_or_exit()
    size = path.stat().st_size
    err = Console(stderr=True)
    with (
        path.open("rb") as raw,
        Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rows]:,} rows"),
            TimeRemainingColumn(),
            console=err,
            disable=not progress,
            transient=False,
        ) as bar,
    ):
        task = bar.add_task(f"import {kind}", total=size or None, rows=0)
        stream = io.TextIOWrapper(raw, encoding=encoding, newline="")

        def advance(rows: int) -> None:
            bar.update(task, completed=raw.tell(), rows=rows)

        with unit_of_work(settings) as session:
            report = csv_import.import_csv(
                session,
                kind=kind,
                stream=stream,
                now=utcnow(),
                mapping=columns,
                dry_run=dry_run,
                partial=partial,
                progress=advance,
                tz=settings.tz,
            )
        bar.update(task, completed=size, rows=report.rows)
    _print_report(report)
    if report.error_count:
        raise typer.Exit(1)


def _print_report(report: csv_import.ImportReport) -> None:
    for e in report.errors:
        where = f"row {e.row}" + (f", column {e.column}" if e.column else "")
        typer.echo(f"{where}: {e.message}", err=True)
    hidden = report.error_count - len(report.errors)
    if hidden > 0:
        typer.echo(f"... and {hidden} more errors", err=True)
    counts = (
        f"{report.rows} rows: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.error_count} with errors"
    )
    if report.dry_run:
        outcome = "dry run: nothing written"
    elif report.committed and report.error_count:
        outcome = "good rows written; the rows with errors were skipped (--partial)"
    elif report.committed:
        outcome = "written"
    else:
        outcome = "nothing written (all or nothing; fix the rows, or use --partial)"
    typer.echo(f"import {report.kind}: {counts}; {outcome}")
