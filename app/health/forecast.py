"""Renewal forecast: fitted from the book's history and stored for every active account.

``refresh`` reads the forecast model's stored scores (weekly reference dates, newest
:data:`MAX_REFERENCE_DATES`), the decided renewals (``renewal`` and ``churn`` events of the account
history, the accounts' renewal and churn dates), fits ``app.scoring.forecast``, evaluates it out of
time, backtests the GRR forecast of past quarters, and replaces every active account's stored
forecast with one made from its newest score. With too little history the run and each forecast
say so (``insufficient_history``) and carry no probability. The daily job and
``POST /api/v1/renewal-forecasts/refresh`` call it; everything else reads what it stored.

The forecast model is the default health model (``forecast_model``), the one place to change when
accounts get a primary model each.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlmodel import Session, col

from app.errors import InvalidInput, NotFound
from app.health import models as health_models
from app.health.spec import to_model_def
from app.models import (
    Account,
    AccountHistory,
    HealthModel,
    HealthModelVersion,
    RenewalForecast,
    RenewalForecastRun,
    ScoreSnapshot,
)
from app.pagination import Cursor, PageParams, decode_cursor, encode_cursor
from app.scoring import forecast as fc
from app.scoring.health import ModelDef, measure_order

#: Reference dates at least this far apart (the demo and a daily book both give weekly ones).
REFERENCE_STEP = dt.timedelta(days=7)
MAX_REFERENCE_DATES = 104
#: Whole past quarters backtested.
BACKTEST_QUARTERS = 4
#: Runs kept (the newest is the one in use).
KEEP_RUNS = 10
SORTS = ("probability", "-probability", "renewal_on", "-renewal_on")


@dataclass(frozen=True)
class Source:
    model: HealthModel
    version: HealthModelVersion
    keys: tuple[str, ...]  # the published version's measure keys, in order
    names: tuple[str, ...]


def forecast_model(session: Session) -> tuple[HealthModel, HealthModelVersion] | None:
    """The health model forecasts are made from, with its published version."""
    model = health_models.default_model(session)
    if model is None or model.id is None:
        return None
    version = health_models.published_version(session, model.id)
    return (model, version) if version is not None else None


def _source(session: Session) -> Source | None:
    found = forecast_model(session)
    if found is None:
        return None
    model, version = found
    measures = measure_order(to_model_def(health_models.version_spec(version)))
    return Source(model, version, tuple(m.key for m in measures), tuple(m.name for m in measures))


class _Grader:
    """Turns stored snapshots of any version of the model into features in the published
    version's measure order (a measure a version lacks is missing)."""

    def __init__(self, session: Session, source: Source) -> None:
        self.keys = source.keys
        self.versions: dict[int, tuple[ModelDef, list[int | None]]] = {}
        for version in health_models.versions(session, source.model.id or 0):
            if version.state == "draft":  # never scored
                continue
            model = to_model_def(health_models.version_spec(version))
            order = [m.key for m in measure_order(model)]
            where = {key: i for i, key in enumerate(order)}
            self.versions[version.id or 0] = (model, [where.get(k) for k in self.keys])

    @property
    def version_ids(self) -> list[int]:
        return list(self.versions)

    def features(
        self,
        account_id: int,
        day: dt.date,
        version_id: int,
        score: float | None,
        values: list[float | None],
        stale: int,
    ) -> fc.Features:
        model, positions = self.versions[version_id]
        graded = fc.graded_fractions(model, values, stale)
        measures = tuple(None if p is None or p >= len(graded) else graded[p] for p in positions)
        return fc.Features(account_id, day, None if score is None else score / model.scale_max, measures)


def _reference_days(session: Session, version_ids: list[int], today: dt.date) -> list[dt.date]:
    days = sorted(
        session.execute(
            select(ScoreSnapshot.day)  # type: ignore[call-overload]
            .where(col(ScoreSnapshot.model_version_id).in_(version_ids), col(ScoreSnapshot.day) <= today)
            .distinct()
        ).scalars(),
        reverse=True,
    )
    chosen: list[dt.date] = []
    for day in days:
        if not chosen or chosen[-1] - day >= REFERENCE_STEP:
            chosen.append(day)
        if len(chosen) == MAX_REFERENCE_DATES:
            break
    return chosen[::-1]


