"""Account history: an account's commercial events (contract start, renewal, churn, ARR change).

Written by the account service whenever it changes the fields behind them, and imported for the
past. One event of a kind per account and day: a second write on that day updates the first, so
a retried import never double counts, and two ARR changes on one day are one net change.

What an account update records:
- ``contract_start_on`` set or corrected → ``contract_start`` on that date with the ARR;
- ``renewal_on`` moved forward by at least :data:`RENEWAL_MIN_SHIFT` while active → ``renewal``
  on the old renewal date with the ARR before and after (a smaller shift is a correction);
- ARR changed without a renewal → ``arr_change`` today (expansion or contraction);
- status became churned → ``churn`` on the churn date, ARR before and 0 after.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, delete, func, or_
from sqlmodel import Session, col, select

from app.db import dialect_insert, table_of
from app.errors import FieldError, InvalidInput
from app.models import Account, AccountHistory
from app.pagination import Cursor, PageParams, decode_cursor, encode_cursor

RENEWAL_MIN_SHIFT = dt.timedelta(days=180)


@dataclass(frozen=True)
class Terms:
    """The account fields history is made from, as they were before a change."""

    arr: Decimal
    renewal_on: dt.date | None
    status: str
    churned_on: dt.date | None
    contract_start_on: dt.date | None


@dataclass(frozen=True)
class HistoryEventIn:
    account_id: str
    kind: str
    occurred_on: dt.date
    arr_before: Decimal | None = None
    arr_after: Decimal | None = None
    note: str | None = None


def terms_of(account: Account) -> Terms:
    return Terms(arr=Decimal(account.arr), renewal_on=account.renewal_on, status=account.status,
                 churned_on=account.churned_on, contract_start_on=account.contract_start_on)


def _row(account_id: int, kind: str, on: dt.date, before: Decimal | None, after: Decimal | None,
         *, source: str, actor: str, now: dt.datetime, note: str | None = None) -> dict[str, Any]:
    return {"account_id": account_id, "kind": kind, "occurred_on": on, "arr_before": before,
            "arr_after": after, "note": note, "source": source, "actor": actor,
            "recorded_at": now}


def _upsert(session: Session, rows: Sequence[dict[str, Any]], *, replace: bool) -> list[int]:
    """Insert the events; an event already there for the account, kind and day is updated (its
    ``arr_before`` kept unless ``replace``: the day's first "before" is the net change's).
    Returns the stored events' ids."""
    if not rows:
        return []
    table = table_of(AccountHistory)
    insert = dialect_insert(session, table).values(list(rows))
    excluded = insert.excluded
    before = excluded.arr_before if replace else func.coalesce(table.c.arr_before,
                                                               excluded.arr_before)
    statement = insert.on_conflict_do_update(
        index_elements=["account_id", "kind", "occurred_on"],
        set_={"arr_before": before, "arr_after": excluded.arr_after, "note": excluded.note,
              "source": excluded.source, "actor": excluded.actor,
              "recorded_at": excluded.recorded_at},
    ).returning(table.c.id)
    return [int(i) for i in session.execute(statement).scalars()]


def record_changes(
    session: Session, *, account: Account, before: Terms | None, now: dt.datetime,
    actor: str = "system",
) -> None:
    """Record the commercial events implied by the account's change from ``before`` (None for a
    new account)."""
    assert account.id is not None
    arr = Decimal(account.arr)
    rows: list[dict[str, Any]] = []

    def add(kind: str, on: dt.date, arr_before: Decimal | None, arr_after: Decimal | None) -> None:
        rows.append(_row(account.id or 0, kind, on, arr_before, arr_after, source="account",
                         actor=actor, now=now))

    start = account.contract_start_on
    if start is not None and (before is None or before.contract_start_on != start):
        if before is not None and before.contract_start_on is not None:
            session.execute(delete(AccountHistory).where(
                col(AccountHistory.account_id) == account.id,
                col(AccountHistory.kind) == "contract_start",
                col(AccountHistory.occurred_on) == before.contract_start_on,
            ))
        add("contract_start", start, None, arr)
    renewed = (
        before is not None and before.renewal_on is not None and account.renewal_on is not None
        and account.status == "active"
        and account.renewal_on >= before.renewal_on + RENEWAL_MIN_SHIFT
    )
    if renewed:
        assert before is not None and before.renewal_on is not None
        add("renewal", before.renewal_on, before.arr, arr)
    elif before is not None and before.arr != arr:
        add("arr_change", now.date(), before.arr, arr)
    if account.status == "churned" and (before is None or before.status != "churned"):
        add("churn", account.churned_on or now.date(), before.arr if before else arr, Decimal(0))
    _upsert(session, rows, replace=False)


