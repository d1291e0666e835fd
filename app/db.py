"""Engine, sessions and column types shared by every table.

SQLite is tuned for a single-machine service: WAL (readers never block the writer), foreign keys
enforced, and a busy timeout so a second writer waits instead of failing at once. Timestamps are
stored in UTC and always come back timezone-aware, on SQLite as on PostgreSQL.

A unit of work says up front whether it writes (``open_session(engine, writes=...)``). On SQLite a
writing one begins with ``BEGIN IMMEDIATE``: it takes the one write lock before it reads, so it
waits its turn (up to the busy timeout) instead of failing with "database is locked" when another
writer commits between its read and its write (a stale snapshot cannot wait: SQLITE_BUSY_SNAPSHOT).
A reading one begins with a plain ``BEGIN`` under ``PRAGMA query_only`` (``READ ONLY`` on
PostgreSQL), so a write slipped into it fails loudly in every test instead of rarely in production.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Integer,
    SmallInteger,
    String,
    Table,
    event,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel, create_engine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION

#: JSON documents: JSONB on PostgreSQL, JSON (text) on SQLite.
JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC that is always returned timezone-aware.

    Naive datetimes are refused on the way in: a naive value's zone is a guess, and guessing is
    how a CSM in Tokyo sees yesterday's meeting as today's.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; pass a timezone-aware value")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def make_engine(
    database_url: str, *, busy_timeout_ms: int = 5000, sqlite_synchronous: str = "full", **kwargs: Any
) -> Engine:
    """Create the engine for a URL, with Bansō's SQLite pragmas when the URL is SQLite."""
    if database_url.startswith("sqlite"):
        connect_args = {"check_same_thread": False, "timeout": busy_timeout_ms / 1000}
        engine = create_engine(database_url, connect_args=connect_args, **kwargs)
        _install_sqlite_pragmas(engine, busy_timeout_ms, sqlite_synchronous)
        return engine
    return create_engine(database_url, pool_pre_ping=True, **kwargs)


def _install_sqlite_pragmas(engine: Engine, busy_timeout_ms: int, synchronous: str) -> None:
    if synchronous.upper() not in ("FULL", "NORMAL"):
        raise ValueError(f"synchronous must be full or normal, not {synchronous!r}")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite opens transactions lazily and never for SELECT; take over with BEGIN below so
        # that a read-then-write transaction holds its snapshot and SAVEPOINTs work.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        # FULL (the default): a commit acknowledged to a client survives a power cut, not only a
        # crash. NORMAL (in WAL mode) survives a crash or kill of the process, but an OS crash or
        # power cut can undo the commits since the last checkpoint (never corrupting the file);
        # it commits in ~0.2 ms instead of a disk sync (3-30 ms on a typical cloud VM's disk),
        # about doubling the /v1 acknowledgement rate. PostgreSQL syncs every commit.
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get(_MODE)
        info = conn.connection.info  # the pooled DBAPI connection's: query_only outlives a BEGIN
        query_only = mode == "read"
        if info.get("query_only", False) != query_only:
            conn.exec_driver_sql(f"PRAGMA query_only={int(query_only)}")
            info["query_only"] = query_only
        conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "write" else "BEGIN")


#: The execution option carrying a unit of work's intent ("read" or "write") to ``_on_begin``.
_MODE = "bansou_mode"


def bind_for(engine: Engine, *, writes: bool) -> Engine:
    """The engine as a writing or a read-only unit of work uses it (same pool, same events)."""
    cache: dict[bool, Engine] = engine.__dict__.setdefault("_bansou_binds", {})
    bound = cache.get(writes)
    if bound is None:
        options: dict[str, Any] = {_MODE: "write" if writes else "read"}
        if engine.dialect.name == "postgresql" and not writes:
            options["postgresql_readonly"] = True
        bound = cache[writes] = engine.execution_options(**options)
    return bound


def open_session(engine: Engine, *, writes: bool) -> Session:
    """A session whose transactions write (SQLite: write lock up front) or only read."""
    return Session(bind_for(engine, writes=writes), expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine, *, writes: bool = True) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    with open_session(engine, writes=writes) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def table_of(model: Any) -> Table:
    """The Core table behind a SQLModel table class (for bulk, set-based statements)."""
    table: Table = model.__table__
    return table


def column_length(model: Any, name: str) -> int:
    """The most characters a string column of a table class holds (``String(255)`` → 255)."""
    kind = table_of(model).c[name].type
    assert isinstance(kind, String) and isinstance(kind.length, int), f"{name} has no length"
    return kind.length


def largest_integer(model: Any, name: str) -> int:
    """The largest value an integer column holds on every engine we support: ``Integer`` is 32
    bits on PostgreSQL (SQLite's are all 64), ``BigInteger`` 64, ``SmallInteger`` 16."""
    kind = table_of(model).c[name].type
    if isinstance(kind, BigInteger):
        return 2**63 - 1
    if isinstance(kind, SmallInteger):
        return 2**15 - 1
    assert isinstance(kind, Integer), f"{name} is not an integer column"
    return 2**31 - 1


def dialect_insert(session: Session, table: Table) -> Any:
    """An INSERT that understands ``ON CONFLICT`` on the session's engine (SQLite or PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


#: 64-bit ids where rows may number in the billions; SQLite only autoincrements INTEGER.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


def one_of(column: str, values: tuple[str, ...]) -> str:
    """A CHECK constraint's SQL: ``column`` holds one of ``values``."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"
