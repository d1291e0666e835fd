"""A message the database cannot store never stops ingestion.

At the door, every value that reaches a column is checked against that column (numbers to its
type, strings to its length, no NUL): a message that fails is rejected alone, with the reason.
Behind the door, a message the applier still cannot store is set aside (a dead letter, shown
per source and replayable) and the rest of its batch is stored; ``/readyz`` says 503 while the
applier is failing or lagging.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from app import scheduler
from app.cli import cli
from app.ingest import identities, segment, store
from app.ingest.segment import MAX_SEATS
from tests.builders import post_source
from tests.conftest import ENGINE
from tests.helpers import Headers
from tests.segment_messages import basic, drain, group, identify, track, usage_on

#: Past the seats column on the engine in use: an integer over 64 bits (SQLite), over 32 (PostgreSQL).
OVERFLOW = 123456789012345678901234567890 if ENGINE == "sqlite" else 3_000_000_000


@pytest.fixture
def admin(auth: Callable[[str], Headers]) -> Headers:
    return auth("admin")


@pytest.fixture
def key(client: TestClient, admin: Headers) -> str:
    write_key: str = post_source(client, admin)["write_key"]
    return write_key


def post(client: TestClient, key: str, messages: list[Any]) -> dict[str, Any]:
    # The standard library's encoder writes integers of any size, as a hostile sender may.
    response = client.post("/v1/batch", headers=basic(key), content=json.dumps({"batch": messages}))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_seats_past_the_column_are_rejected_at_the_door_and_the_rest_is_stored(
    client: TestClient, key: str, admin: Headers
) -> None:
    body = post(
        client,
        key,
        [group("g1", "u1", "acme", seats=OVERFLOW), group("g2", "u2", "beta", seats=12), track("t1", "u2")],
    )
    assert (body["accepted"], body["rejected"]) == (2, 1)
    assert body["errors"][0]["index"] == 0
    assert "seats" in body["errors"][0]["reason"]

    applied = drain(client.app)  # type: ignore[arg-type]

    assert applied.accepted == 2
    assert usage_on(client, admin, "beta")["event_count"] == 1
    later = post(client, key, [track("t2", "u2")])
    assert later["accepted"] == 1
    assert drain(client.app).accepted == 1  # type: ignore[arg-type]
    assert usage_on(client, admin, "beta")["event_count"] == 2


@pytest.mark.parametrize("number", ["1e309", "-1e400", "NaN", "Infinity", "-Infinity"])
def test_a_number_past_a_double_rejects_its_message_not_the_batch(
    client: TestClient, key: str, admin: Headers, number: str
) -> None:
    """orjson refuses a whole document for one such number; the batch is read again so that
    only the message holding it is rejected, and its neighbours are stored."""
    hostile = json.dumps(track("t0", "u2", properties={"revenue": 0})).replace(
        '"revenue": 0', f'"revenue": {number}'
    )
    body = b'{"batch": [%s, %s, %s]}' % (
        json.dumps(group("g1", "u2", "beta")).encode(),
        hostile.encode(),
        json.dumps(track("t1", "u2")).encode(),
    )
    response = client.post("/v1/batch", headers=basic(key), content=body)

    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["accepted"], answer["rejected"]) == (2, 1)
    assert answer["errors"][0]["index"] == 1
    assert "out of range" in answer["errors"][0]["reason"]
    assert drain(client.app).accepted == 2  # type: ignore[arg-type]
    assert usage_on(client, admin, "beta")["event_count"] == 1


def test_a_body_that_is_not_json_is_still_a_400(client: TestClient, key: str) -> None:
    response = client.post("/v1/batch", headers=basic(key), content=b'{"batch": [1e309,')
    assert response.status_code == 400
    assert "malformed JSON" in response.json()["detail"]


@pytest.mark.parametrize(
    "seats", [MAX_SEATS + 1, float(MAX_SEATS + 1), str(MAX_SEATS + 1), 1e308, "9" * 5000]
)
def test_every_spelling_of_too_many_seats_is_rejected(client: TestClient, key: str, seats: Any) -> None:
    body = post(client, key, [group("g1", "u1", "acme", licensed_seats=seats)])

    assert body["rejected"] == 1


def test_the_largest_number_of_seats_is_stored(client: TestClient, key: str, admin: Headers) -> None:
    post(client, key, [group("g1", "u1", "acme", seats=MAX_SEATS)])
    drain(client.app)  # type: ignore[arg-type]

    response = client.get("/api/v1/accounts/acme", headers=admin)
    assert response.json()["licensed_seats"] == MAX_SEATS


# -- behind the door: what the applier cannot store is set aside --------------------------------


@pytest.fixture
def door_gap(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A gap in the door's checks (as a message logged by an older version had): any seat
    count is accepted, and the database refuses the ones past its column."""
    monkeypatch.setattr(segment, "MAX_SEATS", 10**40)
    return monkeypatch


