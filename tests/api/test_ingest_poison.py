"""A message the database cannot store never stops ingestion.

At the door, every value that reaches a column is checked against that column (numbers to its
type, strings to its length, no NUL): a message that fails is rejected alone, with the reason.
Behind the door, a message the applier still cannot store is set aside (a dead letter, shown
per source and replayable) and the rest of its batch is stored; ``/readyz`` says 503 while the
applier is failing or lagging.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.services.segment import MAX_SEATS
from tests.conftest import ENGINE
from tests.helpers import Headers
from tests.segment_messages import basic, drain, group, track, usage_on

#: Past the seats column on the engine in use: an integer over 64 bits (SQLite), over 32 (PostgreSQL).
OVERFLOW = 123456789012345678901234567890 if ENGINE == "sqlite" else 3_000_000_000


@pytest.fixture
def admin(auth: Callable[[str], Headers]) -> Headers:
    return auth("admin")


@pytest.fixture
def key(client: TestClient, admin: Headers) -> str:
    response = client.post("/api/v1/sources", headers=admin, json={"name": "web-app"})
    assert response.status_code == 201, response.text
    write_key: str = response.json()["write_key"]
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
