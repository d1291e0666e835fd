"""Units of work say whether they write: a writing one holds SQLite's write lock from its first
statement (so it waits for, rather than fails against, a concurrent writer); a reading one
refuses to write, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from app.auth import api_keys
from app.db import open_session, session_scope
from app.models import ApiKey
from tests.conftest import AS_OF, ENGINE

sqlite_only = pytest.mark.skipif(ENGINE != "sqlite", reason="SQLite's database-wide write lock")


def _other_writer_can_begin(db_url: str) -> bool:
    other = sqlite3.connect(make_url(db_url).database or "", timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return False
    finally:
        other.close()  # rolls back
    return True


@sqlite_only
def test_a_writing_unit_of_work_holds_the_write_lock_from_its_first_read(engine: Engine, db_url: str) -> None:
    with session_scope(engine) as session:
        session.exec(select(ApiKey)).all()
        assert not _other_writer_can_begin(db_url)
    with open_session(engine, writes=False) as session:
        session.exec(select(ApiKey)).all()
        assert _other_writer_can_begin(db_url)


def test_a_reading_unit_of_work_refuses_to_write_and_the_next_writer_can(engine: Engine) -> None:
    with open_session(engine, writes=False) as session:
        with pytest.raises(DBAPIError):
            api_keys.create_api_key(session, name="r", scope="read", now=AS_OF)
        session.rollback()

    with session_scope(engine) as session:  # the same pooled connection, writing again
        api_keys.create_api_key(session, name="w", scope="read", now=AS_OF)
    with open_session(engine, writes=False) as session:
        assert [k.name for k in api_keys.list_api_keys(session)] == ["w"]
