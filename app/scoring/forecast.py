"""Renewal forecast: the probability that an account renews, fitted on the book's own history.

**What is learned.** A *decision* is one renewal date of an account and what happened: renewed
(a ``renewal`` event on that day) or not (the account churned at or before it). A *sample* is an
account on a reference date (a day it has a stored score) whose next renewal falls 1–365 days
later and is already decided; its features are the score as a fraction of the scale, each
measure's graded fraction (0–1, as the health model grades it), and the days left to the
renewal. A missing or stale measure is filled with the training mean and flagged by an indicator
column; with too few decided renewals for one coefficient per measure (fewer than
:data:`EVENTS_PER_FEATURE` of the rarer outcome per feature), only the score and the days to
renewal are used.

**Why a calibrated classifier, not a survival model.** The event is a decision on a date known in
advance, not a time to failure: at its renewal date every account has renewed or not, so there is
no censoring for a hazard model to handle beyond "not decided yet", which the samples leave out.
A logistic regression fitted by log-loss (a proper scoring rule) is calibrated on the data it was
fitted on, needs no dependency beyond scikit-learn, and its log-odds are a sum of one term per
feature, so each measure's share of an account's forecast is exact (the drivers). A Cox model
would add a dependency and give a relative hazard that must be turned back into a probability at
the renewal date with a baseline we would estimate from few events; an extra calibration layer
(``CalibratedClassifierCV``) would break the additive drivers and, with isotonic regression, needs
more data than a book has. The features are standardised and the fit is L2-regularised
(scikit-learn's ``LogisticRegression``, ``C`` = :data:`REGULARISATION`), deterministic.

**Drivers.** With standardised features, the intercept is the log-odds of the book's average
sample. Each driver is one measure's (or the score's, or the days') term of the log-odds minus that
term at the average: the drivers of an account sum to its log-odds minus the average log-odds.

**Honest evaluation (out of time).** The newest reference dates (:data:`TEST_SHARE` of them) are
the test set; the model is fitted on the older reference dates, using only renewals decided
before the first test date (what was known then), and scored on the test set: Brier score and
ROC AUC, beside the Brier score of predicting the training renewal rate for everyone (the base
rate) and of the test set's own rate (which no forecast could know beforehand).

**Gross revenue retention (GRR) of a quarter's renewals.** Expected retained ARR ÷ ARR up for
renewal, each account's ARR weighted by its probability to renew. The interval is the
:data:`INTERVAL` central range of the Poisson-binomial sum of retained ARR, simulated with a fixed
seed (:data:`SIMULATIONS` draws), widened if needed to contain the expectation. It reflects which
accounts renew given the probabilities, not the uncertainty of the probabilities themselves, and
counts no contraction: a renewal keeps its ARR. The backtest makes the same forecast at each past
quarter's start from a model fitted only on samples before it with outcomes decided before it, for
the accounts active then whose renewal fell in the quarter, against what happened (retained ARR
being the ARR after the renewal, capped at the ARR before it; a churn retains nothing).
"""

from __future__ import annotations

import datetime as dt
import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from app.scoring.health import ModelDef, grade_value, measure_order

#: A renewal counts when it falls this many days after the reference date at most.
HORIZON_DAYS = 365
#: At least this many decided renewals of each outcome before anything is fitted.
MIN_DECISIONS = 10
#: Decisions of the rarer outcome per feature needed to give each measure its own coefficient.
EVENTS_PER_FEATURE = 5
#: The inverse strength of the L2 penalty on standardised features.
REGULARISATION = 1.0
#: The share of the newest reference dates held out for the out-of-time test.
TEST_SHARE = 0.3
SIMULATIONS = 5000
SEED = 17
#: The central probability of the GRR interval (5th to 95th percentile).
INTERVAL = 0.9
#: A score older than this at a quarter's start does not stand for it in the backtest.
FEATURE_LOOKBACK = dt.timedelta(days=14)

Plan = Literal["measures", "score"]
DriverCode = Literal["score", "measure", "days_to_renewal"]


# -- inputs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountTerms:
    account: int
    status: str
    renewal_on: dt.date | None
    churned_on: dt.date | None
    arr: float


@dataclass(frozen=True)
class HistoryEvent:
    account: int
    kind: str  # renewal, churn (others are ignored)
    on: dt.date
    arr_before: float | None
    arr_after: float | None


