"""Test fixtures: every test gets its own freshly migrated database.

The engine is SQLite (a temporary file) unless ``BANSOU_TEST_DATABASE_URL`` names a PostgreSQL
database (``scripts/with-postgres`` sets it). The schema is built once per session from the
migrations into a template, then copied per test: a file copy on SQLite, ``CREATE DATABASE ...
TEMPLATE`` on PostgreSQL (or a used database, emptied). Data many tests start from (the small
book of business) is also built once, then copied in (``DatabaseFactory.load``). Tests of the
HTTP app share a few prepared apps (``app_for``), and hash passwords at a test-only cost.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Table, create_engine, select, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import NullPool
from sqlmodel import Session, SQLModel

from app import migrations
from app.auth import api_keys, security
from app.config import Settings
from app.db import make_engine
from app.main import create_app

PG_URL = os.environ.get("BANSOU_TEST_DATABASE_URL", "")
ENGINE = "postgresql" if PG_URL.startswith("postgresql") else "sqlite"
AS_OF = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
_counter = itertools.count()
T = TypeVar("T")

#: argon2id at the least cost argon2 accepts: a real hash, made and checked by the app's own code,
#: in a millisecond instead of the recommended parameters' half second (slow by design), which
#: every user a test creates and every sign-in would pay. The app keeps the recommended ones
#: (``tests/test_security_and_cursors.py`` checks them with ``production_password_hashing``).
TEST_PASSWORD_HASH = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
_production_hasher = security._hasher


def pytest_report_header() -> str:
    return f"bansou database engine: {ENGINE}"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests marked slow go first (in their order), then the rest. pytest-xdist hands tests
    out in this order (after groups such as the browser tests, which go first as a whole), so a
    test of a minute is not the last to start while the other workers wait for it.

    Under ``--dist loadgroup``, a test marked ``xdist_group`` gets its group in its node id,
    which is how pytest-xdist sends a group to one worker: pytest-xdist does it too, but in the
    attribute pytest 9 no longer reads, so the groups were ignored."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        groups = sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                         for mark in item.iter_markers("xdist_group")})
        if groups and "@" not in item.nodeid:
            set_node_id(item, f"{item.nodeid}@{'_'.join(groups)}")


def set_node_id(item: pytest.Item, nodeid: str) -> None:
    """Give a collected test another node id (pytest 9 keeps it structured in ``_id``, earlier
    versions as the string ``_nodeid``)."""
    current = getattr(item, "_id", None)
    if current is not None and hasattr(type(current), "parse"):
        item._id = type(current).parse(nodeid)  # type: ignore[attr-defined]
    else:
        item._nodeid = nodeid


@dataclass(frozen=True)
class _Seed:
    """What a builder wrote (rows by table, parents first; PostgreSQL sequence positions) and
    what it returned."""

    rows: list[tuple[Table, list[dict[str, Any]]]]
    sequences: list[tuple[str, int]]
    value: Any


class DatabaseFactory:
    """Makes fresh, migrated databases and returns their URLs."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._template: str | None = None
        self._pool: list[str] = []
        self._migrated: set[str] = set()
        self._tables: list[str] = []
        self._used_sql: str | None = None
        self._admin_engine: Engine | None = None
        self._keepers: dict[str, tuple[Engine, Connection]] = {}
        self._seeds: dict[Callable[..., Any], _Seed] = {}

    def _admin(self) -> Engine:
        if self._admin_engine is None:
            url = make_url(PG_URL).set(database="postgres")
            self._admin_engine = create_engine(url, isolation_level="AUTOCOMMIT", pool_size=1)
        return self._admin_engine

    def close(self) -> None:
        for name in list(self._keepers):
            self._forget_keeper(name)
        if self._admin_engine is not None:
            self._admin_engine.dispose()

    def template(self) -> str:
        if self._template is None:
            if ENGINE == "sqlite":
                path = self.workdir / "template.db"
                url = f"sqlite:///{path}"
                migrations.upgrade(url)
                self._template = str(path)
            else:
                name = f"bansou_tpl_{os.getpid()}"
                admin = self._admin()
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
                migrations.upgrade(make_url(PG_URL).set(database=name).render_as_string(False))
                self._template = name
        return self._template

    def fresh(self, *, migrated: bool = True) -> str:
        n = next(_counter)
        if ENGINE == "sqlite":
            path = self.workdir / f"test_{n}.db"
            if migrated:
                shutil.copyfile(self.template(), path)
            return f"sqlite:///{path}"
        # On PostgreSQL, creating a database costs 0.2–0.6 s; emptying a used one costs
        # milliseconds. Migrated databases are therefore reused: emptied, sequences restarted.
        while migrated and self._pool:
            name = self._pool.pop()
            if self._empty(name):
                return self._url(name)
            self._drop_database(name)
        name = f"bansou_t{os.getpid()}_{n}"
        admin = self._admin()
        with admin.connect() as conn:
            if migrated:
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template()}"'))
                self._migrated.add(name)
            else:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        return self._url(name)

    def _url(self, name: str) -> str:
        return make_url(PG_URL).set(database=name).render_as_string(False)

    def _empty(self, name: str) -> bool:
        """Delete every row and restart every sequence; False if the database is not usable.

        A test writes to a few of the fifty-odd tables: one query finds them (and the sequences
        it moved) and only those are emptied. The work is done over one connection kept open to
        the database between its tests, so its caches stay warm: a fresh connection would look
        every table up again, which costs more than emptying them."""
        if self._used_sql is None:
            self._tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
            self._used_sql = " UNION ALL ".join(
                [f"SELECT 'table', '{t}' WHERE EXISTS (SELECT FROM \"{t}\")"  # noqa: S608 (our own table names)
                 for t in self._tables]
                + ["SELECT 'sequence', sequencename::text FROM pg_sequences "
                   "WHERE schemaname = current_schema() AND last_value IS NOT NULL"]
            )
        try:
            conn = self._keeper(name)
            with conn.begin():
                conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
                conn.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                used = {(kind, what) for kind, what in conn.exec_driver_sql(self._used_sql)}
                reset = "".join(
                    [f'DELETE FROM "{t}";' for t in self._tables if ("table", t) in used]  # noqa: S608
                    + [f'ALTER SEQUENCE "{q}" RESTART;' for kind, q in sorted(used) if kind == "sequence"]
                )
                if reset:
                    conn.exec_driver_sql(reset)
                head = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
            return head == migrations.head_revision(PG_URL)
        except Exception:
            self._forget_keeper(name)
            return False

    def _keeper(self, name: str) -> Connection:
        if name not in self._keepers:
            engine = create_engine(self._url(name), poolclass=NullPool)
            self._keepers[name] = (engine, engine.connect())
        return self._keepers[name][1]

    def _forget_keeper(self, name: str) -> None:
        engine, conn = self._keepers.pop(name, (None, None))
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
        if engine is not None:
            engine.dispose()

    def _drop_database(self, name: str) -> None:
        self._migrated.discard(name)
        self._forget_keeper(name)
        admin = self._admin()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def load(self, engine: Engine, build: Callable[[Session], T]) -> T:
        """Write into this fresh database what ``build`` writes into a fresh one; return what it
        returned. ``build`` runs once per session, on a scratch database, and its rows are kept;
        each call inserts them (ids included) and, on PostgreSQL, moves the sequences to where
        ``build`` left them, so the database is as if ``build`` had run on it."""
        seed = self._seeds.get(build)
        if seed is None:
            seed = self._seeds[build] = self._seed(build)
        with engine.begin() as conn:
            for table, rows in seed.rows:
                conn.execute(table.insert(), rows)
            for sequence, value in seed.sequences:
                conn.execute(text("SELECT setval(CAST(:name AS regclass), :value)"),
                             {"name": f'"{sequence}"', "value": value})
        return seed.value  # type: ignore[no-any-return]

    def _seed(self, build: Callable[[Session], Any]) -> _Seed:
        url = self.fresh()
        engine = make_engine(url)
        try:
            with Session(engine, expire_on_commit=False) as session:
                value = build(session)
                session.commit()
            with engine.connect() as conn:
                rows = []
                for table in SQLModel.metadata.sorted_tables:
                    found = [dict(zip(table.columns.keys(), row, strict=True))
                             for row in conn.execute(select(table))]
                    if found:
                        rows.append((table, found))
                sequences: list[tuple[str, int]] = []
                if ENGINE == "postgresql":
                    sequences = [(name, value) for name, value in conn.execute(text(
                        "SELECT sequencename, last_value FROM pg_sequences "
                        "WHERE schemaname = current_schema() AND last_value IS NOT NULL"
                    ))]
        finally:
            engine.dispose()
            self.drop(url)
        return _Seed(rows, sequences, value)

    def drop(self, url: str) -> None:
        if ENGINE == "sqlite":
            path = Path(make_url(url).database or "")
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            return
        name = make_url(url).database or ""
        if name in self._migrated:
            self._pool.append(name)
        else:
            self._drop_database(name)


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(security, "_hasher", lambda: TEST_PASSWORD_HASH)
        yield


