"""The ingestion hot path's statements, written out for the driver, and the one runner of
ingestion's hand-written SQL in a session's transaction (the hot path's statements and its
locks), on SQLite or PostgreSQL; only the log writer runs its own, on its own connection.

Every track event costs one event row and four rollup rows. Built through SQLAlchemy, the
per-row type processing and statement construction cost more than the database's own work
(measured on SQLite: 30 of 57 ms for a 100-event batch); here the values are converted once,
in the database's own representation (SQLite: SQLAlchemy's text formats for dates and times;
PostgreSQL: the driver adapts Python values), and the SQL text is built once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import psycopg
from sqlmodel import Session

#: Rows per statement on the hot path (SQLite allows 32,766 parameters, PostgreSQL 65,535).
CHUNK = 500


class Sql:
    """A dialect's placeholders and value formats, and the runner of statements written with
    them (``execute``; ``run`` and ``select_in`` cut long ones into chunks for it)."""

    def __init__(self, dialect: str) -> None:
        self.postgres = dialect == "postgresql"
        self._values: dict[tuple[int, int, int], str] = {}

    def marks(self, count: int, first: int = 1) -> str:
        """``?, ?`` (SQLite) or ``$1, $2`` (PostgreSQL) for ``count`` parameters."""
        if self.postgres:
            return ", ".join(f"${n}" for n in range(first, first + count))
        return ", ".join(["?"] * count)

    def time(self, value: dt.datetime) -> Any:
        """A timestamp as UTCDateTime stores it (SQLite: ``2026-11-23 09:00:00.000000``, UTC)."""
        if self.postgres:
            return value
        return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    def day(self, value: dt.date) -> Any:
        return value if self.postgres else value.isoformat()

    def values(self, rows: int, width: int, json_at: int = -1) -> str:
        """``(?, ?), (?, ?)`` for ``rows`` rows of ``width`` values; ``json_at`` is a jsonb one."""
        key = (rows, width, json_at)
        text_ = self._values.get(key)
        if text_ is None:
            if self.postgres:
                tuples = []
                for row in range(rows):
                    marks = [f"${row * width + n + 1}" for n in range(width)]
                    if json_at >= 0:
                        marks[json_at] = f"CAST({marks[json_at]} AS jsonb)"
                    tuples.append("(" + ", ".join(marks) + ")")
                text_ = ", ".join(tuples)
            else:
                text_ = ", ".join(["(" + ", ".join(["?"] * width) + ")"] * rows)
            self._values[key] = text_
        return text_

    def run(
        self,
        session: Session,
        head: str,
        rows: list[tuple[Any, ...]],
        tail: str = "",
        *,
        json_at: int = -1,
    ) -> list[Any]:
        """``head VALUES ... tail`` for every row, in chunks; the rows any RETURNING gives back."""
        out: list[Any] = []
        if not rows:
            return out
        width = len(rows[0])
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            sql = f"{head} VALUES {self.values(len(chunk), width, json_at)} {tail}"
            out.extend(self.execute(session, sql, [v for row in chunk for v in row]))
        return out

    def execute(self, session: Session, sql: str, params: list[Any]) -> list[Any]:
        """The statement as written, in the session's transaction; its rows, if any.

        On PostgreSQL through a raw cursor, with the server's own ``$1`` placeholders: psycopg
        rewrites ``%s`` into those with a regular expression on every execution of a statement
        too long for its cache (all of the multi-row ones), which cost a third of applying.
        """
        if not self.postgres:
            result = session.connection().exec_driver_sql(sql, tuple(params))
            return list(result.fetchall()) if result.returns_rows else []
        driver = cast("psycopg.Connection[Any]", session.connection().connection.driver_connection)
        with psycopg.RawCursor(driver) as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description is not None else []

    def select_in(self, session: Session, head: str, values: list[Any], tail: str = "") -> list[Any]:
        """``head IN (...) tail`` over ``values``, in chunks."""
        out: list[Any] = []
        for start in range(0, len(values), CHUNK):
            chunk = values[start : start + CHUNK]
            out.extend(self.execute(session, f"{head} IN ({self.marks(len(chunk))}) {tail}", chunk))
        return out


_SQL: dict[str, Sql] = {}


def sql_for(dialect: str) -> Sql:
    """The (cached) statement writer of a dialect."""
    sql = _SQL.get(dialect)
    if sql is None:
        sql = _SQL[dialect] = Sql(dialect)
    return sql


def sql_of(session: Session) -> Sql:
    """The statement writer of the session's database."""
    return sql_for(session.get_bind().dialect.name)