@dataclass(frozen=True)
class Decision:
    """One renewal date of an account and its outcome."""

    account: int
    renewal_on: dt.date
    renewed: bool
    known_on: dt.date  # the renewal day, or the churn date
    arr: float  # ARR up for renewal
    retained: float  # ARR kept: after the renewal capped at before it; 0 on churn
    churned_on: dt.date | None = None


@dataclass(frozen=True)
class Features:
    """An account's features on a day: the score as a fraction of the scale and each measure's
    graded fraction in the model's measure order (None: missing or stale)."""

    account: int
    day: dt.date
    score: float | None
    measures: tuple[float | None, ...]


@dataclass(frozen=True)
class Sample:
    features: Features
    decision: Decision

    @property
    def days(self) -> int:
        return (self.decision.renewal_on - self.features.day).days


def graded_fractions(model: ModelDef, values: Sequence[float | None], stale: int) -> tuple[float | None, ...]:
    """Each measure's graded fraction from stored raw values (None when missing or stale)."""
    out: list[float | None] = []
    for i, (measure, value) in enumerate(zip(measure_order(model), values, strict=False)):
        if value is None or stale >> i & 1:
            out.append(None)
        else:
            out.append(grade_value(measure, value)[0])
    return tuple(out)


def decisions(accounts: Iterable[AccountTerms], events: Iterable[HistoryEvent]) -> list[Decision]:
    """Every decided renewal: each ``renewal`` event (renewed), and each churned account's pending
    renewal (its renewal date if that is on or after the churn date and within a year of it,
    else the churn date)."""
    renewals: dict[int, list[HistoryEvent]] = {}
    churn_arr: dict[int, float] = {}
    for e in events:
        if e.kind == "renewal":
            renewals.setdefault(e.account, []).append(e)
        elif e.kind == "churn" and e.arr_before is not None:
            churn_arr[e.account] = e.arr_before
    out: list[Decision] = []
    for a in accounts:
        mine = sorted(renewals.get(a.account, []), key=lambda e: e.on)
        for e in mine:
            if a.churned_on is not None and e.on >= a.churned_on:
                continue
            before = e.arr_before if e.arr_before is not None else (e.arr_after or a.arr)
            after = e.arr_after if e.arr_after is not None else before
            out.append(Decision(a.account, e.on, True, e.on, before, min(before, after), a.churned_on))
        if a.status == "churned" and a.churned_on is not None:
            gone = a.churned_on
            due = a.renewal_on
            if due is None or not gone <= due <= gone + dt.timedelta(days=HORIZON_DAYS):
                due = gone
            if mine and mine[-1].on >= due:
                continue
            out.append(Decision(a.account, due, False, gone, churn_arr.get(a.account, a.arr), 0.0, gone))
    return out


def samples(
    features: Iterable[Features], decided: Iterable[Decision], *, horizon_days: int = HORIZON_DAYS
) -> list[Sample]:
    """Each feature row whose account's next renewal after its day is decided and 1 to
    ``horizon_days`` days away (and the account had not churned by that day)."""
    by_account: dict[int, list[Decision]] = {}
    for d in decided:
        by_account.setdefault(d.account, []).append(d)
    for pending in by_account.values():
        pending.sort(key=lambda d: d.renewal_on)
    days_of = {a: [d.renewal_on for d in pending] for a, pending in by_account.items()}
    out: list[Sample] = []
    for f in features:
        mine = by_account.get(f.account)
        if not mine:
            continue
        i = bisect_right(days_of[f.account], f.day)
        if i == len(mine):
            continue
        d = mine[i]
        if d.churned_on is not None and f.day >= d.churned_on:
            continue
        if 1 <= (d.renewal_on - f.day).days <= horizon_days:
            out.append(Sample(f, d))
    return out


def known_before(rows: Iterable[Sample], cutoff: dt.date) -> list[Sample]:
    """The samples one could have fitted on at ``cutoff``: dated before it, decided before it."""
    return [s for s in rows if s.features.day < cutoff and s.decision.known_on < cutoff]


# -- the model ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Driver:
    """One feature's term of the log-odds minus that term for the book's average sample."""

    code: DriverCode
    index: int | None  # the measure's position in the model's order
    value: float | None  # the feature's value (None: missing)
    average: float  # its mean in the training samples
    contribution: float  # log-odds