@pytest.fixture
def production_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's own password hashing parameters, for the tests of them."""
    monkeypatch.setattr(security, "_hasher", _production_hasher)


#: Where SQLite's files go when there is room: memory. SQLite syncs every commit to disk
#: (synchronous=FULL), a few milliseconds each on a disk, for nothing a test could see; in memory
#: the same syncs are free (the PostgreSQL pass runs its server with fsync=off alike).
MEMORY_DIR = Path("/dev/shm")


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseFactory]:
    in_memory = ENGINE == "sqlite" and MEMORY_DIR.is_dir() and os.access(MEMORY_DIR, os.W_OK) \
        and shutil.disk_usage(MEMORY_DIR).free > 2 * 1024**3
    if in_memory:
        workdir = Path(tempfile.mkdtemp(prefix="bansou-test-", dir=MEMORY_DIR))
    else:
        workdir = tmp_path_factory.mktemp("db")
    factory = DatabaseFactory(workdir)
    try:
        yield factory
    finally:
        factory.close()
        if in_memory:
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def db_url(databases: DatabaseFactory) -> Iterator[str]:
    url = databases.fresh()
    yield url
    databases.drop(url)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(
        env="test", database_url=db_url, secret_key="test-secret-key-0123456789",
        scheduler_enabled=False,
    )


