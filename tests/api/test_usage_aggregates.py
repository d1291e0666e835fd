"""Daily usage aggregates pushed over the API: replace semantics, account-day totals, validation."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app.models import UsageAccountDay, UsageActiveUser, UsageDaily
from tests.builders import make_account
from tests.helpers import Headers, assert_problem, error_fields

URL = "/api/v1/usage"


@pytest.fixture
def acme(engine: Engine) -> int:
    with Session(engine) as s:
        account = make_account(s, id="acme")
        make_account(s, id="globex", name="Globex")
        s.commit()
        assert account.id is not None
        return account.id


def row(event: str = "login", day: str = "2026-11-01", **fields: Any) -> dict[str, Any]:
    return {"account_id": "acme", "day": day, "event": event, "count": 10,
            "distinct_users": 4} | fields


def push(client: TestClient, headers: Headers, *rows: dict[str, Any]) -> dict[str, Any]:
    response = client.post(URL, headers=headers, json={"data": list(rows)})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def daily(engine: Engine) -> dict[tuple[str, str, str], tuple[int, int]]:
    with Session(engine) as s:
        return {
            (str(r.account_id), r.day.isoformat(), r.event): (r.event_count, r.distinct_users)
            for r in s.exec(select(UsageDaily)).all()
        }


def days(engine: Engine, account_id: int) -> dict[str, tuple[int, int]]:
    """(event_count, active_users) per day."""
    with Session(engine) as s:
        rows = s.exec(
            select(UsageAccountDay).where(UsageAccountDay.account_id == account_id)
            .order_by(col(UsageAccountDay.day))
        ).all()
        return {r.day.isoformat(): (r.event_count, r.active_users) for r in rows}


def test_push_stores_rows_and_account_day_totals(
    client: TestClient, writer: Headers, reader: Headers, engine: Engine, acme: int
) -> None:
    result = push(
        client, writer,
        row("login", count=10, distinct_users=4),
        row("report.export", count=5, distinct_users=2),
        row("login", day="2026-11-02", count=3, distinct_users=3, active_users=7),
    )

    assert result == {"rows": 3, "created": 3, "replaced": 0, "account_days": 2}
    assert days(engine, acme) == {"2026-11-01": (15, 4), "2026-11-02": (3, 7)}
    usage = client.get(
        "/api/v1/accounts/acme/usage", headers=reader,
        params={"from": "2026-11-01", "to": "2026-11-02"},
    ).json()
    assert [(d["day"], d["active_users"], d["events"]) for d in usage["data"]] == [
        ("2026-11-01", 4, {"login": 10, "report.export": 5}),
        ("2026-11-02", 7, {"login": 3}),
    ]


def test_a_resent_day_replaces_never_adds(
    client: TestClient, writer: Headers, engine: Engine, acme: int
) -> None:
    push(client, writer, row("login", count=10, distinct_users=4),
         row("search", count=6, distinct_users=5, active_users=9))

    again = push(client, writer, row("login", count=12, distinct_users=6))
    same = push(client, writer, row("login", count=12, distinct_users=6))

    assert (again["created"], again["replaced"]) == (0, 1)
    assert (same["created"], same["replaced"]) == (0, 1)
    assert daily(engine) == {
        (str(acme), "2026-11-01", "login"): (12, 6),
        (str(acme), "2026-11-01", "search"): (6, 5),
    }
    # 12 + 6 events; the 9 active users given earlier were replaced by this push, which gave
    # none: the day's active users are now the largest distinct count of its events.
    assert days(engine, acme) == {"2026-11-01": (18, 6)}


def test_active_users_never_fall_below_users_seen_in_raw_events(
    client: TestClient, writer: Headers, session: Session, engine: Engine, acme: int
) -> None:
    # What the Segment ingestion leaves after five users logged in once each.
    day = dt.date(2026, 11, 1)
    session.add(UsageDaily(account_id=acme, day=day, event="login", event_count=5,
                           distinct_users=5))
    session.add(UsageAccountDay(account_id=acme, day=day, event_count=5, active_users=5))
    session.add_all(UsageActiveUser(account_id=acme, day=day, user_key=f"u{i}") for i in range(5))
    session.commit()

    push(client, writer, row("export", count=2, distinct_users=1, active_users=3))

    # event_count: 5 raw logins + 2 pushed exports; active: max(3 given, 1 distinct, 5 seen).
    assert days(engine, acme) == {"2026-11-01": (7, 5)}


def test_the_last_of_two_rows_for_one_key_wins(
    client: TestClient, writer: Headers, engine: Engine, acme: int
) -> None:
    result = push(client, writer, row(count=1, distinct_users=1), row(count=3, distinct_users=2))

    assert result["created"] == 1
    assert daily(engine) == {(str(acme), "2026-11-01", "login"): (3, 2)}


def test_accounts_are_kept_apart(
    client: TestClient, writer: Headers, engine: Engine, acme: int
) -> None:
    push(client, writer, row(count=5, distinct_users=1), row(account_id="globex", count=7))

    assert days(engine, acme) == {"2026-11-01": (5, 1)}


def test_concurrent_pushes_to_one_day_lose_no_totals(
    client: TestClient, auth: Callable[[str], Headers], engine: Engine, acme: int
) -> None:
    pushes = [
        [row(f"{name}.{i}", count=2, distinct_users=1) for i in range(50)]
        for name in ("web", "mobile", "api")
    ]
    barrier = threading.Barrier(len(pushes))
    statuses: list[int] = []

    def send(rows: list[dict[str, Any]], headers: Headers) -> None:
        barrier.wait()
        for _ in range(20):  # a 503 (lost the lock race on SQLite) says: retry, it is safe
            response = client.post(URL, headers=headers, json={"data": rows})
            statuses.append(response.status_code)
            if response.status_code != 503:
                return
            assert response.headers["retry-after"]
            time.sleep(0.05)

    threads = [threading.Thread(target=send, args=(p, auth("write"))) for p in pushes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert statuses.count(200) == 3 and set(statuses) <= {200, 503}
    assert days(engine, acme) == {"2026-11-01": (300, 1)}


@pytest.mark.parametrize(
    ("rows", "fields"),
    [
        ([row(), row(count=-1)], {"data[1].count"}),
        ([row(count=2, distinct_users=3)], {"data[0].distinct_users"}),
        ([row(), row(), row(account_id="ghost")], {"data[2].account_id"}),
        ([row(day="2026-11-31")], {"data[0].day"}),
        ([row(day="2026-11-25")], {"data[0].day"}),
        ([row(event="")], {"data[0].event"}),
        ([row(extra=1)], {"data[0].extra"}),
        ([{"account_id": "acme"}], {"data[0].day", "data[0].event", "data[0].count",
                                    "data[0].distinct_users"}),
        ([row(count=2**31)], {"data[0].count"}),
        ([], {"data"}),
    ],
)
def test_bad_rows_are_422_naming_data_index_field_and_nothing_is_stored(
    client: TestClient, writer: Headers, engine: Engine, acme: int,
    rows: list[dict[str, Any]], fields: set[str],
) -> None:
    response = client.post(URL, headers=writer, json={"data": rows})

    assert error_fields(response) == fields
    assert daily(engine) == {}


def test_at_most_10000_rows(client: TestClient, writer: Headers, acme: int) -> None:
    rows = [row(f"e{i}") for i in range(10_001)]

    assert error_fields(client.post(URL, headers=writer, json={"data": rows})) == {"data"}


def test_pushing_needs_a_write_key(client: TestClient, reader: Headers, acme: int) -> None:
    assert_problem(client.post(URL, headers=reader, json={"data": [row()]}), 403)