@dataclass(frozen=True)
class _Input:
    code: DriverCode
    index: int | None
    fill: float
    flagged: bool  # has a missing-value indicator column


@dataclass(frozen=True)
class Fitted:
    plan: Plan
    inputs: tuple[_Input, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    base_rate: float  # the training samples' renewal rate
    samples: int
    decisions: int
    renewed: int  # decisions
    churned: int
    first_day: dt.date
    last_day: dt.date

    @property
    def average_probability(self) -> float:
        return _sigmoid(self.intercept)


@dataclass(frozen=True)
class FitResult:
    status: Literal["ok", "insufficient_history"]
    model: Fitted | None
    samples: int
    renewed: int
    churned: int


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _raw(f: Features, days: int, inp: _Input) -> float | None:
    if inp.code == "score":
        return f.score
    if inp.code == "days_to_renewal":
        return days / HORIZON_DAYS
    assert inp.index is not None
    return f.measures[inp.index] if inp.index < len(f.measures) else None


def _row(inputs: Sequence[_Input], f: Features, days: int) -> list[float]:
    row: list[float] = []
    for inp in inputs:
        value = _raw(f, days, inp)
        row.append(inp.fill if value is None else value)
        if inp.flagged:
            row.append(1.0 if value is None else 0.0)
    return row


def _counts(rows: Sequence[Sample]) -> tuple[int, int]:
    outcome = {(s.decision.account, s.decision.renewal_on): s.decision.renewed for s in rows}
    renewed = sum(1 for v in outcome.values() if v)
    return renewed, len(outcome) - renewed


def fit(rows: Sequence[Sample], *, measure_count: int) -> FitResult:
    """Fit the forecast on the samples (see the module's note); ``insufficient_history`` with
    fewer than :data:`MIN_DECISIONS` decided renewals of either outcome."""
    renewed, churned = _counts(rows)
    if min(renewed, churned) < MIN_DECISIONS:
        return FitResult("insufficient_history", None, len(rows), renewed, churned)
    full = min(renewed, churned) >= EVENTS_PER_FEATURE * (measure_count + 2)
    candidates: list[tuple[DriverCode, int | None]] = [("score", None)]
    if full:
        candidates += [("measure", i) for i in range(measure_count)]
    candidates.append(("days_to_renewal", None))
    inputs: list[_Input] = []
    for code, index in candidates:
        probe = _Input(code, index, 0.0, False)
        seen = [v for s in rows if (v := _raw(s.features, s.days, probe)) is not None]
        if not seen:
            continue
        inputs.append(_Input(code, index, float(np.mean(seen)), len(seen) < len(rows)))
    x = np.array([_row(inputs, s.features, s.days) for s in rows], dtype=float)
    y = np.array([1 if s.decision.renewed else 0 for s in rows])
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    regression = LogisticRegression(C=REGULARISATION, max_iter=2000)
    regression.fit((x - mean) / scale, y)
    days = [s.features.day for s in rows]
    return FitResult(
        "ok",
        Fitted(
            plan="measures" if full else "score",
            inputs=tuple(inputs),
            mean=tuple(float(v) for v in mean),
            scale=tuple(float(v) for v in scale),
            coef=tuple(float(v) for v in regression.coef_[0]),
            intercept=float(regression.intercept_[0]),
            base_rate=float(y.mean()),
            samples=len(rows),
            decisions=renewed + churned,
            renewed=renewed,
            churned=churned,
            first_day=min(days),
            last_day=max(days),
        ),
        len(rows),
        renewed,
        churned,
    )


def _terms(model: Fitted, f: Features, days: int) -> list[float]:
    z = (np.array(_row(model.inputs, f, days)) - np.array(model.mean)) / np.array(model.scale)
    return [float(v) for v in z * np.array(model.coef)]


def predict(model: Fitted, f: Features, days: int) -> float:
    """The probability that the account renews, ``days`` before its renewal."""
    return _sigmoid(model.intercept + sum(_terms(model, f, days)))


def predict_many(model: Fitted, rows: Sequence[Sample]) -> list[float]:
    if not rows:
        return []
    x = np.array([_row(model.inputs, s.features, s.days) for s in rows], dtype=float)
    z = (x - np.array(model.mean)) / np.array(model.scale)
    logits = model.intercept + z @ np.array(model.coef)
    return [_sigmoid(float(v)) for v in logits]


def drivers(model: Fitted, f: Features, days: int) -> list[Driver]:
    """Each feature's contribution to the log-odds relative to the book's average sample, the
    largest first; they sum to logit(p) − logit(average probability)."""
    terms = _terms(model, f, days)
    out: list[Driver] = []
    column = 0
    for inp in model.inputs:
        width = 2 if inp.flagged else 1
        contribution = sum(terms[column : column + width])
        out.append(Driver(inp.code, inp.index, _raw(f, days, inp), inp.fill, contribution))
        column += width
    return sorted(out, key=lambda d: (-abs(d.contribution), d.code, d.index or 0))


# -- evaluation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    status: Literal["ok", "insufficient_history"]
    cutoff: dt.date | None = None  # the first test reference date
    train_samples: int = 0
    train_renewed: int = 0
    train_churned: int = 0
    test_samples: int = 0
    test_renewed: int = 0
    test_churned: int = 0
    brier: float | None = None
    base_rate: float | None = None  # the training renewal rate
    base_brier: float | None = None  # predicting the training rate for every test sample
    test_rate_brier: float | None = None  # predicting the test set's own rate
    auc: float | None = None


def brier(probabilities: Sequence[float], outcomes: Sequence[bool]) -> float:
    return float(
        np.mean([(p - (1.0 if o else 0.0)) ** 2 for p, o in zip(probabilities, outcomes, strict=True)])
    )


def evaluate(rows: Sequence[Sample], *, measure_count: int, test_share: float = TEST_SHARE) -> Evaluation:
    """Fit on the older reference dates (outcomes decided before the first test date), score the
    newest ``test_share`` of the reference dates."""
    days = sorted({s.features.day for s in rows})
    if len(days) < 2:
        return Evaluation("insufficient_history")
    held = max(1, round(len(days) * test_share))
    cutoff = days[len(days) - held]
    test = [s for s in rows if s.features.day >= cutoff]
    fitted = fit(known_before(rows, cutoff), measure_count=measure_count)
    test_renewed, test_churned = _counts(test)
    if fitted.model is None or not test:
        return Evaluation(
            "insufficient_history",
            cutoff,
            fitted.samples,
            fitted.renewed,
            fitted.churned,
            len(test),
            test_renewed,
            test_churned,
        )
    model = fitted.model
    outcomes = [s.decision.renewed for s in test]
    probabilities = predict_many(model, test)
    rate = sum(outcomes) / len(outcomes)
    auc = float(roc_auc_score(outcomes, probabilities)) if 0 < sum(outcomes) < len(outcomes) else None
    return Evaluation(
        "ok",
        cutoff,
        fitted.samples,
        fitted.renewed,
        fitted.churned,
        len(test),
        test_renewed,
        test_churned,
        brier=round(brier(probabilities, outcomes), 5),
        base_rate=round(model.base_rate, 5),
        base_brier=round(brier([model.base_rate] * len(outcomes), outcomes), 5),
        test_rate_brier=round(brier([rate] * len(outcomes), outcomes), 5),
        auc=None if auc is None else round(auc, 4),
    )


# -- gross revenue retention ----------------------------------------------------------------------


@dataclass(frozen=True)
class GrrForecast:
    accounts: int
    arr_due: float
    expected_retained: float
    grr: float | None  # expected retained ÷ due
    low: float | None
    high: float | None


def grr_forecast(
    items: Sequence[tuple[float, float]],
    *,
    simulations: int = SIMULATIONS,
    seed: int = SEED,
    level: float = INTERVAL,
) -> GrrForecast:
    """GRR of renewals given (probability to renew, ARR due) per account, with the ``level``
    central interval of the simulated retained ARR (Poisson-binomial, fixed seed)."""
    due = float(sum(a for _, a in items))
    expected = float(sum(p * a for p, a in items))
    if due <= 0:
        return GrrForecast(len(items), due, expected, None, None, None)
    p = np.array([p for p, _ in items], dtype=float)
    arr = np.array([a for _, a in items], dtype=float)
    rng = np.random.default_rng(seed)
    ratios: list[np.ndarray] = []
    chunk = max(1, 2_000_000 // max(1, len(items)))
    left = simulations
    while left > 0:
        n = min(chunk, left)
        draws = rng.random((n, len(items))) < p
        ratios.append(draws @ arr / due)
        left -= n
    sims = np.concatenate(ratios)
    tail = (1 - level) / 2
    grr = expected / due
    low = min(float(np.quantile(sims, tail)), grr)
    high = max(float(np.quantile(sims, 1 - tail)), grr)
    return GrrForecast(len(items), due, expected, grr, low, high)


@dataclass(frozen=True)
class QuarterBacktest:
    start: dt.date
    end: dt.date
    status: Literal["ok", "insufficient_history"]
    accounts: int = 0
    unscored: int = 0  # due in the quarter but without a score at its start
    forecast: GrrForecast | None = None
    actual: float | None = None
    renewed: int = 0
    churned: int = 0
    training_samples: int = 0


def backtest_quarters(
    features: Sequence[Features],
    decided: Sequence[Decision],
    quarters: Sequence[tuple[dt.date, dt.date]],
    *,
    measure_count: int,
    rows: Sequence[Sample] | None = None,
) -> list[QuarterBacktest]:
    """For each (start, end) quarter: the GRR forecast made at its start from a model fitted only
    on what was known before it, against the GRR that happened for the renewals due in it."""
    rows = samples(features, decided) if rows is None else rows
    by_account: dict[int, list[Features]] = {}
    for f in features:
        by_account.setdefault(f.account, []).append(f)
    for dated in by_account.values():
        dated.sort(key=lambda f: f.day)
    out: list[QuarterBacktest] = []
    for start, end in quarters:
        fitted = fit(known_before(rows, start), measure_count=measure_count)
        cohort = [
            d
            for d in decided
            if start <= d.renewal_on <= end and (d.churned_on is None or d.churned_on >= start)
        ]
        if fitted.model is None:
            out.append(
                QuarterBacktest(
                    start, end, "insufficient_history", len(cohort), training_samples=fitted.samples
                )
            )
            continue
        items: list[tuple[float, float]] = []
        kept = due = 0.0
        renewed = churned = unscored = 0
        for d in cohort:
            at_start = _latest(by_account.get(d.account, []), start)
            if at_start is None:
                unscored += 1
                continue
            items.append((predict(fitted.model, at_start, (d.renewal_on - at_start.day).days), d.arr))
            kept += d.retained
            due += d.arr
            renewed += d.renewed
            churned += not d.renewed
        out.append(
            QuarterBacktest(
                start,
                end,
                "ok",
                len(items),
                unscored,
                grr_forecast(items),
                kept / due if due > 0 else None,
                renewed,
                churned,
                fitted.samples,
            )
        )
    return out


def _latest(items: Sequence[Features], day: dt.date) -> Features | None:
    """The newest features on or before ``day``, if recent enough to stand for it."""
    i = bisect_right([f.day for f in items], day)
    if i == 0:
        return None
    found = items[i - 1]
    return found if day - found.day <= FEATURE_LOOKBACK else None


@dataclass(frozen=True)
class Forecast:
    probability: float
    drivers: list[Driver] = field(default_factory=list)


def forecast(model: Fitted, f: Features, renewal_on: dt.date) -> Forecast:
    days = (renewal_on - f.day).days
    return Forecast(predict(model, f, days), drivers(model, f, days))


def quarters_before(day: dt.date, count: int) -> list[tuple[dt.date, dt.date]]:
    """The ``count`` whole calendar quarters ending before ``day``'s quarter, oldest first."""
    out: list[tuple[dt.date, dt.date]] = []
    year, q = day.year, (day.month - 1) // 3
    for _ in range(count):
        q -= 1
        if q < 0:
            year, q = year - 1, 3
        out.append(quarter(year, q))
    return out[::-1]


def quarter(year: int, index: int) -> tuple[dt.date, dt.date]:
    """Quarter ``index`` (0–3) of ``year`` as (first day, last day)."""
    start = dt.date(year, index * 3 + 1, 1)
    nxt = dt.date(year + 1, 1, 1) if index == 3 else dt.date(year, index * 3 + 4, 1)
    return start, nxt - dt.timedelta(days=1)


def next_quarter(day: dt.date) -> tuple[dt.date, dt.date]:
    q = (day.month - 1) // 3 + 1
    return quarter(day.year + 1, 0) if q == 4 else quarter(day.year, q)
