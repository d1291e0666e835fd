"""Ingestion from two writers at once, as two server processes would do it (each with its own
transaction, no in-process group commit): nothing is left pending, nothing is counted twice.

The interesting engine is PostgreSQL, where both transactions really run at the same time; on
SQLite one waits for the other (or is refused and retried), which must give the same result.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, func, select

from app.db import session_scope
from app.ingest import rollups, sources, store
from app.ingest.checks import IngestResult
from app.models import Account, Contact, Event, UsageAccountDay
from tests.builders import AS_OF

TOKYO = ZoneInfo("Asia/Tokyo")
WHEN = "2026-11-23T01:00:00Z"


@pytest.fixture
def source_id(engine: Engine) -> int:
    with session_scope(engine) as session:
        source, _ = sources.create_source(session, name="web", now=AS_OF)
        assert source.id is not None
        return source.id


@pytest.fixture
def slow_rollups(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Hold every transaction open a little after its reads, so that two racing transactions
    each read before the other commits (the window a race needs)."""
    add_usage = rollups.add_usage

    def slow(*args: Any, **kwargs: Any) -> None:
        add_usage(*args, **kwargs)
        time.sleep(0.1)

    monkeypatch.setattr(rollups, "add_usage", slow)
    yield


def send(engine: Engine, source_id: int, raws: list[dict[str, Any]]) -> IngestResult:
    """One batch in its own transaction, retried as a client would retry a 503."""
    for _attempt in range(50):
        try:
            with session_scope(engine) as session:
                source = sources.get_source(session, source_id)
                return store.ingest_messages(session, source=source, raws=raws, received_at=AS_OF, tz=TOKYO)
        except OperationalError:  # SQLite: busy, or its snapshot went stale; PostgreSQL: deadlock
            time.sleep(0.02)
    raise AssertionError("never stored")


def race(*calls: Callable[[], Any]) -> None:
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            call()
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []


def track(mid: str, user: str, **fields: Any) -> dict[str, Any]:
    return {"type": "track", "messageId": mid, "userId": user, "event": "Report Built",
            "timestamp": WHEN, **fields}


def group(mid: str, user: str, account: str) -> dict[str, Any]:
    return {"type": "group", "messageId": mid, "userId": user, "groupId": account,
            "traits": {"name": account}, "timestamp": WHEN}


def counts(session: Session) -> tuple[int, int]:
    pending = session.exec(
        select(func.count()).select_from(Event).where(Event.account_id.is_(None))  # type: ignore[union-attr]
    ).one()
    counted = session.exec(select(func.coalesce(func.sum(UsageAccountDay.event_count), 0))).one()
    return pending, counted


def test_a_first_event_racing_its_users_group_call_is_attributed(
    engine: Engine, session: Session, source_id: int, slow_rollups: None
) -> None:
    send(engine, source_id, [group("g0", "seed", "acme")])
    rounds = 3
    for n in range(rounds):
        race(
            lambda n=n: send(engine, source_id, [track(f"t{n}", f"u{n}")]),  # type: ignore[misc]
            lambda n=n: send(engine, source_id, [group(f"g{n + 1}", f"u{n}", "acme")]),  # type: ignore[misc]
        )

    assert counts(session) == (0, rounds)


def test_an_event_naming_an_account_racing_its_creation_is_attributed(
    engine: Engine, session: Session, source_id: int, slow_rollups: None
) -> None:
    rounds = 3
    for n in range(rounds):
        account = f"acct-{n}"
        race(
            lambda n=n, a=account: send(  # type: ignore[misc]
                engine, source_id, [track(f"t{n}", f"u{n}", context={"groupId": a})]
            ),
            lambda n=n, a=account: send(engine, source_id, [group(f"g{n}", f"x{n}", a)]),  # type: ignore[misc]
        )

    assert counts(session) == (0, rounds)


def test_two_group_calls_creating_the_same_account_and_user_at_once(
    engine: Engine, session: Session, source_id: int, slow_rollups: None
) -> None:
    race(
        lambda: send(engine, source_id, [group("g1", "u1", "acme"), track("t1", "u1")]),
        lambda: send(engine, source_id, [group("g2", "u1", "acme"), track("t2", "u1")]),
        lambda: send(engine, source_id, [group("g3", "u2", "acme"), track("t1", "u1")]),
    )

    assert session.exec(select(func.count()).select_from(Account)).one() == 1
    assert session.exec(select(func.count()).select_from(Contact)).one() == 2
    assert counts(session) == (0, 2)
    day = session.exec(select(UsageAccountDay)).one()
    assert (day.day, day.active_users) == (dt.date(2026, 11, 23), 1)
