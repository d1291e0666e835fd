"""CSV import of accounts, contacts, interactions and daily usage aggregates.

Rows go through the same validation and services as the JSON API. The file is streamed: read with
``csv.DictReader`` and handled in chunks of ``CHUNK_ROWS``, so memory stays flat however big the
file (a 1 GB export is fine through the CLI; the admin API is limited by the request body cap).

Transactions: the whole import runs in one savepoint. Each row of accounts, contacts and
interactions runs in its own nested savepoint, so a bad row leaves nothing behind and every bad
row is reported, not just the first. At the end the import is kept only if nothing was wrong
(default, all or nothing), or with ``partial`` (good rows kept, bad ones reported); ``dry_run``
does all the work and then rolls it back, so it checks exactly what a real run would. The
caller commits (the request's session, or the CLI's unit of work).

Re-importing is idempotent: accounts upsert by external id, contacts by external id or (account,
email), interactions by ``external_id``, usage rows replace their (account, day, event) values.

Rows are numbered as a spreadsheet shows them: the header is row 1, the first data row is row 2
(a quoted cell spanning several lines is still one row).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO
from zoneinfo import ZoneInfo

from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlmodel import Session, func, select

from app.accounts import service as accounts
from app.accounts.schemas import AccountCreate, AccountUpdate, ContactCreate, ContactUpdate
from app.errors import BansouError, Conflict, FieldError, ImportRejected, InvalidInput, NotFound
from app.interactions import service as interactions
from app.interactions.schemas import ITEM_TAGS, TYPE_FIELDS, InteractionIn, _InteractionBase
from app.models import Contact
from app.usage import aggregates as usage
from app.usage.schemas import DailyAggregateIn
from app.validation import NO_TAGS, UnionTags, field_errors

ImportKind = Literal["accounts", "contacts", "interactions", "usage"]
KINDS: tuple[ImportKind, ...] = ("accounts", "contacts", "interactions", "usage")
#: Rows handled per chunk: between chunks nothing from earlier rows is held in memory.
CHUNK_ROWS = 1000
#: Errors reported in detail; past this only ``error_count`` keeps growing.
MAX_REPORTED_ERRORS = 1000
#: The header is row 1; the first data row is row 2.
FIRST_DATA_ROW = 2
#: Separates several values in one cell (an interaction's contacts or attendees).
LIST_SEPARATOR = ";"
#: Who account and contact changes made by an import are recorded as made by.
IMPORT_ACTOR = "import"

_FIELDS: dict[str, frozenset[str]] = {
    "accounts": frozenset(AccountCreate.model_fields) - {"traits"},
    "contacts": frozenset(ContactCreate.model_fields) - {"traits"} | {"account_id", "status"},
    "interactions": (
        frozenset(_InteractionBase.model_fields) | TYPE_FIELDS | {"type"}
    ),
    "usage": frozenset(DailyAggregateIn.model_fields),
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "accounts": ("id", "name"),
    "contacts": ("account_id",),
    "interactions": ("account_id", "type", "occurred_at"),
    "usage": ("account_id", "day", "event", "count", "distinct_users"),
}
#: Header names understood without a ``--map``: an account's id is its ``account_id`` elsewhere.
_ALIASES: dict[str, dict[str, str]] = {
    "accounts": {"account_id": "id", "external_id": "id"},
}
_TRAITS = "traits."
_LISTS = frozenset({"contacts", "attendees"})
_INTERACTION = TypeAdapter(InteractionIn)
_DATA_FIELD = re.compile(r"^data\[(\d+)\]\.(.+)$")


@dataclass(frozen=True)
class RowError:
    row: int  # as a spreadsheet shows it: header row 1, first data row 2
    column: str | None  # the CSV header, as written in the file
    message: str


@dataclass
class ImportReport:
    kind: str
    dry_run: bool = False
    partial: bool = False
    rows: int = 0  # data rows read
    created: int = 0
    updated: int = 0
    unchanged: int = 0  # already stored as given (a re-imported interaction)
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    committed: bool = False  # the good rows are written (the caller commits)

    def error(self, row: int, column: str | None, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(row, column, message))

    @property
    def rejected(self) -> bool:
        """Nothing was written because of errors (not a dry run, not partial)."""
        return not self.committed and not self.dry_run and self.error_count > 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "dry_run": self.dry_run, "partial": self.partial,
            "rows": self.rows, "created": self.created, "updated": self.updated,
            "unchanged": self.unchanged,
            "errors": [{"row": e.row, "column": e.column, "message": e.message} for e in self.errors],
            "error_count": self.error_count, "committed": self.committed,
        }

    def raise_if_rejected(self) -> None:
        """422 carrying the report when bad rows stopped an all-or-nothing import."""
        if self.rejected:
            first = self.errors[0] if self.errors else None
            where = f" (first: row {first.row}, {first.column or 'row'}: {first.message})" if first else ""
            raise ImportRejected(f"{self.error_count} error(s); nothing was written{where}", self.as_dict())


@dataclass(frozen=True)
class _Columns:
    """Which CSV header feeds which field (``None``: ignored), and the reverse for errors."""

    fields: dict[str, str | None]
    headers: dict[str, str]

    def column(self, field_path: str) -> str | None:
        """The CSV header behind a field path: ``contacts[1]`` → the contacts column."""
        root = re.split(r"[\[.]", field_path, maxsplit=1)[0]
        return self.headers.get(root, root or None)


@dataclass(frozen=True)
class _Row:
    number: int
    data: dict[str, Any]


def parse_mapping(items: Iterable[str]) -> dict[str, str]:
    """``["Company=name", "Memo="]`` → ``{"Company": "name", "Memo": ""}`` (empty: ignore it)."""
    mapping: dict[str, str] = {}
    for item in items:
        column, sep, target = item.partition("=")
        if not sep or not column.strip():
            raise InvalidInput.field("map", f"{item!r} is not CSVCOLUMN=FIELD", "query")
        mapping[column.strip()] = target.strip()
    return mapping


def import_csv(
    session: Session,
    *,
    kind: ImportKind,
    stream: TextIO,
    now: dt.datetime,
    mapping: dict[str, str] | None = None,
    dry_run: bool = False,
    partial: bool = False,
    progress: Callable[[int], None] | None = None,
    tz: ZoneInfo | None = None,
) -> ImportReport:
    """Import the rows of a CSV stream; see the module docstring for the transaction rules.

    With ``tz`` (the team's time zone, for usage days), a new account collects the usage events
    that named it before it existed, as one created through the API does."""
    report = ImportReport(kind=kind, dry_run=dry_run, partial=partial)
    handle = _HANDLERS[kind]
    outer = session.begin_nested()
    fatal = False
    try:
        reader = csv.DictReader(stream, restkey="\0extra")
        columns = _columns(kind, _header(reader), mapping or {}, report)
        if columns is None:
            fatal = True
        else:
            reported = 0
            for chunk in _chunks(reader, columns, report):
                handle(session, chunk, columns, report, now, tz)
                # Checks run in passes (cells, then rules, then the database): sort by row.
                report.errors[reported:] = sorted(report.errors[reported:], key=lambda e: e.row)
                reported = len(report.errors)
                if progress is not None:
                    progress(report.rows)
    except UnicodeDecodeError as exc:
        fatal = True
        report.error(
            report.rows + FIRST_DATA_ROW, None,
            f"the file is not valid {exc.encoding} (here or a few rows on); give its encoding, "
            "e.g. cp932 for Excel exports in Japanese",
        )
    except csv.Error as exc:
        fatal = True
        report.error(report.rows + FIRST_DATA_ROW, None, f"malformed CSV: {exc}")
    except BaseException:
        outer.rollback()
        raise
    keep = not fatal and not dry_run and (partial or report.error_count == 0)
    if keep:
        outer.commit()
    else:
        outer.rollback()
    report.committed = keep
    return report


def _header(reader: csv.DictReader[str]) -> list[str]:
    names = list(reader.fieldnames or [])
    if names:
        names[0] = names[0].removeprefix("\ufeff")  # a BOM read with encoding="utf-8"
    reader.fieldnames = names
    return names


def _columns(
    kind: str, header: list[str], mapping: dict[str, str], report: ImportReport
) -> _Columns | None:
    """Resolve the header (row 1); None, with the errors reported, if it cannot be used."""
    if not header:
        report.error(1, None, "the file is empty: the first row must be the header")
        return None
    allowed, aliases = _FIELDS[kind], _ALIASES.get(kind, {})
    fields: dict[str, str | None] = {}
    headers: dict[str, str] = {}
    ok = True
    for raw in header:
        name = raw.strip()
        target = mapping.get(name, mapping.get(raw))
        if target is None:
            target = name.lower()
        target = aliases.get(target, target)
        if target == "":
            fields[raw] = None
            continue
        known = target in allowed or (
            target.startswith(_TRAITS) and len(target) > len(_TRAITS)
            and kind in ("accounts", "contacts")
        )
        if not known:
            ok = False
            report.error(
                1, raw, f"unknown column: map it to a field ({name}=FIELD) or skip it ({name}=); "
                f"fields: {', '.join(sorted(allowed))}",
            )
            continue
        if target in headers:
            ok = False
            report.error(1, raw, f"a second column for {target} (the first is {headers[target]!r})")
            continue
        fields[raw] = target
        headers[target] = raw
    missing = [f for f in _REQUIRED[kind] if f not in headers]
    for name in missing:
        ok = False
        report.error(1, None, f"no column for the required field {name}")
    return _Columns(fields, headers) if ok else None


def _chunks(
    reader: csv.DictReader[str], columns: _Columns, report: ImportReport
) -> Iterator[list[_Row]]:
    chunk: list[_Row] = []
    used = [(raw, target) for raw, target in columns.fields.items() if target is not None]
    special = {t for _, t in used if t.startswith(_TRAITS) or t in _LISTS}
    for record in reader:
        number = report.rows + FIRST_DATA_ROW
        report.rows += 1
        if record.get("\0extra"):
            report.error(number, None, "more cells than the header has columns")
            continue
        data: dict[str, Any] = {}
        for raw, target in used:
            value = record.get(raw)
            if value:
                value = value.strip()
            if not value:
                continue  # an empty cell: the field is not given
            if target not in special:
                data[target] = value
            elif target in _LISTS:
                data[target] = [v.strip() for v in value.split(LIST_SEPARATOR) if v.strip()]
            else:
                data.setdefault("traits", {})[target[len(_TRAITS):]] = value
        if data:
            chunk.append(_Row(number, data))
        if len(chunk) >= CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _report(report: ImportReport, row: _Row, columns: _Columns, errors: list[FieldError]) -> None:
    for e in errors:
        report.error(row.number, columns.column(e.field), e.message)


def _validate(
    model: Any, row: _Row, columns: _Columns, report: ImportReport, tags: UnionTags = NO_TAGS
) -> Any | None:
    try:
        if isinstance(model, TypeAdapter):
            return model.validate_python(row.data)
        assert issubclass(model, BaseModel)
        return model.model_validate(row.data)
    except ValidationError as exc:
        _report(report, row, columns, field_errors(exc, tags=tags))
        return None


def _run_row(
    session: Session, row: _Row, columns: _Columns, report: ImportReport,
    work: Callable[[], str], column_for: dict[type[BansouError], str | None] | None = None,
) -> None:
    """Run one row's writes in a savepoint; its errors become the row's report lines."""
    try:
        with session.begin_nested():
            outcome = work()
    except InvalidInput as exc:
        _report(report, row, columns, exc.errors)
        return
    except BansouError as exc:
        if exc.status >= 500:
            raise  # not the row's fault (e.g. the database is busy): the import stops
        column = (column_for or {}).get(type(exc))
        report.error(row.number, columns.headers.get(column or "", column), exc.detail)
        return
    if outcome == "created":
        report.created += 1
    elif outcome == "updated":
        report.updated += 1
    else:
        report.unchanged += 1


# -- accounts ---------------------------------------------------------------------------------


def _import_accounts(
    session: Session, chunk: list[_Row], columns: _Columns, report: ImportReport, now: dt.datetime,
    tz: ZoneInfo | None,
) -> None:
    for row in chunk:
        account_in = _validate(AccountCreate, row, columns, report)
        if account_in is None:
            continue

        def work(account_in: AccountCreate = account_in) -> str:
            existing = accounts.find_account(session, account_in.id)
            if existing is not None and existing.status == "deleted":
                raise InvalidInput.field("id", "this account was deleted; it is not re-imported")
            if existing is None:
                accounts.create_account(session, account_in=account_in, now=now, tz=tz,
                                        actor=IMPORT_ACTOR)
                return "created"
            changes = account_in.model_dump(exclude_unset=True, exclude={"id"})
            if "traits" in changes:
                changes["traits"] = {**existing.traits, **account_in.traits}
            accounts.update_account(
                session, external_id=account_in.id, account_in=AccountUpdate(**changes), now=now,
                actor=IMPORT_ACTOR,
            )
            return "updated"

        _run_row(session, row, columns, report, work, {NotFound: "id", Conflict: "id"})


# -- contacts ---------------------------------------------------------------------------------


def _import_contacts(
    session: Session, chunk: list[_Row], columns: _Columns, report: ImportReport, now: dt.datetime,
    tz: ZoneInfo | None,
) -> None:
    for row in chunk:
        fields = {k: v for k, v in row.data.items() if k not in ("account_id", "status")}
        contact_in = _validate(ContactCreate, _Row(row.number, fields), columns, report)
        status = _validate(
            ContactUpdate, _Row(row.number, {"status": row.data.get("status")}), columns, report
        ) if "status" in row.data else None
        if contact_in is None or ("status" in row.data and status is None):
            continue
        if contact_in.external_id is None and contact_in.email is None:
            report.error(row.number, None, "give the contact's external_id or email (or both)")
            continue

        def work(
            row: _Row = row, contact_in: ContactCreate = contact_in,
            status: ContactUpdate | None = status,
        ) -> str:
            return _upsert_contact(session, row, contact_in, status, now)

        _run_row(session, row, columns, report, work, {NotFound: "account_id", Conflict: "external_id"})


def _upsert_contact(
    session: Session, row: _Row, contact_in: ContactCreate, status: ContactUpdate | None,
    now: dt.datetime,
) -> str:
    account_ext = str(row.data["account_id"])
    account = accounts.get_account(session, account_ext)
    existing = None
    if contact_in.external_id is not None:
        existing = session.exec(
            select(Contact).where(Contact.external_id == contact_in.external_id)
        ).first()
        if existing is not None and existing.account_id != account.id:
            raise InvalidInput.field(
                "external_id", "already the id of a contact on another account"
            )
    if existing is None and contact_in.email is not None:
        existing = session.exec(
            select(Contact).where(
                Contact.account_id == account.id,
                func.lower(Contact.email) == contact_in.email.lower(),
            ).order_by(Contact.id)  # type: ignore[arg-type]
        ).first()
    if existing is None:
        contact = accounts.create_contact(
            session, account_id=account_ext, contact_in=contact_in, now=now, actor=IMPORT_ACTOR
        )
        if status is not None and status.status is not None:
            assert contact.id is not None
            accounts.update_contact(
                session, account_id=account_ext, contact_id=contact.id, contact_in=status, now=now,
                actor=IMPORT_ACTOR,
            )
        return "created"
    changes = {k: v for k, v in contact_in.model_dump(exclude_unset=True).items()}
    if "traits" in changes:
        changes["traits"] = {**existing.traits, **contact_in.traits}
    if status is not None:
        changes["status"] = status.status
    assert existing.id is not None
    accounts.update_contact(
        session, account_id=account_ext, contact_id=existing.id,
        contact_in=ContactUpdate(**changes), now=now, actor=IMPORT_ACTOR,
    )
    return "updated"


# -- interactions -----------------------------------------------------------------------------


def _import_interactions(
    session: Session, chunk: list[_Row], columns: _Columns, report: ImportReport, now: dt.datetime,
    tz: ZoneInfo | None,
) -> None:
    for row in chunk:
        item = _validate(_INTERACTION, row, columns, report, ITEM_TAGS)
        if item is None:
            continue

        def work(item: Any = item) -> str:
            view = interactions.create_interaction(session, interaction_in=item, now=now)
            return "created" if view.created else "unchanged"

        _run_row(session, row, columns, report, work, {Conflict: "external_id"})


# -- usage ------------------------------------------------------------------------------------


def _import_usage(
    session: Session, chunk: list[_Row], columns: _Columns, report: ImportReport, now: dt.datetime,
    tz: ZoneInfo | None,
) -> None:
    good: list[tuple[_Row, DailyAggregateIn]] = []
    for row in chunk:
        aggregate = _validate(DailyAggregateIn, row, columns, report)
        if aggregate is not None:
            good.append((row, aggregate))
    while good:
        try:
            result = usage.replace_daily_aggregates(session, rows=[a for _, a in good], now=now)
        except InvalidInput as exc:
            # Nothing was written: drop the rows it names and store the rest.
            bad: set[int] = set()
            for e in exc.errors:
                match = _DATA_FIELD.match(e.field)
                if match is None:
                    raise
                index = int(match.group(1))
                bad.add(index)
                report.error(good[index][0].number, columns.column(match.group(2)), e.message)
            good = [g for i, g in enumerate(good) if i not in bad]
            continue
        report.created += result.created
        report.updated += result.replaced
        return


_Handler = Callable[[Session, list[_Row], _Columns, ImportReport, dt.datetime, ZoneInfo | None], None]
_HANDLERS: dict[str, _Handler] = {
    "accounts": _import_accounts,
    "contacts": _import_contacts,
    "interactions": _import_interactions,
    "usage": _import_usage,
}
