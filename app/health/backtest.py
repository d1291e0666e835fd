"""Backtesting a health model against what really happened.

For each reference date (every ``step_days`` back from ``end`` down to ``start``; by default
every two weeks back from today over the whole usable history), the model scores every account
that was a customer then (contract started, not yet churned); an account counts as *churned* if
its churn date falls within ``horizon_days`` after the reference date. Every date sees the book
as it was then (``app.health.samples``): usage, interactions and ratings up to that date,
accounts' attributes (seats, ARR, owner, segment) and contacts' roles and status from their
recorded history (``app.accounts.changes``), so a champion who left later still counts on the
dates before. Changes made before that history was first kept are not known: until then, an
account or contact is taken as it was when its history began. The scores are then compared with
the outcomes (``app.scoring.backtest``) over all the dates, and judged out of time by the
protocol of ``app.health.samples`` (``validation``): the newest dates are the test set, the map
from score to probability is fitted on the older ones, and the same figures are given at 30, 60,
90 and 180 days side by side.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlmodel import Session

from app.errors import InvalidInput
from app.health import calibration
from app.health import models as health_models
from app.health.samples import HORIZONS, MAX_REFERENCE_DATES, BookHistory, reference_grid, scope
from app.health.schemas import BacktestIn, BacktestPublic, BandRow, MeasureAuc
from app.health.spec import to_model_def
from app.scoring import calibration as calib
from app.scoring.backtest import Observation, by_band, roc_auc
from app.scoring.health import BANDS, measure_order


def _dates(params: BacktestIn, today: dt.date) -> list[dt.date]:
    """The explicit reference dates: every ``step_days`` back from ``end`` down to ``start``."""
    end = params.end or today - dt.timedelta(days=params.horizon_days)
    start = params.start or end - dt.timedelta(days=params.step_days * 9)
    if end > today:
        raise InvalidInput.field("end", "reference dates must be in the past")
    dates: list[dt.date] = []
    day = end
    while day >= start and len(dates) < MAX_REFERENCE_DATES:
        dates.append(day)
        day -= dt.timedelta(days=params.step_days)
    return sorted(dates)


def run_backtest(
    session: Session, *, model_id: int, params: BacktestIn, today: dt.date, tz: ZoneInfo
) -> BacktestPublic:
    """Score the model at past dates and measure how well it foresaw churn."""
    model = health_models.get_model(session, model_id)
    version_number = None
    if params.definition is not None:
        definition = params.definition
    else:
        version = (
            health_models.get_version(session, model_id, params.version)
            if params.version
            else health_models.published_version(session, model_id)
        )
        if version is None:
            raise InvalidInput.field("version", "the model has no published version; name one")
        definition, version_number = version.definition, version.version
    spec = health_models.parse_definition(definition)
    model_def = to_model_def(spec)

    if params.start is not None or params.end is not None:
        dates = _dates(params, today)
    else:
        dates = [
            d
            for d in reference_grid(
                session, today=today, cadence_days=params.step_days, shortest_horizon=min(HORIZONS)
            )
            if d + dt.timedelta(days=params.horizon_days) <= today
        ]
    history = BookHistory(session, spec, tz=tz, account_ids=scope(session, model_id))
    samples = history.samples(dates)
    outcomes = [calib.churned(s, params.horizon_days) for s in samples]
    overall = [
        Observation(score, churned, band)
        for (score, band), churned in zip(calib.model_scores(model_def, samples), outcomes, strict=True)
        if score is not None
    ]
    measures = measure_order(model_def)
    per_measure: dict[str, list[Observation]] = {m.key: [] for m in measures}
    for i, m in enumerate(measures):
        sign = 1 if m.higher_is_better else -1
        per_measure[m.key].extend(
            Observation(sign * value, churned)
            for s, churned in zip(samples, outcomes, strict=True)
            if (value := s.values[i]) is not None
        )
    auc = roc_auc(overall)
    if auc is None:
        summary = (
            "not enough outcomes to judge: the reference dates need both accounts that "
            "churned within the horizon and accounts that stayed"
        )
    else:
        summary = (
            f"AUC {auc:.2f}: an account that stayed out-scored one that churned "
            f"{auc:.0%} of the time (0.5 is a coin toss)"
        )
    validation = calibration.validate(
        session,
        spec=spec,
        preset=model.preset,
        grid=dates,
        horizon_days=params.horizon_days,
        cadence_days=params.step_days,
        bad_share_max=calib.Settings().bad_share_max,
        today=today,
        tz=tz,
        history=history,
    )
    return BacktestPublic(
        model_id=model.id or 0,
        version=version_number,
        reference_dates=dates,
        horizon_days=params.horizon_days,
        observations=len(overall),
        churned=sum(1 for o in overall if o.churned),
        auc=auc,
        measures=[
            MeasureAuc(
                key=m.key, name=m.name, auc=roc_auc(per_measure[m.key]), observations=len(per_measure[m.key])
            )
            for m in measures
        ],
        bands=[BandRow(**vars(b)) for b in by_band(overall, BANDS)],
        summary=summary,
        validation=validation,
    )