def import_history(
    session: Session, *, events_in: Sequence[HistoryEventIn], actor: str, now: dt.datetime,
    source: str = "import", single: bool = False,
) -> list[tuple[AccountHistory, str]]:
    """Store past events (all or nothing); an event already stored for the account, kind and day
    is replaced, so a retried import changes nothing. 422 names each bad field (``data[i].``
    prefixed unless ``single``) and unknown account. Returns
    each stored event (once per account, kind and day) with its account's external id."""
    external_ids = {e.account_id for e in events_in}
    known = dict(session.exec(
        select(Account.external_id, Account.id).where(col(Account.external_id).in_(external_ids))
        .where(Account.status != "deleted")
    ).all())
    def at(i: int, name: str) -> str:
        return name if single else f"data[{i}].{name}"

    errors = [FieldError(at(i, "account_id"), f"no account with id {e.account_id!r}")
              for i, e in enumerate(events_in) if e.account_id not in known]
    for i, e in enumerate(events_in):
        if e.kind == "arr_change" and (e.arr_before is None or e.arr_after is None):
            errors.append(FieldError(at(i, "arr_after"),
                                     "an ARR change needs arr_before and arr_after"))
    if errors:
        raise InvalidInput(errors)
    rows: dict[tuple[int, str, dt.date], dict[str, Any]] = {}
    for e in events_in:
        account_id = known[e.account_id] or 0
        after = Decimal(0) if e.kind == "churn" else e.arr_after
        rows[(account_id, e.kind, e.occurred_on)] = _row(
            account_id, e.kind, e.occurred_on, e.arr_before, after, source=source, actor=actor,
            now=now, note=e.note,
        )
    values = list(rows.values())
    ids: list[int] = []
    for start in range(0, len(values), 500):
        ids.extend(_upsert(session, values[start:start + 500], replace=True))
    stored = session.exec(
        select(AccountHistory).where(col(AccountHistory.id).in_(ids))
        .execution_options(populate_existing=True)
    ).all()
    by_key = {(h.account_id, h.kind, h.occurred_on): h for h in stored}
    external = {v: k for k, v in known.items()}
    return [(by_key[k], external[k[0]]) for k in rows]


def list_history(
    session: Session, *, account: Account, page: PageParams
) -> tuple[list[AccountHistory], str | None]:
    """One page of the account's events, newest first."""
    query = select(AccountHistory).where(AccountHistory.account_id == account.id)
    if page.cursor:
        cursor = decode_cursor(page.cursor, sort="-occurred_on")
        try:
            on = dt.date.fromisoformat(str(cursor.value))
        except ValueError:
            raise InvalidInput.field("cursor", "not a cursor returned by this API", "query") from None
        query = query.where(or_(
            col(AccountHistory.occurred_on) < on,
            and_(col(AccountHistory.occurred_on) == on, col(AccountHistory.id) < cursor.last_id),
        ))
    query = query.order_by(col(AccountHistory.occurred_on).desc(), col(AccountHistory.id).desc())
    rows = list(session.exec(query.limit(page.limit + 1)).all())
    next_cursor = None
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        last = rows[-1]
        next_cursor = encode_cursor(Cursor("-occurred_on", last.occurred_on.isoformat(),
                                           last.id or 0))
    return rows, next_cursor