def _features(session: Session, grader: _Grader, days: list[dt.date]) -> list[fc.Features]:
    if not days or not grader.version_ids:
        return []
    rows = session.execute(
        select(
            ScoreSnapshot.account_id,
            ScoreSnapshot.day,
            ScoreSnapshot.model_version_id,  # type: ignore[call-overload]
            ScoreSnapshot.score,
            ScoreSnapshot.measure_values,
            ScoreSnapshot.stale_mask,
        )
        .where(col(ScoreSnapshot.model_version_id).in_(grader.version_ids), col(ScoreSnapshot.day).in_(days))
        .order_by(col(ScoreSnapshot.account_id), col(ScoreSnapshot.day), col(ScoreSnapshot.model_version_id))
    ).all()
    newest: dict[tuple[int, dt.date], Any] = {}
    for row in rows:
        newest[(row[0], row[1])] = row  # a later version wins on the same day
    return [
        grader.features(a, d, v, s, list(values or []), stale)
        for a, d, v, s, values, stale in newest.values()
    ]


def _current_features(session: Session, grader: _Grader, today: dt.date) -> dict[int, fc.Features]:
    """Each account's newest stored score within the lookback, as features."""
    if not grader.version_ids:
        return {}
    rows = session.execute(
        select(
            ScoreSnapshot.account_id,
            ScoreSnapshot.day,
            ScoreSnapshot.model_version_id,  # type: ignore[call-overload]
            ScoreSnapshot.score,
            ScoreSnapshot.measure_values,
            ScoreSnapshot.stale_mask,
        )
        .where(
            col(ScoreSnapshot.model_version_id).in_(grader.version_ids),
            col(ScoreSnapshot.day) <= today,
            col(ScoreSnapshot.day) >= today - fc.FEATURE_LOOKBACK,
        )
        .order_by(col(ScoreSnapshot.account_id), col(ScoreSnapshot.day), col(ScoreSnapshot.model_version_id))
    ).all()
    out: dict[int, fc.Features] = {}
    for a, d, v, s, values, stale in rows:
        out[a] = grader.features(a, d, v, s, list(values or []), stale)
    return out


def _decisions(session: Session) -> list[fc.Decision]:
    accounts = [
        fc.AccountTerms(a, status, renewal_on, churned_on, float(arr))
        for a, status, renewal_on, churned_on, arr in session.execute(
            select(Account.id, Account.status, Account.renewal_on, Account.churned_on, Account.arr).where(  # type: ignore[call-overload]
                col(Account.status) != "deleted"
            )
        ).all()
    ]
    events = [
        fc.HistoryEvent(
            a, kind, on, None if before is None else float(before), None if after is None else float(after)
        )
        for a, kind, on, before, after in session.execute(
            select(
                AccountHistory.account_id,
                AccountHistory.kind,
                AccountHistory.occurred_on,  # type: ignore[call-overload]
                AccountHistory.arr_before,
                AccountHistory.arr_after,
            ).where(col(AccountHistory.kind).in_(("renewal", "churn")))
        ).all()
    ]
    return fc.decisions(accounts, events)


def _driver_json(driver: fc.Driver, keys: tuple[str, ...]) -> dict[str, Any]:
    return {
        "code": driver.code,
        "measure": None if driver.index is None else keys[driver.index],
        "value": None if driver.value is None else round(driver.value, 4),
        "average": round(driver.average, 4),
        "contribution": round(driver.contribution, 4),
    }


def _evaluation_json(ev: fc.Evaluation) -> dict[str, Any]:
    out = {k: v for k, v in vars(ev).items() if k != "cutoff"}
    out["cutoff"] = ev.cutoff.isoformat() if ev.cutoff else None
    return out


def _grr_json(g: fc.GrrForecast | None) -> dict[str, Any] | None:
    if g is None:
        return None
    return {
        "accounts": g.accounts,
        "arr_due": round(g.arr_due, 2),
        "expected_retained": round(g.expected_retained, 2),
        "grr": None if g.grr is None else round(g.grr, 4),
        "low": None if g.low is None else round(g.low, 4),
        "high": None if g.high is None else round(g.high, 4),
    }


def _backtest_json(q: fc.QuarterBacktest) -> dict[str, Any]:
    return {
        "start": q.start.isoformat(),
        "end": q.end.isoformat(),
        "status": q.status,
        "accounts": q.accounts,
        "unscored": q.unscored,
        "renewed": q.renewed,
        "churned": q.churned,
        "training_samples": q.training_samples,
        "forecast": _grr_json(q.forecast),
        "actual": None if q.actual is None else round(q.actual, 4),
    }


