"""Renewal forecasts: an account's probability to renew with its drivers, every account's (paged,
sortable), next quarter's GRR forecast with its backtest, and a refit on demand."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.api.common import ERRORS, NOT_FOUND
from app.deps import AdminKeyDep, NowDep, ReadKeyDep, SessionDep, TodayDep
from app.errors import NotFound
from app.health import forecast as svc
from app.health.schemas import (
    AccountRenewalForecastPublic,
    ForecastMethodPublic,
    GrrForecastPublic,
    GrrMethodPublic,
    ModelRef,
    RenewalForecastPublic,
)
from app.models import Account, HealthModel, HealthModelVersion, RenewalForecast, RenewalForecastRun
from app.pagination import Page, PageParams, page_params
from app.scoring import forecast as fc

router = APIRouter(tags=["renewal forecast"], responses=ERRORS)


def method_public(
    run: RenewalForecastRun, model: HealthModel | None, version: HealthModelVersion | None
) -> ForecastMethodPublic:
    ref = (
        ModelRef(id=model.id or 0, name=model.name, version=version.version)
        if model is not None and version is not None
        else None
    )
    return ForecastMethodPublic.model_validate(
        {
            "status": run.status,
            "day": run.day,
            "fitted_at": run.fitted_at,
            "model": ref,
            "plan": run.plan,
            "training_first_on": run.training_first_on,
            "training_last_on": run.training_last_on,
            "samples": run.samples,
            "renewed": run.renewed,
            "churned": run.churned,
            "average_probability": run.average_probability,
            "horizon_days": fc.HORIZON_DAYS,
            "evaluation": run.evaluation or None,
        }
    )


def forecast_public(forecast: RenewalForecast, account: Account) -> RenewalForecastPublic:
    return RenewalForecastPublic.model_validate(
        {
            "account_id": account.external_id,
            "account_name": account.name,
            "status": forecast.status,
            "renewal_on": forecast.renewal_on,
            "probability": forecast.probability,
            "score_day": forecast.day,
            "drivers": forecast.drivers,
            "fitted_at": forecast.fitted_at,
        }
    )


@router.get(
    "/accounts/{account_id}/renewal-forecast",
    response_model=AccountRenewalForecastPublic,
    responses={404: {"description": "No such account, or no forecast made yet", **NOT_FOUND[404]}},
)
def get_account_forecast(
    account_id: str, session: SessionDep, _key: ReadKeyDep
) -> AccountRenewalForecastPublic:
    """The account's probability to renew by its renewal date, the drivers of it and how it was
    computed (read scope). A forecast without a probability says why in `status`."""
    found = svc.account_forecast(session, account_id=account_id)
    if found.forecast is None or found.run is None:
        raise NotFound("no renewal forecast has been made yet")
    body = forecast_public(found.forecast, found.account).model_dump()
    return AccountRenewalForecastPublic(**body, method=method_public(found.run, found.model, found.version))


@router.get("/renewal-forecasts", response_model=Page[RenewalForecastPublic])
def list_forecasts(
    session: SessionDep,
    _key: ReadKeyDep,
    page: Annotated[PageParams, Depends(page_params)],
    sort: Annotated[
        str,
        Query(description="probability, renewal_on; `-` for descending (accounts without one last)"),
    ] = "probability",
) -> Page[RenewalForecastPublic]:
    """Every active account's stored renewal forecast (read scope)."""
    rows, next_cursor = svc.list_forecasts(session, page=page, sort=sort)
    return Page[RenewalForecastPublic](data=[forecast_public(f, a) for f, a in rows], next_cursor=next_cursor)


@router.post("/renewal-forecasts/refresh", response_model=ForecastMethodPublic)
def refresh_forecasts(
    session: SessionDep, now: NowDep, today: TodayDep, _key: AdminKeyDep
) -> ForecastMethodPublic:
    """Fit the forecast from the book's history now and store every active account's (admin
    scope); the daily job does the same."""
    run = svc.refresh(session, today=today, now=now)
    found = svc.forecast_of_run(session, run)
    return method_public(run, *found)


@router.get("/kpis/grr-forecast", response_model=GrrForecastPublic)
def get_grr_forecast(session: SessionDep, today: TodayDep, _key: ReadKeyDep) -> GrrForecastPublic:
    """Next calendar quarter's gross revenue retention of the renewals due in it: expected retained
    ARR ÷ ARR due from each account's probability, with a 90% interval (Poisson-binomial, simulated
    with a fixed seed), and the same forecast made at each past quarter's start against what
    happened (read scope)."""
    outlook = svc.grr_outlook(session, today=today)
    run = outlook.run
    return GrrForecastPublic.model_validate(
        {
            "period": f"{outlook.start.year}-Q{(outlook.start.month - 1) // 3 + 1}",
            "start": outlook.start,
            "end": outlook.end,
            "currency": outlook.currency,
            "due_accounts": outlook.due_accounts,
            "unforecast_accounts": outlook.unforecast,
            "other_currency_accounts": outlook.other_currency,
            "forecast": vars(outlook.forecast),
            "interval": GrrMethodPublic(level=fc.INTERVAL, simulations=fc.SIMULATIONS, seed=fc.SEED),
            "method": method_public(run, outlook.model, outlook.version) if run is not None else None,
            "backtest": run.backtest if run is not None else [],
        }
    )
