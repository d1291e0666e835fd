"""GET /api/v1/kpis: every KPI with its definition, parts and trend; problem+json for bad input."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.accounts import history as account_history
from app.accounts.history import HistoryEventIn
from app.models import Interaction
from app.scoring.kpis import DEFINITIONS, KPI_KEYS
from tests.builders import AS_OF, make_account
from tests.helpers import assert_problem, error_fields

Headers = dict[str, str]


@pytest.fixture
def data(engine: Engine) -> None:
    with Session(engine) as session:
        acme = make_account(
            session, id="acme", name="Acme", arr=Decimal(1000), contract_start_on=dt.date(2025, 1, 1)
        )
        make_account(
            session,
            id="beta",
            name="Beta",
            segment="enterprise",
            arr=Decimal(3000),
            contract_start_on=dt.date(2025, 1, 1),
        )
        assert acme.id is not None
        account_history.import_history(
            session,
            events_in=[
                HistoryEventIn("acme", "renewal", dt.date(2026, 10, 31), Decimal(1000), Decimal(1200)),
            ],
            actor="test",
            now=AS_OF,
        )
        for score, comment in ((10, "Love it"), (4, None)):
            at = dt.datetime(2026, 10, 20, 1, 0, tzinfo=dt.UTC)
            session.add(
                Interaction(
                    account_id=acme.id,
                    type="nps_response",
                    occurred_at=at,
                    data={"score": score, "comment": comment},
                    created_at=at,
                )
            )
        session.commit()


def _kpis(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k["key"]: k for k in body["kpis"]}


def test_needs_a_key(client: TestClient) -> None:
    assert_problem(client.get("/api/v1/kpis"), 401)


def test_default_is_this_month_in_the_team_time_zone(
    client: TestClient, auth: Callable[[str], Headers]
) -> None:
    response = client.get("/api/v1/kpis", headers=auth("read"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["period"] == {"key": "2026-11", "kind": "month", "start": "2026-11-01", "end": "2026-11-30"}
    assert (body["timezone"], body["as_of"], body["accounts"]) == ("Asia/Tokyo", "2026-11-23", 0)
    assert [k["key"] for k in body["kpis"]] == list(KPI_KEYS)
    for kpi in body["kpis"]:
        assert kpi["value"] is None  # nothing to rate: null, not a division by zero
        assert kpi["definition"] == DEFINITIONS[kpi["key"]]
        assert len(kpi["trend"]) == 12


def test_a_month_with_data(client: TestClient, auth: Callable[[str], Headers], data: None) -> None:
    response = client.get("/api/v1/kpis", params={"period": "2026-10"}, headers=auth("read"))
    assert response.status_code == 200, response.text
    body = response.json()
    kpis = _kpis(body)
    renewal = kpis["renewal_rate"]
    assert (renewal["value"], renewal["numerator"], renewal["denominator"]) == (1.0, 1, 1)
    assert renewal["detail"] == {"renewed": 1, "churned": 0, "due": 1}
    assert renewal["trend"][-1]["period"]["key"] == "2026-10"
    assert renewal["trend"][0]["period"]["key"] == "2025-11"
    assert renewal["trend"][0]["value"] is None
    net = kpis["net_revenue_retention"]
    assert net["value"] == pytest.approx(4200 / 4000)
    assert net["detail"]["expansion"] == 200.0 and net["detail"]["currency"] == "JPY"
    assert kpis["gross_revenue_retention"]["value"] == 1.0
    nps = kpis["nps"]
    assert (nps["value"], nps["unit"], nps["denominator"]) == (0.0, "nps", 2)
    assert nps["detail"] == {"promoters": 1, "passives": 0, "detractors": 1, "responses": 2}
    assert body["nps_comments"][0]["account_id"] == "acme"
    assert {c["comment"] for c in body["nps_comments"]} == {"Love it", None}
    assert body["renewals"] == [
        {
            "account_id": "acme",
            "account_name": "Acme",
            "on": "2026-10-31",
            "outcome": "renewed",
            "arr_before": 1000.0,
            "arr_after": 1200.0,
        }
    ]


def test_filters_and_ranges(client: TestClient, auth: Callable[[str], Headers], data: None) -> None:
    headers = auth("read")
    body = client.get(
        "/api/v1/kpis", params={"period": "2026-Q4", "segment": "enterprise"}, headers=headers
    ).json()
    assert body["period"]["key"] == "2026-Q4" and body["accounts"] == 1
    assert body["filters"]["segment"] == "enterprise"
    assert _kpis(body)["renewal_rate"]["value"] is None
    ranged = client.get(
        "/api/v1/kpis", params={"from": "2026-10-31", "to": "2026-11-06"}, headers=headers
    ).json()
    assert ranged["period"] == {
        "key": "2026-10-31..2026-11-06",
        "kind": "range",
        "start": "2026-10-31",
        "end": "2026-11-06",
    }
    trend = _kpis(ranged)["renewal_rate"]["trend"]
    assert trend[-2]["period"]["start"] == "2026-10-24"
    assert trend[-1]["value"] == 1.0


BAD: list[tuple[dict[str, str], set[str]]] = [
    ({"period": "2026-13"}, {"period"}),
    ({"period": "last month"}, {"period"}),
    ({"period": "2026-10", "from": "2026-10-01", "to": "2026-10-31"}, {"period"}),
    ({"from": "2026-10-01"}, {"to"}),
    ({"from": "2026-10-40", "to": "2026-11-01"}, {"from"}),
    ({"from": "2025-01-01", "to": "2026-06-01"}, {"to"}),
    ({"segment": "giant", "tier": "0"}, {"segment", "tier"}),
    # the trend reaches 12 periods back and a day past the end: no date overflow (was a 500)
    ({"period": "0001-01"}, {"period"}),
    ({"period": "9999-Q4"}, {"period"}),
    ({"from": "9999-12-01", "to": "9999-12-31"}, {"from"}),
    ({"owner": "nobody@example.com"}, {"owner"}),
]


def test_bad_parameters_are_named(client: TestClient, auth: Callable[[str], Headers]) -> None:
    headers = auth("read")
    for params, fields in BAD:  # one app for all cases: starting one per case costs seconds
        response = client.get("/api/v1/kpis", params=params, headers=headers)
        problem = assert_problem(response, 422)
        assert error_fields(response) == fields, params
        assert {e["location"] for e in problem["errors"]} == {"query"}
