"""Accounts waiting to be rescored: every write that changes a score's inputs marks them, and
the scheduler's rescore job (``app.scheduler``) scores them within minutes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import bindparam, select
from sqlmodel import Session

from app.db import dialect_insert, table_of
from app.ingest.statements import sql_of
from app.models import ScoreDirty

DIRTY = table_of(ScoreDirty)


def mark_dirty(session: Session, account_ids: Iterable[int], now: dt.datetime) -> None:
    """Note that these accounts' data changed (marking twice is harmless). A mark keeps the time
    of the latest change, so a scoring run clears only the marks it read (``clear_seen``)."""
    ids = sorted(set(account_ids))
    if not ids:
        return
    insert = dialect_insert(session, DIRTY)
    session.execute(
        insert.on_conflict_do_update(index_elements=["account_id"], set_={"since": insert.excluded.since}),
        [{"account_id": a, "since": now} for a in ids],
    )


def mark_dirty_direct(session: Session, account_ids: Iterable[int], now: dt.datetime) -> None:
    """The same marks as ``mark_dirty``, written for the driver (one statement per 500 accounts,
    no flush of the session's pending objects first): ingestion marks every account it adds
    usage to, on its hot path, where ``mark_dirty`` took fifteen times as long (SQLite, 300
    accounts: 2 ms against 0.13 ms)."""
    ids = sorted(set(account_ids))
    if not ids:
        return
    sql = sql_of(session)
    since = sql.time(now)
    sql.run(
        session,
        f"INSERT INTO {DIRTY.name} (account_id, since)",
        [(a, since) for a in ids],
        "ON CONFLICT (account_id) DO UPDATE SET since = excluded.since",
    )


def dirty_accounts(session: Session, *, limit: int = 5000) -> list[int]:
    """Accounts waiting to be rescored, at most ``limit``."""
    return list(session.execute(select(DIRTY.c.account_id).limit(limit)).scalars())


def marks(session: Session, account_ids: list[int] | None = None) -> dict[int, dt.datetime]:
    """The marks as they stand (of these accounts, or all): account id → time of its latest change."""
    query = select(DIRTY.c.account_id, DIRTY.c.since)
    if account_ids is not None:
        query = query.where(DIRTY.c.account_id.in_(account_ids))
    return {int(a): since for a, since in session.execute(query)}


def clear_seen(session: Session, seen: dict[int, dt.datetime]) -> None:
    """Forget the marks read before scoring, unless a change since then marked them again."""
    if seen:
        session.execute(
            DIRTY.delete().where(DIRTY.c.account_id == bindparam("a"), DIRTY.c.since == bindparam("s")),
            [{"a": a, "s": since} for a, since in seen.items()],
        )


def clear(session: Session, account_ids: list[int] | None) -> None:
    """Forget the marks of the accounts just scored (all of them when None)."""
    if account_ids is None:
        session.execute(DIRTY.delete())
    elif account_ids:
        session.execute(DIRTY.delete().where(DIRTY.c.account_id.in_(account_ids)))
