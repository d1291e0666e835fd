"""Alembic is the only way the schema changes: the migrations must build exactly the models."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import app.models  # noqa: F401  (registers every table on the metadata)
from app import migrations
from app.db import make_engine
from tests.conftest import DatabaseFactory

TABLES = {"user", "account", "contact", "api_key"}


def _differences(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_models_and_migrations_agree(engine: Engine) -> None:
    assert _differences(engine) == []


def test_migrated_database_is_at_head(engine: Engine, db_url: str) -> None:
    head = migrations.head_revision(db_url)

    assert head is not None
    assert migrations.current_revision(engine) == head


def test_a_model_change_without_a_migration_is_detected(engine: Engine) -> None:
    """The agreement check can fail: an extra column on the metadata shows up as a difference."""
    from sqlalchemy import Column, MetaData, String, Table

    metadata = MetaData()
    for table in SQLModel.metadata.sorted_tables:
        table.to_metadata(metadata)
    Table("account", metadata, Column("nickname", String(50)), extend_existing=True)

    with engine.connect() as conn:
        context = MigrationContext.configure(conn)
        diff = compare_metadata(context, metadata)

    assert any(d[0] == "add_column" and d[3].name == "nickname" for d in diff)


@pytest.fixture
def blank_url(databases: DatabaseFactory) -> Iterator[str]:
    url = databases.fresh(migrated=False)
    yield url
    databases.drop(url)


def test_upgrade_downgrade_upgrade(blank_url: str) -> None:
    assert _tables(blank_url) == set()

    migrations.upgrade(blank_url)
    assert _tables(blank_url) >= TABLES

    migrations.downgrade(blank_url, "base")
    assert _tables(blank_url) == set()

    migrations.upgrade(blank_url)
    engine = make_engine(blank_url)
    try:
        assert _tables(blank_url) >= TABLES
        assert migrations.current_revision(engine) == migrations.head_revision(blank_url)
        assert _differences(engine) == []
    finally:
        engine.dispose()
