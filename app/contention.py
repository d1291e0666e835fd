"""Lost races for the database's locks, turned into a 503 the client can retry.

On SQLite a transaction that read before a concurrent writer committed can no longer write
(``database is locked``); on PostgreSQL a serialization failure, deadlock or lock timeout ends
the transaction. Nothing was written in either case, and the operations wrapped here are
idempotent, so the answer is ``503`` with ``Retry-After``.

Belongs in ``app.errors`` (with a handler for any ``OperationalError``); kept here until then.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import OperationalError

from app.errors import BansouError

#: PostgreSQL states that mean "lost a race for a lock": serialization, deadlock, lock timeout.
_CONTENTION_STATES = frozenset({"40001", "40P01", "55P03"})


class Busy(BansouError):
    """A concurrent write held the locks this one needed; nothing was written; retry."""

    status = 503
    slug = "busy"
    title = "Busy"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or "the database is busy with a concurrent write; retry shortly")
        self.headers["Retry-After"] = "1"


@contextmanager
def contention_is_busy() -> Iterator[None]:
    """Re-raise lock contention inside the block as ``Busy``; other errors pass through."""
    try:
        yield
    except OperationalError as exc:
        orig = exc.orig
        if (
            getattr(orig, "sqlstate", None) in _CONTENTION_STATES
            or "database is locked" in str(orig).lower()
        ):
            raise Busy() from exc
        raise