_prepared_apps: dict[str, FastAPI] = {}


def app_for(settings: Settings, *, engine: Engine | None = None) -> FastAPI:
    """``create_app(settings, engine=engine)``, on an app whose routes are already prepared.

    FastAPI prepares an app's routes (dependencies, validation models) at its first request:
    about a third of a second for Bansō's two hundred routes, more than most tests take, and
    the OpenAPI document two seconds more. Apps whose settings differ only in the database are
    alike but for their state and their lifespan (which opens the database), so an app made
    earlier in the run serves: it gets the new app's state and lifespan, so it starts as the new
    app would, with nothing kept from an earlier test.
    """
    fresh = create_app(settings, engine=engine)
    key = settings.model_dump_json(exclude={"database_url"})
    prepared = _prepared_apps.setdefault(key, fresh)
    if prepared is fresh:
        return fresh
    if _shape(prepared) != _shape(fresh):  # a test added a route or a handler to it
        _prepared_apps[key] = fresh
        return fresh
    prepared.state = fresh.state
    prepared.router.lifespan_context = fresh.router.lifespan_context
    prepared.dependency_overrides.clear()
    return prepared


def _shape(app: FastAPI) -> tuple[int, int, int]:
    return len(app.routes), len(app.exception_handlers), len(app.user_middleware)


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    application = app_for(settings)
    application.state.clock = lambda: AS_OF
    return application


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def make_key(engine: Engine) -> Callable[[str], str]:
    """Issue an API key of a scope and return its secret."""

    def _make(scope: str = "admin") -> str:
        with Session(engine) as s:
            _, secret = api_keys.create_api_key(s, name=f"test-{scope}", scope=scope, now=AS_OF)
            s.commit()
        return secret

    return _make


@pytest.fixture
def auth(make_key: Callable[[str], str]) -> Callable[[str], dict[str, str]]:
    """Authorization headers for a fresh key of the given scope."""
    return lambda scope="admin": {"Authorization": f"Bearer {make_key(scope)}"}
