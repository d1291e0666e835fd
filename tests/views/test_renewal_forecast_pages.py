"""The renewal forecast on the pages: the portfolio's sortable column, the account page's panel
and the KPI page's GRR forecast with its backtest, in English and Japanese."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app.models import Account, RenewalForecast
from tests.builders import make_user
from tests.conftest import DatabaseFactory
from tests.health.forecast_book import build_forecast_book
from tests.views.conftest import HTML
from tests.views.data import ADMIN, OTHER_CSM


@pytest.fixture
def japanese(as_user: Callable[[str], TestClient]) -> TestClient:
    return as_user(OTHER_CSM)


def _book_with_admin(session: Session) -> dict[str, Any]:
    made = build_forecast_book(session)
    for email, role, locale in ((ADMIN, "admin", "en"), (OTHER_CSM, "csm", "ja")):
        make_user(session, email=email, role=role, name=email).locale = locale
    session.flush()
    return made


@pytest.fixture
def book(databases: DatabaseFactory, engine: Engine) -> dict[str, Any]:
    loaded: dict[str, Any] = databases.load(engine, _book_with_admin)
    return loaded


def _forecast_account(engine: Engine, status: str) -> str:
    with Session(engine) as session:
        found = session.exec(
            select(Account.external_id)
            .join(RenewalForecast, col(RenewalForecast.account_id) == col(Account.id))
            .where(col(RenewalForecast.status) == status)
            .order_by(col(Account.external_id))
        ).first()
    assert found is not None
    return found


def test_portfolio_sorts_by_renewal_probability(admin: TestClient) -> None:
    for sort, descending in (("renewal_probability", False), ("-renewal_probability", True)):
        response = admin.get("/", params={"owner": "all", "sort": sort}, headers=HTML)
        assert response.status_code == 200
        rows = [item["row"] for item in response.context["rows"]]  # type: ignore[attr-defined]
        values = [r.renewal_probability for r in rows]
        known = [v for v in values if v is not None]
        assert known and known == sorted(known, reverse=descending)
        assert values[: len(known)] == known  # accounts without a forecast last either way
    assert "Renewal probability" in response.text
    assert f"{round(known[0] * 100)}%" in response.text


def test_account_panel_shows_probability_drivers_and_method(
    admin: TestClient, japanese: TestClient, engine: Engine
) -> None:
    account = _forecast_account(engine, "ok")
    response = admin.get(f"/accounts/{account}", headers=HTML)
    assert response.status_code == 200
    text = response.text
    assert "Renewal forecast" in text and "chance to renew on" in text
    assert "Health score" in text and "Days to renewal" in text
    assert "Logistic regression on the" in text and "Brier score" in text
    ja = japanese.get(f"/accounts/{account}", headers=HTML).text
    assert "更新予測" in ja and "ブライアスコア" in ja


def test_account_panel_says_why_there_is_no_probability(admin: TestClient, engine: Engine) -> None:
    account = _forecast_account(engine, "no_renewal_date")
    text = admin.get(f"/accounts/{account}", headers=HTML).text
    assert "No renewal date is set" in text


def test_kpi_page_shows_next_quarter_grr_and_the_backtest(admin: TestClient, japanese: TestClient) -> None:
    response = admin.get("/kpis", headers=HTML)
    assert response.status_code == 200
    text = response.text
    assert "Gross revenue retention forecast: 2027-Q1" in text
    assert "90% interval" in text and "Backtest" in text
    assert "Not enough history before this quarter" in text
    ja = japanese.get("/kpis", headers=HTML).text
    assert "売上維持率（GRR）の予測" in ja and "バックテスト" in ja
