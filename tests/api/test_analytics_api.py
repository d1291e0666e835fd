"""GET /api/v1/analytics/interventions: read scope, filters named in problem+json, the shape."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from tests.views.data import load_book

URL = "/api/v1/analytics/interventions"


@pytest.fixture
def book(engine: Engine) -> None:
    with Session(engine, expire_on_commit=False) as session:
        load_book(session)
        session.commit()


def test_effectiveness_for_bi_tools(client: TestClient, reader: dict[str, str], book: None) -> None:
    response = client.get(
        URL, headers=reader, params={"from": "2026-09-01", "to": "2026-11-23", "segment": "enterprise"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["from"], body["to"], body["segment"], body["owner"]) == (
        "2026-09-01",
        "2026-11-23",
        "enterprise",
        None,
    )
    assert body["model"]["name"] == "ABC health"
    assert [w["window"] for w in body["windows"]] == [30, 60]
    row = body["windows"][0]["interventions"][0]
    assert row["type"] == "meeting" and row["kind"] == "interaction"
    assert set(row) >= {
        "effect",
        "ci",
        "treated",
        "treated_accounts",
        "controls",
        "unmatched",
        "reading",
        "interventions",
    }
    assert row["ci"]["level"] == 0.95
    # two enterprise accounts: far too few to read anything
    assert {r["reading"] for w in body["windows"] for r in w["interventions"]} == {"insufficient"}
    buckets = body["breadth_depth"]["buckets"]
    assert [b["touches"] for b in buckets] == ["0", "1", "2", "3–4", "5+"]
    assert sum(b["accounts"] for b in buckets) == 2
    assert "effect" in body["definitions"]


def test_one_window(client: TestClient, reader: dict[str, str], book: None) -> None:
    body = client.get(URL, headers=reader, params={"window": 60}).json()
    assert [w["window"] for w in body["windows"]] == [60]


def test_an_empty_database(client: TestClient, reader: dict[str, str]) -> None:
    body = client.get(URL, headers=reader).json()
    assert body["model"] is None
    assert body["breadth_depth"]["score_from"] is None
    assert dt.date.fromisoformat(body["to"]) - dt.date.fromisoformat(body["from"]) == dt.timedelta(days=182)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"window": "45"}, "window"),
        ({"window": "soon"}, "window"),
        ({"from": "2026-11-01", "to": "2026-10-01"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"segment": "galactic"}, "segment"),
        ({"owner": "nobody@example.com"}, "owner"),
        # the windows reach past either end of the period: no date overflow (was a 500)
        ({"from": "0001-01-01", "to": "0001-02-01"}, "from"),
        ({"from": "9999-12-01", "to": "9999-12-31"}, "from"),
        ({"to": "0001-01-01"}, "to"),
    ],
)
def test_bad_parameters_are_named(
    client: TestClient, reader: dict[str, str], params: dict[str, str], field: str
) -> None:
    response = client.get(URL, headers=reader, params=params)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_needs_a_key(client: TestClient, auth: Callable[[str], dict[str, str]]) -> None:
    assert client.get(URL).status_code == 401
    assert client.get(URL, headers=auth("read")).status_code == 200