def refresh(session: Session, *, today: dt.date, now: dt.datetime) -> RenewalForecastRun:
    """Fit the forecast from the book's history and store every active account's forecast."""
    source = _source(session)
    run = RenewalForecastRun(day=today, status="no_model", fitted_at=now)
    accounts = session.execute(
        select(Account.id, Account.renewal_on).where(col(Account.status) == "active")  # type: ignore[call-overload]
    ).all()
    fitted: fc.Fitted | None = None
    current: dict[int, fc.Features] = {}
    keys: tuple[str, ...] = ()
    if source is not None:
        run.model_version_id = source.version.id
        keys = source.keys
        grader = _Grader(session, source)
        days = _reference_days(session, grader.version_ids, today)
        features = _features(session, grader, days)
        decided = _decisions(session)
        rows = fc.samples(features, decided)
        result = fc.fit(rows, measure_count=len(keys))
        run.samples, run.renewed, run.churned = result.samples, result.renewed, result.churned
        run.status = "no_scores" if not features else result.status
        run.evaluation = _evaluation_json(fc.evaluate(rows, measure_count=len(keys)))
        if result.model is not None:
            fitted = result.model
            run.plan = fitted.plan
            run.training_first_on, run.training_last_on = fitted.first_day, fitted.last_day
            run.average_probability = round(fitted.average_probability, 4)
            run.status = "ok"
        first = min(days) if days else today
        quarters = [q for q in fc.quarters_before(today, BACKTEST_QUARTERS) if q[0] > first]
        run.backtest = [
            _backtest_json(q)
            for q in fc.backtest_quarters(features, decided, quarters, measure_count=len(keys), rows=rows)
        ]
        current = _current_features(session, grader, today)
    session.add(run)
    session.flush()
    assert run.id is not None
    session.execute(delete(RenewalForecast))
    stored = [
        _account_forecast(run, account_id, renewal_on, fitted, current.get(account_id), keys, today, now)
        for account_id, renewal_on in accounts
    ]
    session.add_all(stored)
    old = (
        session.execute(
            select(RenewalForecastRun.id).order_by(col(RenewalForecastRun.id).desc()).offset(KEEP_RUNS)  # type: ignore[call-overload]
        )
        .scalars()
        .all()
    )
    if old:
        session.execute(delete(RenewalForecastRun).where(col(RenewalForecastRun.id).in_(old)))
    session.flush()
    return run


def _account_forecast(
    run: RenewalForecastRun,
    account_id: int,
    renewal_on: dt.date | None,
    model: fc.Fitted | None,
    features: fc.Features | None,
    keys: tuple[str, ...],
    today: dt.date,
    now: dt.datetime,
) -> RenewalForecast:
    stored = RenewalForecast(
        account_id=account_id,
        run_id=run.id or 0,
        day=today,
        status="ok",
        renewal_on=renewal_on,
        model_version_id=run.model_version_id,
        fitted_at=now,
    )
    if renewal_on is None:
        stored.status = "no_renewal_date"
    elif renewal_on <= today:
        stored.status = "renewal_passed"
    elif (renewal_on - today).days > fc.HORIZON_DAYS:
        stored.status = "renewal_beyond_horizon"
    elif model is None:
        stored.status = "insufficient_history"
    elif features is None:
        stored.status = "no_score"
    else:
        result = fc.forecast(model, features, renewal_on)
        stored.day = features.day
        stored.probability = round(result.probability, 4)
        stored.drivers = [_driver_json(d, keys) for d in result.drivers]
    return stored


def forecast_count(session: Session) -> int:
    """Stored forecasts with a probability."""
    return int(
        session.execute(
            select(func.count())
            .select_from(RenewalForecast)
            .where(col(RenewalForecast.probability).is_not(None))
        ).scalar_one()
    )


# -- reading --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountForecast:
    account: Account
    forecast: RenewalForecast | None  # None until the first refresh
    run: RenewalForecastRun | None
    model: HealthModel | None
    version: HealthModelVersion | None
    measure_names: dict[str, str]


def latest_run(session: Session) -> RenewalForecastRun | None:
    return session.execute(
        select(RenewalForecastRun).order_by(col(RenewalForecastRun.id).desc()).limit(1)
    ).scalar_one_or_none()


def _model_of(
    session: Session, version_id: int | None
) -> tuple[HealthModel | None, HealthModelVersion | None, dict[str, str]]:
    version = session.get(HealthModelVersion, version_id) if version_id is not None else None
    if version is None:
        return None, None, {}
    model = session.get(HealthModel, version.model_id)
    names = {m.key: m.name for m in measure_order(to_model_def(health_models.version_spec(version)))}
    return model, version, names


