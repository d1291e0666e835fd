"""The renewal forecast's pure logic on synthetic books: decisions, samples, fit, drivers,
out-of-time evaluation, GRR interval and the quarter backtest."""

from __future__ import annotations

import datetime as dt
import math
import random

import pytest

from app.scoring import forecast as fc

D0 = dt.date(2025, 1, 6)


def synthetic_book(
    accounts: int = 400, *, weeks: int = 78, signal: bool = True, seed: int = 3
) -> tuple[list[fc.Features], list[fc.Decision]]:
    """Accounts with yearly renewals; each renewal's outcome depends on a latent health that the
    first two measures show (the third is noise) when ``signal``; scores weekly."""
    rng = random.Random(seed)
    features: list[fc.Features] = []
    decided: list[fc.Decision] = []
    end = D0 + dt.timedelta(weeks=weeks)
    for a in range(accounts):
        renewal = D0 + dt.timedelta(days=rng.randint(1, 365))
        start = D0
        while True:
            health = rng.random()
            renews = rng.random() < (0.35 + 0.6 * health if signal else 0.8)
            churn_on = None if renews else renewal - dt.timedelta(days=rng.randint(0, 60))
            if churn_on is not None and churn_on <= start:
                churn_on = start + dt.timedelta(days=1)
            day = start
            while day < (churn_on or renewal) and day < end:
                if (day - D0).days % 7 == 0:
                    noisy = [min(1.0, max(0.0, health + rng.gauss(0, 0.2))) for _ in range(2)]
                    measures = (noisy[0], noisy[1] if rng.random() > 0.1 else None, rng.random())
                    score = sum(m for m in measures if m is not None) / 3
                    features.append(fc.Features(a, day, score, measures))
                day += dt.timedelta(days=1)
            known = churn_on or renewal
            if known > end:
                break
            decided.append(fc.Decision(a, renewal, renews, known, 100.0, 100.0 if renews else 0.0, churn_on))
            if not renews:
                break
            start, renewal = renewal, renewal + dt.timedelta(days=365)
    return features, decided


def test_decisions_from_history() -> None:
    accounts = [
        fc.AccountTerms(1, "active", dt.date(2026, 5, 1), None, 120.0),
        fc.AccountTerms(2, "churned", dt.date(2026, 3, 1), dt.date(2026, 1, 10), 80.0),
        fc.AccountTerms(3, "churned", None, dt.date(2026, 2, 1), 50.0),
    ]
    events = [
        fc.HistoryEvent(1, "renewal", dt.date(2025, 5, 1), 100.0, 120.0),
        fc.HistoryEvent(2, "renewal", dt.date(2025, 3, 1), 90.0, 70.0),
        fc.HistoryEvent(2, "churn", dt.date(2026, 1, 10), 80.0, 0.0),
        fc.HistoryEvent(1, "arr_change", dt.date(2025, 7, 1), 120.0, 130.0),
    ]
    out = fc.decisions(accounts, events)
    assert fc.Decision(1, dt.date(2025, 5, 1), True, dt.date(2025, 5, 1), 100.0, 100.0) in out
    # a contraction keeps only the ARR after it
    assert (
        fc.Decision(2, dt.date(2025, 3, 1), True, dt.date(2025, 3, 1), 90.0, 70.0, dt.date(2026, 1, 10))
        in out
    )
    # churned mid-term: the renewal it would have reached, known on the churn date
    assert (
        fc.Decision(2, dt.date(2026, 3, 1), False, dt.date(2026, 1, 10), 80.0, 0.0, dt.date(2026, 1, 10))
        in out
    )
    # no renewal date: the churn date stands for it
    assert (
        fc.Decision(3, dt.date(2026, 2, 1), False, dt.date(2026, 2, 1), 50.0, 0.0, dt.date(2026, 2, 1)) in out
    )
    assert len(out) == 4


def test_samples_take_the_next_decided_renewal_within_a_year() -> None:
    d1 = fc.Decision(1, dt.date(2026, 3, 1), True, dt.date(2026, 3, 1), 1.0, 1.0)
    d2 = fc.Decision(1, dt.date(2027, 3, 1), False, dt.date(2026, 9, 1), 1.0, 0.0, dt.date(2026, 9, 1))

    def f(day: dt.date) -> fc.Features:
        return fc.Features(1, day, 0.5, ())

    rows = fc.samples(
        [
            f(dt.date(2025, 2, 1)),
            f(dt.date(2025, 3, 2)),
            f(dt.date(2026, 3, 1)),
            f(dt.date(2026, 8, 31)),
            f(dt.date(2026, 9, 1)),
        ],
        [d2, d1],
    )
    assert [(s.features.day, s.decision.renewal_on, s.days) for s in rows] == [
        (dt.date(2025, 3, 2), dt.date(2026, 3, 1), 364),  # 2025-02-01 is 393 days before
        (dt.date(2026, 3, 1), dt.date(2027, 3, 1), 365),  # the renewal day itself looks ahead
        (dt.date(2026, 8, 31), dt.date(2027, 3, 1), 182),  # not after the churn
    ]
    assert fc.known_before(rows, dt.date(2026, 8, 31)) == rows[:1]


