"""The renewal forecast over the JSON API: an account's, every account's (sorted, paged), next
quarter's GRR forecast with its backtest, and a refit on demand."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.health.forecast_book import build_forecast_book
from tests.helpers import assert_problem, error_fields

Headers = dict[str, str]


@pytest.fixture
def book(databases: Any, engine: Engine) -> dict[str, Any]:
    loaded: dict[str, Any] = databases.load(engine, build_forecast_book)
    return loaded


def test_an_accounts_forecast_with_drivers_and_method(client: TestClient, reader: Headers, book: Any) -> None:
    response = client.get("/api/v1/accounts/fc-001/renewal-forecast", headers=reader)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["account_id"] == "fc-001"
    method = body["method"]
    assert method["status"] == "ok" and method["model"]["name"]
    assert method["evaluation"]["brier"] < method["evaluation"]["base_brier"]
    if body["status"] == "ok":
        assert 0 < body["probability"] < 1
        assert {d["code"] for d in body["drivers"]} >= {"score", "days_to_renewal"}
    missing = client.get("/api/v1/accounts/nobody/renewal-forecast", headers=reader)
    assert_problem(missing, 404)


def test_listing_is_sorted_and_paged(client: TestClient, reader: Headers, book: Any) -> None:
    seen: list[float | None] = []
    url = "/api/v1/renewal-forecasts?sort=-probability&limit=9"
    cursor = None
    while True:
        response = client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=reader)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [row["probability"] for row in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    values = [p for p in seen if p is not None]
    assert values == sorted(values, reverse=True) and values
    assert seen[: len(values)] == values  # accounts without a probability come last
    bad = client.get("/api/v1/renewal-forecasts?sort=arr", headers=reader)
    assert_problem(bad, 422)
    assert error_fields(bad) == {"sort"}


def test_grr_forecast_with_backtest(client: TestClient, reader: Headers, book: Any) -> None:
    response = client.get("/api/v1/kpis/grr-forecast", headers=reader)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["period"] == "2027-Q1"
    f = body["forecast"]
    assert f["low"] <= f["grr"] <= f["high"]
    assert body["interval"] == {
        "interval": "poisson_binomial_simulation",
        "level": 0.9,
        "simulations": 5000,
        "seed": 17,
    }
    assert [q["status"] for q in body["backtest"]].count("ok") >= 1
    assert body["method"]["classifier"] == "logistic_regression"


def test_refresh_needs_the_admin_scope(
    client: TestClient, reader: Headers, auth: Callable[[str], Headers], book: Any
) -> None:
    assert_problem(client.post("/api/v1/renewal-forecasts/refresh", headers=reader), 403)
    response = client.post("/api/v1/renewal-forecasts/refresh", headers=auth("admin"))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"


def test_before_any_forecast(client: TestClient, reader: Headers) -> None:
    body = client.get("/api/v1/kpis/grr-forecast", headers=reader).json()
    assert body["method"] is None and body["backtest"] == [] and body["forecast"]["grr"] is None
    assert client.get("/api/v1/renewal-forecasts", headers=reader).json() == {"data": [], "next_cursor": None}
