"""Accounts waiting to be rescored: every write that changes a score's inputs marks them, and
the scheduler's rescore job (``app.scheduler``) scores them within minutes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import select
from sqlmodel import Session

from app.db import dialect_insert, table_of
from app.models import ScoreDirty

DIRTY = table_of(ScoreDirty)


def mark_dirty(session: Session, account_ids: Iterable[int], now: dt.datetime) -> None:
    """Note that these accounts' data changed (marking twice is harmless)."""
    ids = sorted(set(account_ids))
    if not ids:
        return
    session.execute(
        dialect_insert(session, DIRTY).on_conflict_do_nothing(index_elements=["account_id"]),
        [{"account_id": a, "since": now} for a in ids],
    )


def dirty_accounts(session: Session, *, limit: int = 5000) -> list[int]:
    """Accounts waiting to be rescored, at most ``limit``."""
    return list(session.execute(select(DIRTY.c.account_id).limit(limit)).scalars())


def clear(session: Session, account_ids: list[int] | None) -> None:
    """Forget the marks of the accounts just scored (all of them when None)."""
    if account_ids is None:
        session.execute(DIRTY.delete())
    elif account_ids:
        session.execute(DIRTY.delete().where(DIRTY.c.account_id.in_(account_ids)))
