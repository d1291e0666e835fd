"""Migration 0006 rewrites the user keys a userId starting with ``anon:`` left ambiguous."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from app import migrations
from app.db import make_engine
from tests.conftest import DatabaseFactory


@pytest.fixture
def url_at_0005(databases: DatabaseFactory) -> Iterator[str]:
    url = databases.fresh(migrated=False)
    migrations.upgrade(url, "0005")
    yield url
    databases.drop(url)


def _keys(url: str) -> dict[str, list[str]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                "daily": list(conn.execute(text(
                    "SELECT user_key FROM usage_daily_user ORDER BY user_key")).scalars()),
                "active": list(conn.execute(text(
                    "SELECT user_key FROM usage_active_user ORDER BY user_key")).scalars()),
                "presence": list(conn.execute(text(
                    "SELECT item FROM usage_presence WHERE kind = 'u' ORDER BY item")).scalars()),
            }
    finally:
        engine.dispose()


def test_keys_of_user_ids_starting_with_anon_are_rewritten_both_ways(url_at_0005: str) -> None:
    engine = make_engine(url_at_0005)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO source (id, name, key_prefix, key_hash, created_at) "
                          "VALUES (1, 'web', 'bwk_1', 'x', '2026-11-23 00:00:00')"))
        conn.execute(text("INSERT INTO account (id, external_id, name, arr, currency, status, traits, "
                          "created_at, updated_at) VALUES (1, 'acme', 'Acme', 0, 'JPY', 'active', "
                          "'{}', '2026-11-23 00:00:00', '2026-11-23 00:00:00')"))
        events = [
            ("m1", "anon:u", None),  # a userId that looks like an anonymous key: rewritten
            ("m2", None, "v"),  # a real anonymous visitor: kept
            ("m3", "anon:both", None), ("m4", None, "both"),  # merged already: left as it is
            ("m5", "plain", None),
        ]
        for mid, user_id, anonymous_id in events:
            conn.execute(text(
                "INSERT INTO event (source_id, message_id, type, name, user_id, anonymous_id, "
                "account_id, occurred_at, received_at, payload) VALUES (1, :m, 'track', 'x', :u, :a, "
                "1, '2026-11-23 00:00:00', '2026-11-23 00:00:00', '{}')"
            ), {"m": mid, "u": user_id, "a": anonymous_id})
        for key in ("anon:u", "anon:v", "anon:both", "plain"):
            conn.execute(text("INSERT INTO usage_daily_user (account_id, day, event, user_key) "
                              "VALUES (1, '2026-11-23', 'x', :k)"), {"k": key})
            conn.execute(text("INSERT INTO usage_active_user (account_id, day, user_key) "
                              "VALUES (1, '2026-11-23', :k)"), {"k": key})
            conn.execute(text("INSERT INTO usage_presence (block, kind, account_id, item, days) "
                              "VALUES (649, 'u', 1, :k, 1)"), {"k": key})
    engine.dispose()
    before = sorted(["anon:u", "anon:v", "anon:both", "plain"])

    migrations.upgrade(url_at_0005, "0006")

    after = sorted([" anon:u", "anon:v", "anon:both", "plain"])
    assert _keys(url_at_0005) == {"daily": after, "active": after, "presence": after}

    migrations.downgrade(url_at_0005, "0005")

    assert _keys(url_at_0005) == {"daily": before, "active": before, "presence": before}