def test_too_little_history_is_said_not_invented() -> None:
    features, decided = synthetic_book(accounts=12, weeks=60)
    result = fc.fit(fc.samples(features, decided), measure_count=3)
    assert result.status == "insufficient_history"
    assert result.model is None
    assert result.churned < fc.MIN_DECISIONS


def test_the_forecast_beats_the_base_rate_when_the_features_carry_signal() -> None:
    features, decided = synthetic_book()
    rows = fc.samples(features, decided)
    ev = fc.evaluate(rows, measure_count=3)
    assert ev.status == "ok"
    assert ev.brier is not None and ev.base_brier is not None and ev.test_rate_brier is not None
    assert ev.brier < ev.base_brier
    assert ev.brier < ev.test_rate_brier
    assert ev.auc is not None and ev.auc > 0.65
    # the training set is only what was known at the cutoff
    assert ev.cutoff is not None and ev.train_samples == len(fc.known_before(rows, ev.cutoff))


def test_probabilities_in_range_deterministic_and_drivers_sum_to_the_log_odds_difference() -> None:
    features, decided = synthetic_book()
    rows = fc.samples(features, decided)
    first = fc.fit(rows, measure_count=3)
    second = fc.fit(rows, measure_count=3)
    assert first == second
    model = first.model
    assert model is not None and model.plan == "measures"
    probabilities = fc.predict_many(model, rows)
    assert all(0.0 < p < 1.0 for p in probabilities)
    assert probabilities == fc.predict_many(model, rows)
    for s in rows[:200]:
        result = fc.forecast(model, s.features, s.decision.renewal_on)
        assert result.probability == pytest.approx(fc.predict(model, s.features, s.days))
        logit = math.log(result.probability / (1 - result.probability))
        assert sum(d.contribution for d in result.drivers) == pytest.approx(logit - model.intercept, abs=1e-9)
        assert {(d.code, d.index) for d in result.drivers} == {
            ("score", None),
            ("measure", 0),
            ("measure", 1),
            ("measure", 2),
            ("days_to_renewal", None),
        }
    # the health measures push the right way: a healthier account is more likely to renew
    healthy = fc.Features(0, D0, 0.9, (0.95, 0.95, 0.5))
    sick = fc.Features(0, D0, 0.1, (0.05, 0.05, 0.5))
    assert fc.predict(model, healthy, 90) > fc.predict(model, sick, 90) + 0.2
    # a missing measure is filled with the training mean, flagged, and still a driver
    gap = fc.forecast(model, fc.Features(0, D0, 0.5, (0.5, None, 0.5)), D0 + dt.timedelta(days=90))
    missing = next(d for d in gap.drivers if d.code == "measure" and d.index == 1)
    assert missing.value is None


def test_thin_history_uses_the_score_alone() -> None:
    features, decided = synthetic_book(accounts=40, weeks=70)
    result = fc.fit(fc.samples(features, decided), measure_count=3)
    assert result.model is not None
    assert fc.MIN_DECISIONS <= result.churned < fc.EVENTS_PER_FEATURE * 5
    assert result.model.plan == "score"
    assert [i.code for i in result.model.inputs] == ["score", "days_to_renewal"]


def test_grr_interval_contains_the_expectation_and_is_reproducible() -> None:
    items = [(0.9, 100.0), (0.5, 300.0), (0.99, 50.0), (0.7, 80.0)]
    out = fc.grr_forecast(items)
    assert out.grr == pytest.approx((90 + 150 + 49.5 + 56) / 530)
    assert out.low is not None and out.high is not None and out.grr is not None
    assert 0.0 <= out.low <= out.grr <= out.high <= 1.0
    assert out == fc.grr_forecast(items)
    # one nearly certain account: the simulated range is a point, widened to hold the expectation
    single = fc.grr_forecast([(0.99, 100.0)])
    assert single.low is not None and single.high is not None
    assert single.low <= 0.99 <= single.high
    assert fc.grr_forecast([]).grr is None


def test_quarter_backtest_forecasts_from_the_past_only() -> None:
    features, decided = synthetic_book(weeks=104)
    quarters = fc.quarters_before(D0 + dt.timedelta(weeks=104), 3)
    assert quarters[-1][1] < D0 + dt.timedelta(weeks=104)
    out = fc.backtest_quarters(features, decided, quarters, measure_count=3)
    assert [q.start for q in out] == [q[0] for q in quarters]
    done = [q for q in out if q.status == "ok"]
    assert done
    for q in done:
        assert q.forecast is not None and q.forecast.grr is not None and q.actual is not None
        assert q.forecast.low is not None and q.forecast.high is not None
        assert abs(q.forecast.grr - q.actual) < 0.25
        assert q.accounts == q.renewed + q.churned


def test_quarters() -> None:
    assert fc.next_quarter(dt.date(2026, 11, 23)) == (dt.date(2027, 1, 1), dt.date(2027, 3, 31))
    assert fc.next_quarter(dt.date(2026, 2, 1)) == (dt.date(2026, 4, 1), dt.date(2026, 6, 30))
    assert fc.quarters_before(dt.date(2026, 2, 1), 2) == [
        (dt.date(2025, 7, 1), dt.date(2025, 9, 30)),
        (dt.date(2025, 10, 1), dt.date(2025, 12, 31)),
    ]