def account_forecast(session: Session, *, account_id: str) -> AccountForecast:
    """An account's stored forecast (by its external id) with the run that made it; 404 for an
    unknown or deleted account."""
    account = session.execute(
        select(Account).where(col(Account.external_id) == account_id, col(Account.status) != "deleted")
    ).scalar_one_or_none()
    if account is None:
        raise NotFound(f"no account with id {account_id!r}")
    return forecast_of(session, account)


def forecast_of(session: Session, account: Account) -> AccountForecast:
    stored = session.get(RenewalForecast, account.id) if account.id is not None else None
    run = session.get(RenewalForecastRun, stored.run_id) if stored is not None else latest_run(session)
    model, version, names = _model_of(session, run.model_version_id if run else None)
    return AccountForecast(account, stored, run, model, version, names)


def forecast_of_run(
    session: Session, run: RenewalForecastRun
) -> tuple[HealthModel | None, HealthModelVersion | None]:
    """The model and version a run was fitted for."""
    model, version, _ = _model_of(session, run.model_version_id)
    return model, version


def list_forecasts(
    session: Session, *, page: PageParams, sort: str = "probability"
) -> tuple[list[tuple[RenewalForecast, Account]], str | None]:
    """One page of the active accounts' stored forecasts, sorted by probability or renewal date
    (accounts without one last either way), then by account."""
    if sort not in SORTS:
        raise InvalidInput.field("sort", f"one of {', '.join(SORTS)}", "query")
    key = sort.lstrip("-")
    descending = sort.startswith("-")
    column: Any = (
        col(RenewalForecast.probability) if key == "probability" else col(RenewalForecast.renewal_on)
    )
    query = (
        select(RenewalForecast, Account)
        .join(Account, col(Account.id) == col(RenewalForecast.account_id))
        .where(col(Account.status) == "active")
    )
    if page.cursor:
        cursor = decode_cursor(page.cursor, sort=sort)
        value = _cursor_value(key, cursor.value)
        after_id = col(RenewalForecast.account_id) > cursor.last_id
        if value is None:
            query = query.where(column.is_(None), after_id)
        else:
            beyond = column < value if descending else column > value
            query = query.where(or_(beyond, and_(column == value, after_id), column.is_(None)))
    query = query.order_by(
        column.is_(None), column.desc() if descending else column.asc(), col(RenewalForecast.account_id)
    ).limit(page.limit + 1)
    rows = [(r[0], r[1]) for r in session.execute(query).all()]
    next_cursor = None
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        last = rows[-1][0]
        raw = last.probability if key == "probability" else last.renewal_on
        value = raw.isoformat() if isinstance(raw, dt.date) else raw
        next_cursor = encode_cursor(Cursor(sort, value, last.account_id))
    return rows, next_cursor


def _cursor_value(key: str, value: Any) -> Any:
    if value is None:
        return None
    try:
        return float(value) if key == "probability" else dt.date.fromisoformat(str(value))
    except (TypeError, ValueError):
        raise InvalidInput.field("cursor", "not a cursor returned by this API", "query") from None


# -- gross revenue retention ----------------------------------------------------------------------


@dataclass(frozen=True)
class GrrOutlook:
    start: dt.date
    end: dt.date
    currency: str | None
    forecast: fc.GrrForecast
    due_accounts: int  # active accounts in the currency renewing in the quarter
    unforecast: int  # of them, without a probability
    other_currency: int
    run: RenewalForecastRun | None
    model: HealthModel | None
    version: HealthModelVersion | None


def grr_outlook(session: Session, *, today: dt.date) -> GrrOutlook:
    """Next calendar quarter's GRR forecast: of the ARR of active accounts renewing in it, the
    share expected to be kept, with its interval; from the stored forecasts."""
    start, end = fc.next_quarter(today)
    rows = session.execute(
        select(Account.arr, Account.currency, RenewalForecast.probability)  # type: ignore[call-overload]
        .join(RenewalForecast, col(RenewalForecast.account_id) == col(Account.id), isouter=True)
        .where(
            col(Account.status) == "active", col(Account.renewal_on) >= start, col(Account.renewal_on) <= end
        )
    ).all()
    currencies = Counter(c for _, c, _ in rows)
    currency = min(currencies, key=lambda c: (-currencies[c], c)) if currencies else None
    mine = [(p, Decimal(arr)) for arr, c, p in rows if c == currency]
    items = [(float(p), float(arr)) for p, arr in mine if p is not None]
    run = latest_run(session)
    model, version, _ = _model_of(session, run.model_version_id if run else None)
    return GrrOutlook(
        start,
        end,
        currency,
        fc.grr_forecast(items),
        len(mine),
        sum(1 for p, _ in mine if p is None),
        len(rows) - len(mine),
        run,
        model,
        version,
    )
