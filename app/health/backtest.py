"""Backtesting a health model against what really happened.

For each reference date (every ``step_days`` between ``start`` and ``end``), the model scores
every account that was a customer then (contract started, not yet churned); an account counts as
*churned* if its churn date falls within ``horizon_days`` after the reference date. The scores
are then compared with the outcomes (see ``app.scoring.backtest``). Every date sees the book as
it was then: usage, interactions and ratings up to that date, accounts' attributes (seats, ARR,
owner, segment) and contacts' roles and status from their recorded history
(``app.accounts.changes``), so a champion who left later still counts on the dates before.
Changes made before that history was first kept are not known: until then, an account or contact
is taken as it was when its history began.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session

from app.errors import InvalidInput
from app.health import models as health_models
from app.health import scores as health_scores
from app.health.schemas import BacktestIn, BacktestPublic, BandRow, MeasureAuc
from app.health.values import compute_values, load_accounts
from app.models import Account
from app.scoring.backtest import Observation, by_band, roc_auc
from app.scoring.health import BANDS

MAX_REFERENCE_DATES = 36


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
            a for a in load_accounts(session, as_of=ref, include_churned=True, tz=tz)
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
    bands = by_band(overall, BANDS)
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