def dead_letters_of(client: TestClient, admin: Headers, source_id: int) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/sources/{source_id}/dead-letters", headers=admin)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def source_id(client: TestClient, admin: Headers) -> int:
    sources = client.get("/api/v1/sources", headers=admin).json()["data"]
    return int(sources[0]["id"])


def test_a_message_the_database_refuses_is_set_aside_and_its_batch_stored(
    client: TestClient, key: str, admin: Headers, door_gap: pytest.MonkeyPatch
) -> None:
    app = client.app
    body = post(
        client,
        key,
        [
            track("t1", "u2", group="beta"),
            group("g1", "u1", "acme", seats=OVERFLOW),
            track("t2", "u2", group="beta"),
        ],
    )
    assert body["accepted"] == 3

    applied = drain(app)  # type: ignore[arg-type]

    assert (applied.accepted, applied.set_aside) == (2, 1)
    assert drain(app).batches == 0  # type: ignore[arg-type]  # nothing left to retry
    assert client.get("/api/v1/accounts/acme", headers=admin).status_code == 404
    post(client, key, [group("g2", "u2", "beta"), track("t3", "u2")])
    assert drain(app).accepted == 2  # type: ignore[arg-type]  # later batches are stored
    assert usage_on(client, admin, "beta")["event_count"] == 3
    [letter] = dead_letters_of(client, admin, source_id(client, admin))
    assert letter["message_id"] == "g1"
    assert letter["reason"] in {"database_refused", "store_failed"}
    assert letter["params"]["error"]
    assert orjson.loads(letter["message"])["groupId"] == "acme"
    pending = client.get("/api/v1/ingest/pending", headers=admin).json()
    assert pending["applier"]["set_aside"] == 1
    assert client.get("/readyz").status_code == 200  # set aside is not stuck


