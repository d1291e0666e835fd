"""The renewal forecast fitted from a book built through the services, stored and read back."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app.errors import InvalidInput, NotFound
from app.health import forecast as forecast_svc
from app.models import Account, RenewalForecast, RenewalForecastRun
from app.pagination import PageParams
from tests.builders import AS_OF, make_account
from tests.health.forecast_book import TODAY, build_forecast_book


@pytest.fixture
def book(databases: Any, engine: Engine) -> dict[str, Any]:
    loaded: dict[str, Any] = databases.load(engine, build_forecast_book)
    return loaded


def test_the_forecast_is_fitted_from_history_and_beats_the_base_rate_out_of_time(
    session: Session, book: dict[str, Any]
) -> None:
    run = forecast_svc.latest_run(session)
    assert run is not None and run.id == book["run_id"]
    assert run.status == "ok"
    assert run.churned >= 10 and run.renewed >= 10
    assert run.training_first_on is not None and run.training_last_on is not None
    assert run.training_first_on < run.training_last_on <= TODAY
    ev = run.evaluation
    assert ev["status"] == "ok"
    assert ev["brier"] < ev["base_brier"]
    assert ev["auc"] > 0.7
    assert ev["test_samples"] > 0 and ev["train_samples"] > 0
    # the newest quarters are backtested; the oldest had too little history before it
    statuses = [q["status"] for q in run.backtest]
    assert "ok" in statuses
    done = next(q for q in run.backtest if q["status"] == "ok")
    assert done["forecast"]["low"] <= done["forecast"]["grr"] <= done["forecast"]["high"]
    assert done["actual"] is not None


def test_every_active_account_has_a_stored_forecast_with_drivers(
    session: Session, book: dict[str, Any]
) -> None:
    active = session.exec(select(Account).where(col(Account.status) == "active")).all()
    stored = {f.account_id: f for f in session.exec(select(RenewalForecast)).all()}
    assert set(stored) == {a.id for a in active}
    ok = [f for f in stored.values() if f.status == "ok"]
    assert ok
    for f in ok:
        assert f.probability is not None and 0 < f.probability < 1
        assert f.drivers and {d["code"] for d in f.drivers} >= {"score", "days_to_renewal"}
    # healthier (higher scored) accounts are more likely to renew
    found = forecast_svc.account_forecast(session, account_id="fc-000")
    assert found.forecast is not None and found.run is not None and found.model is not None


def test_listing_sorts_and_pages(session: Session, book: dict[str, Any]) -> None:
    seen: list[float | None] = []
    cursor = None
    while True:
        rows, cursor = forecast_svc.list_forecasts(
            session, page=PageParams(limit=7, cursor=cursor), sort="-probability"
        )
        seen += [f.probability for f, _ in rows]
        if cursor is None:
            break
    values = [p for p in seen if p is not None]
    assert values == sorted(values, reverse=True)
    assert len(seen) == len(session.exec(select(RenewalForecast)).all())
    assert seen.index(values[-1]) < len(seen) - (len(seen) - len(values)) or len(values) == len(seen)
    with pytest.raises(InvalidInput):
        forecast_svc.list_forecasts(session, page=PageParams(limit=5, cursor=None), sort="arr")


def test_grr_outlook_for_next_quarter(session: Session, book: dict[str, Any]) -> None:
    outlook = forecast_svc.grr_outlook(session, today=TODAY)
    assert (outlook.start, outlook.end) == (dt.date(2027, 1, 1), dt.date(2027, 3, 31))
    assert outlook.due_accounts > 0
    g = outlook.forecast
    assert g.grr is not None and g.low is not None and g.high is not None
    assert 0 < g.low <= g.grr <= g.high <= 1
    assert outlook.currency == "JPY"


def test_too_little_history_says_so(session: Session) -> None:
    from app.health import models as health_models

    health_models.adopt_preset(session, preset="abc", now=AS_OF)
    make_account(session, id="lonely", name="Lonely", renewal_on=TODAY + dt.timedelta(days=40))
    make_account(session, id="undated", name="Undated")
    run = forecast_svc.refresh(session, today=TODAY, now=AS_OF)
    assert run.status == "no_scores"
    stored = {f.account_id: f.status for f in session.exec(select(RenewalForecast)).all()}
    assert sorted(stored.values()) == ["insufficient_history", "no_renewal_date"]
    assert all(f.probability is None for f in session.exec(select(RenewalForecast)).all())
    # refreshing again replaces the forecasts; runs are kept
    forecast_svc.refresh(session, today=TODAY, now=AS_OF)
    assert len(session.exec(select(RenewalForecastRun)).all()) == 2
    with pytest.raises(NotFound):
        forecast_svc.account_forecast(session, account_id="nobody")


def test_without_a_health_model_nothing_is_invented(session: Session) -> None:
    make_account(session, id="a1", name="A1", renewal_on=TODAY + dt.timedelta(days=40))
    run = forecast_svc.refresh(session, today=TODAY, now=AS_OF)
    assert run.status == "no_model"
    assert [f.status for f in session.exec(select(RenewalForecast)).all()] == ["insufficient_history"]
