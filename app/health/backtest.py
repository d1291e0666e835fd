"""Backtesting a health model against what really happened.

For each reference date (every ``step_days`` between ``start`` and ``end``), the model scores
every account that was a customer then (contract started, not yet churned); an account counts as
*churned* if its churn date falls within ``horizon_days`` after the reference date. The scores
are then compared with the outcomes (see ``app.scoring.backtest``). Usage, interactions and
ratings are taken as they were on each date; contacts' roles are today's (their history is not
kept).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select
from sqlmodel import Session

from app.errors import InvalidInput
from app.health import models as health_models
from app.health import scores as health_scores
from app.health.values import compute_values, load_accounts
from app.models import Account
from app.scoring.backtest import Observation, by_band, roc_auc
from app.types import DbId

MAX_REFERENCE_DATES = 36


class BacktestIn(BaseModel):
    version: DbId | None = Field(default=None, description="Default: the published version")
    definition: dict[str, Any] | None = Field(
        default=None, description="Backtest this definition instead (e.g. a draft)"
    )
    start: dt.date | None = Field(default=None, description="First reference date")
    end: dt.date | None = Field(default=None, description="Last reference date (default: today − horizon)")
    step_days: int = Field(default=30, ge=1, le=365)
    horizon_days: int = Field(default=180, ge=7, le=730)

    @model_validator(mode="after")
    def _order(self) -> BacktestIn:
        if self.start and self.end and self.start > self.end:
            raise ValueError("start must not be after end")
        return self


class MeasureAuc(BaseModel):
    key: str
    name: str
    auc: float | None
    observations: int


class BandRow(BaseModel):
    band: str
    accounts: int
    churned: int
    churn_rate: float | None
    lift: float | None


class BacktestPublic(BaseModel):
    model_id: int
    version: int | None
    reference_dates: list[dt.date]
    horizon_days: int
    observations: int
    churned: int
    auc: float | None = Field(description="P(an account that stayed scored higher than one that churned)")
    measures: list[MeasureAuc]
    bands: list[BandRow]
    summary: str


def run_backtest(
    session: Session, *, model_id: int, params: BacktestIn, today: dt.date, tz: ZoneInfo
) -> BacktestPublic:
    """Score the model at past dates and measure how well it foresaw churn."""
    model = health_models.get_model(session, model_id)
    version_number = None
    if params.definition is not None:
        definition = params.definition
    else:
        version = (health_models.get_version(session, model_id, params.version) if params.version
                   else health_models.published_version(session, model_id))
        if version is None:
            raise InvalidInput.field("version", "the model has no published version; name one")
        definition, version_number = version.definition, version.version
    spec = health_models.parse_definition(definition)

    end = params.end or today - dt.timedelta(days=params.horizon_days)
    start = params.start or end - dt.timedelta(days=params.step_days * 9)
    if end > today:
        raise InvalidInput.field("end", "reference dates must be in the past")
    dates: list[dt.date] = []
    day = end
    while day >= start and len(dates) < MAX_REFERENCE_DATES:
        dates.append(day)
        day -= dt.timedelta(days=params.step_days)
    dates.reverse()

    churn_dates: dict[int, dt.date | None] = {
        id_: churned_on for id_, churned_on in session.execute(
            select(Account.id, Account.churned_on).where(Account.status == "churned")  # type: ignore[call-overload]
        ).all()
    }
    overall: list[Observation] = []
    per_measure: dict[str, list[Observation]] = {m.key: [] for m in spec.measures()}
    direction = {m.key: m.higher_is_better for m in spec.measures()}
    for ref in dates:
        accounts = [
            a for a in load_accounts(session, as_of=ref, include_churned=True)
            if (churned_on := churn_dates.get(a.id)) is None or churned_on > ref
        ]
        values = compute_values(session, spec, accounts=accounts, as_of=ref, tz=tz)
        horizon = ref + dt.timedelta(days=params.horizon_days)
        outcomes = [
            (churned_on := churn_dates.get(a.id)) is not None and churned_on <= horizon
            for a in accounts
        ]
        for scored, churned in zip(health_scores.score_values(spec, values, as_of=ref), outcomes,
                                   strict=True):
            if scored.score is not None:
                overall.append(Observation(scored.score, churned, scored.band))
        for key, column in zip(values.keys, values.columns, strict=True):
            sign = 1 if direction[key] else -1
            per_measure[key].extend(
                Observation(sign * value, churned)
                for value, churned in zip(column, outcomes, strict=True) if value is not None
            )
    auc = roc_auc(overall)
    churned_count = sum(1 for o in overall if o.churned)
    bands = by_band(overall, ["good", "normal", "bad"])
    if auc is None:
        summary = ("not enough outcomes to judge: the reference dates need both accounts that "
                   "churned within the horizon and accounts that stayed")
    else:
        summary = (f"AUC {auc:.2f}: an account that stayed out-scored one that churned "
                   f"{auc:.0%} of the time (0.5 is a coin toss)")
    return BacktestPublic(
        model_id=model.id or 0, version=version_number, reference_dates=dates,
        horizon_days=params.horizon_days, observations=len(overall), churned=churned_count,
        auc=auc,
        measures=[MeasureAuc(key=m.key, name=m.name, auc=roc_auc(per_measure[m.key]),
                             observations=len(per_measure[m.key])) for m in spec.measures()],
        bands=[BandRow(**vars(b)) for b in bands],
        summary=summary,
    )