def test_a_set_aside_message_is_stored_when_replayed_after_the_fix(
    client: TestClient, key: str, admin: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = client.app
    original = identities.identify

    def broken(session: Any, user_id: str, *args: Any) -> None:
        if user_id == "u1":
            raise ValueError("a bug in storing identify calls")
        original(session, user_id, *args)

    monkeypatch.setattr(identities, "identify", broken)
    post(client, key, [group("g1", "u1", "acme"), identify("i1", "u1", email="a@example.com")])
    assert drain(app).set_aside == 1  # type: ignore[arg-type]
    sid = source_id(client, admin)
    [letter] = dead_letters_of(client, admin, sid)
    assert (letter["reason"], letter["params"]) == ("store_failed", {"error": "ValueError"})
    monkeypatch.undo()  # the fix

    response = client.post(f"/api/v1/sources/{sid}/dead-letters/replay", headers=admin, json={})
    assert response.status_code == 200, response.text
    assert response.json() == {"replayed": 1}
    assert drain(app).accepted == 1  # type: ignore[arg-type]

    assert dead_letters_of(client, admin, sid) == []
    contacts = client.get("/api/v1/accounts/acme/contacts", headers=admin).json()["data"]
    assert [c["email"] for c in contacts] == ["a@example.com"]


def test_a_dead_letter_is_replayed_by_an_id_past_32_bits(
    client: TestClient, key: str, admin: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dead-letter ids are 64-bit (BIGINT on PostgreSQL): the replay body takes any of them."""
    app = client.app
    original = identities.identify

    def broken(session: Any, user_id: str, *args: Any) -> None:
        if user_id == "u1":
            raise ValueError("a bug in storing identify calls")
        original(session, user_id, *args)

    monkeypatch.setattr(identities, "identify", broken)
    post(client, key, [group("g1", "u1", "acme"), identify("i1", "u1", email="a@example.com")])
    assert drain(app).set_aside == 1  # type: ignore[arg-type]
    monkeypatch.undo()
    sid = source_id(client, admin)
    big = 2**40 + 7
    with app.state.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("UPDATE ingest_dead_letter SET id = :big"), {"big": big})
    [letter] = dead_letters_of(client, admin, sid)
    assert letter["id"] == big

    url = f"/api/v1/sources/{sid}/dead-letters/replay"
    assert client.post(url, headers=admin, json={"ids": [2**63]}).status_code == 422
    response = client.post(url, headers=admin, json={"ids": [big]})
    assert response.status_code == 200, response.text
    assert response.json() == {"replayed": 1}


def test_dead_letters_are_for_admins(client: TestClient, key: str, auth: Callable[[str], Headers]) -> None:
    reader = auth("read")
    sid = source_id(client, auth("admin"))

    assert client.get(f"/api/v1/sources/{sid}/dead-letters", headers=reader).status_code == 403
    assert (
        client.post(f"/api/v1/sources/{sid}/dead-letters/replay", headers=reader, json={}).status_code == 403
    )


def _disk_failure(*args: Any, **kwargs: Any) -> None:
    raise OperationalError("INSERT INTO event ...", {}, sqlite3.OperationalError("disk I/O error"))


def test_readyz_is_503_while_the_applier_keeps_failing_and_says_why(
    client: TestClient, key: str, admin: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = client.app
    post(client, key, [track("t1")])
    monkeypatch.setattr(store, "store_messages", _disk_failure)

    async def run_until_failed_twice() -> None:
        task = asyncio.create_task(scheduler.run_applier(app.state.engine, app.state.settings, idle=0.01))  # type: ignore[attr-defined]
        try:
            for _ in range(600):
                if client.get("/readyz").json()["ingest"]["applier_failures"] >= 2:
                    return
                await asyncio.sleep(0.01)
        finally:
            task.cancel()
        raise AssertionError("the applier did not fail twice within 6 s")

    asyncio.run(run_until_failed_twice())

    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["ingest"]["problem"] == "applier_failing"
    assert body["ingest"]["applier_error"] == "OperationalError"
    assert body["ingest"]["applier_failing_since"] is not None
    assert body["ingest"]["queued_batches"] == 1  # a database error sets nothing aside
    pending = client.get("/api/v1/ingest/pending", headers=admin).json()
    assert pending["applier"]["failures"] >= 2

    monkeypatch.undo()
    assert drain(app).accepted == 1  # type: ignore[arg-type]
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["ingest"]["problem"] is None


def test_the_apply_command_sets_aside_what_it_cannot_store(
    client: TestClient, key: str, db_url: str, door_gap: pytest.MonkeyPatch
) -> None:
    post(client, key, [group("g1", "u1", "acme", seats=OVERFLOW), track("t1", "u1")])

    result = CliRunner().invoke(cli, ["ingest", "apply"], env={"BANSOU_DATABASE_URL": db_url})

    assert result.exit_code == 0, result.output
    assert "1 set aside" in result.stdout


def test_several_refused_messages_among_many_are_each_set_aside(
    client: TestClient, key: str, admin: Headers, door_gap: pytest.MonkeyPatch
) -> None:
    batch = [track(f"t{i}", "u2", group="beta") for i in range(40)]
    batch[0] = group("g0", "u2", "beta")
    batch[3] = group("g3", "u3", "acme", seats=OVERFLOW)
    batch[30] = group("g30", "u4", "gamma", seats=OVERFLOW)
    post(client, key, batch)

    applied = drain(client.app)  # type: ignore[arg-type]

    assert (applied.accepted, applied.set_aside) == (38, 2)
    assert usage_on(client, admin, "beta")["event_count"] == 37
    letters = dead_letters_of(client, admin, source_id(client, admin))
    assert sorted(d["message_id"] for d in letters) == ["g3", "g30"]
