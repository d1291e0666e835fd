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


def test_attribute_history_starts_with_each_existing_account_and_contact(blank_url: str) -> None:
    """The upgrade that adds the attribute history gives every existing account and contact one
    row: as it is, valid from its creation."""
    import datetime as dt

    from sqlalchemy import insert, select

    from app.db import table_of
    from app.models import Account, AccountChange, Contact, ContactChange

    migrations.upgrade(blank_url, "0017-1")
    created = dt.datetime(2025, 4, 1, 3, 0, tzinfo=dt.UTC)
    engine = make_engine(blank_url)
    try:
        with engine.begin() as conn:
            account_id = conn.execute(
                insert(table_of(Account))
                .values(
                    external_id="acme",
                    name="Acme",
                    segment="smb",
                    licensed_seats=12,
                    arr=3600,
                    currency="JPY",
                    status="active",
                    traits={},
                    created_at=created,
                    updated_at=created,
                )
                .returning(table_of(Account).c.id)
            ).scalar_one()
            conn.execute(
                insert(table_of(Contact)).values(
                    account_id=account_id,
                    is_champion=True,
                    is_decision_maker=False,
                    is_star_user=False,
                    status="deleted",
                    traits={},
                    created_at=created,
                    updated_at=created + dt.timedelta(days=3),
                )
            )
        migrations.upgrade(blank_url)
        with engine.connect() as conn:
            ac, cc = table_of(AccountChange).c, table_of(ContactChange).c
            accounts = conn.execute(
                select(ac.account_id, ac.licensed_seats, ac.arr, ac.segment, ac.valid_from, ac.recorded_by)
            ).all()
            contacts = conn.execute(
                select(cc.account_id, cc.is_champion, cc.status, cc.valid_from, cc.recorded_by)
            ).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in accounts] == [(account_id, 12, 3600, "smb", created, "system")]
    assert [tuple(r) for r in contacts] == [(account_id, True, "deleted", created, "system")]
