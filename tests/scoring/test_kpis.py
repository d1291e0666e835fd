"""Team KPIs on hand-computed examples (app/scoring/kpis.py)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest

from app.scoring import kpis
from app.scoring.kpis import (
    AccountIn,
    ActivityIn,
    HistoryIn,
    ItemIn,
    KpiInputs,
    NpsIn,
    Period,
    TaskIn,
)

D = dt.date
OCT = kpis.month_of(D(2026, 10, 15))
TODAY = D(2026, 11, 23)


def acct(
    id: int,
    *,
    status: str = "active",
    start: dt.date | None = D(2025, 1, 1),
    churned_on: dt.date | None = None,
    arr: int = 1000,
    currency: str = "JPY",
) -> AccountIn:
    return AccountIn(id, status, start, churned_on, Decimal(arr), currency)


def event(account_id: int, kind: str, on: dt.date, before: int | None, after: int | None) -> HistoryIn:
    return HistoryIn(
        account_id,
        kind,
        on,
        None if before is None else Decimal(before),
        None if after is None else Decimal(after),
    )


# -- periods -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "start", "end", "key"),
    [
        ("2026-10", D(2026, 10, 1), D(2026, 10, 31), "2026-10"),
        ("2024-02", D(2024, 2, 1), D(2024, 2, 29), "2024-02"),
        ("2026-12", D(2026, 12, 1), D(2026, 12, 31), "2026-12"),
        ("2026-Q3", D(2026, 7, 1), D(2026, 9, 30), "2026-Q3"),
        ("2026-q1", D(2026, 1, 1), D(2026, 3, 31), "2026-Q1"),
        (" 2026-Q4 ", D(2026, 10, 1), D(2026, 12, 31), "2026-Q4"),
    ],
)
def test_parse_period(text: str, start: dt.date, end: dt.date, key: str) -> None:
    period = kpis.parse_period(text)
    assert (period.start, period.end, period.key) == (start, end, key)


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-Q5", "2026/10", "October", "", "0000-01"])
def test_parse_period_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        kpis.parse_period(text)


def test_trail_of_months_crosses_the_year_oldest_first() -> None:
    periods = kpis.trail(kpis.parse_period("2026-03"))
    assert len(periods) == 12
    assert [p.key for p in periods[:3]] == ["2025-04", "2025-05", "2025-06"]
    assert periods[-1].key == "2026-03"
    assert all(a.end + dt.timedelta(days=1) == b.start for a, b in itertools.pairwise(periods))


def test_trail_of_quarters_and_ranges() -> None:
    quarters = kpis.trail(kpis.parse_period("2026-Q1"), 3)
    assert [q.key for q in quarters] == ["2025-Q3", "2025-Q4", "2026-Q1"]
    ranges = kpis.trail(kpis.date_range(D(2026, 11, 1), D(2026, 11, 10)), 3)
    assert [(r.start, r.end) for r in ranges] == [
        (D(2026, 10, 12), D(2026, 10, 21)),
        (D(2026, 10, 22), D(2026, 10, 31)),
        (D(2026, 11, 1), D(2026, 11, 10)),
    ]
    assert ranges[-1].key == "2026-11-01..2026-11-10"


def test_date_range_limits() -> None:
    assert kpis.date_range(D(2026, 1, 1), D(2026, 1, 1)).days == 1
    with pytest.raises(ValueError, match="before"):
        kpis.date_range(D(2026, 2, 1), D(2026, 1, 31))
    with pytest.raises(ValueError, match="366"):
        kpis.date_range(D(2025, 1, 1), D(2026, 1, 2))


# -- renewal rate ------------------------------------------------------------------------------


def test_renewal_rate_counts_accounts_due_in_the_period() -> None:
    history = [
        event(1, "renewal", D(2026, 10, 1), 1000, 1200),  # first day: counts
        event(2, "renewal", D(2026, 10, 31), 500, 500),  # last day: counts
        event(3, "churn", D(2026, 10, 15), 800, 0),
        event(4, "renewal", D(2026, 11, 1), 900, 900),  # the next period
        event(5, "renewal", D(2026, 9, 30), 900, 900),  # the period before
        event(6, "renewal", D(2026, 10, 3), 700, 700),  # renewed, then churned: churned
        event(6, "churn", D(2026, 10, 20), 700, 0),
        event(7, "arr_change", D(2026, 10, 10), 100, 200),  # not a renewal
    ]
    result = kpis.renewals(history, OCT)
    assert (result.renewed, result.churned, result.due) == (2, 2, 4)
    assert result.rate == 0.5
    assert [(r.account_id, r.outcome) for r in result.outcomes] == [
        (1, "renewed"),
        (2, "renewed"),
        (3, "churned"),
        (6, "churned"),
    ]


def test_renewal_rate_of_an_empty_period_is_none() -> None:
    result = kpis.renewals([], OCT)
    assert (result.due, result.rate) == (0, None)


# -- revenue retention -------------------------------------------------------------------------


def test_revenue_retention_worked_example() -> None:
    # At the start: 1 pays 1000, 2 pays 2000, 3 pays 500. In October 1 grows to 1500, 2 churns,
    # 3 shrinks to 400. 4 starts in October (not in the base).
    accounts = [
        acct(1, arr=1500),
        acct(2, status="churned", churned_on=D(2026, 10, 20), arr=0),
        acct(3, arr=400),
        acct(4, start=D(2026, 10, 5), arr=900),
    ]
    history = [
        event(1, "contract_start", D(2025, 1, 1), None, 1000),
        event(1, "arr_change", D(2026, 10, 10), 1000, 1500),
        event(2, "contract_start", D(2025, 3, 1), None, 2000),
        event(2, "churn", D(2026, 10, 20), 2000, 0),
        event(3, "contract_start", D(2025, 6, 1), None, 500),
        event(3, "renewal", D(2026, 10, 31), 500, 400),
        event(4, "contract_start", D(2026, 10, 5), None, 900),
    ]
    r = kpis.retention(accounts, history, OCT)
    assert (r.accounts, r.start_arr, r.end_arr) == (3, Decimal(3500), Decimal(1900))
    assert (r.expansion, r.contraction, r.churned_arr) == (Decimal(500), Decimal(100), Decimal(2000))
    assert r.kept_arr == Decimal(1400)  # 1000 + 0 + 400
    assert r.net == pytest.approx(1900 / 3500)
    assert r.gross == pytest.approx(1400 / 3500)


def test_arr_before_the_first_event_and_without_history() -> None:
    a = acct(1, arr=1200)
    events = [event(1, "arr_change", D(2026, 10, 10), 1000, 1200)]
    assert kpis.arr_on(events, D(2026, 9, 30), a) == Decimal(1000)
    assert kpis.arr_on(events, D(2026, 10, 10), a) == Decimal(1200)
    assert kpis.arr_on([event(1, "contract_start", D(2026, 10, 5), None, 900)], D(2026, 9, 30), a) == 0
    # No history at all: the current ARR while active and started.
    assert kpis.arr_on([], D(2026, 9, 30), a) == Decimal(1200)
    assert kpis.arr_on([], D(2024, 12, 31), a) == 0
    gone = acct(2, status="churned", churned_on=D(2026, 10, 20), arr=0)
    assert kpis.arr_on([], D(2026, 10, 31), gone) == 0


def test_retention_sums_one_currency_and_counts_the_others() -> None:
    accounts = [acct(1, arr=1000), acct(2, arr=3000), acct(3, arr=50, currency="USD")]
    r = kpis.retention(accounts, [], OCT)
    assert (r.currency, r.accounts, r.other_currency, r.net, r.gross) == ("JPY", 2, 1, 1.0, 1.0)


def test_retention_without_paying_accounts_is_none() -> None:
    r = kpis.retention([acct(1, start=D(2026, 10, 5))], [], OCT)
    assert (r.currency, r.accounts, r.net, r.gross) == (None, 0, None, None)


# -- health score rise -------------------------------------------------------------------------


def test_score_rise_worked_example() -> None:
    # 50 → 60 and 70 → 70, and a new account at 20: average change +5; averages 60 → 50.
    rise = kpis.score_rise({1: 50.0, 2: 70.0}, {1: 60.0, 2: 70.0, 3: 20.0})
    assert (rise.accounts, rise.per_account) == (2, 5.0)
    assert (rise.start_average, rise.end_average, rise.change_of_average) == (60.0, 50.0, -10.0)


def test_score_rise_without_scores_is_none() -> None:
    rise = kpis.score_rise({}, {1: 40.0})
    assert (rise.per_account, rise.change_of_average, rise.end_average) == (None, None, 40.0)


def test_score_days_are_the_eves_and_the_running_end() -> None:
    periods = kpis.trail(kpis.parse_period("2026-11"), 2)
    assert kpis.score_days(periods, today=TODAY) == [D(2026, 9, 30), D(2026, 10, 31), D(2026, 11, 23)]


# -- response rate, coverage -------------------------------------------------------------------


def test_active_in_a_period() -> None:
    assert kpis.active_in(acct(1), OCT)
    assert not kpis.active_in(acct(2, start=D(2026, 11, 1)), OCT)
    assert kpis.active_in(acct(3, status="churned", churned_on=D(2026, 10, 1)), OCT)
    assert not kpis.active_in(acct(4, status="churned", churned_on=D(2026, 9, 30)), OCT)
    assert not kpis.active_in(acct(5, status="churned"), OCT)
    assert kpis.active_in(acct(6, start=None), OCT)


def test_response_rate_and_coverage() -> None:
    activities = [
        ActivityIn(1, D(2026, 10, 2), "email_click"),
        ActivityIn(1, D(2026, 10, 3), "email_click"),  # the same account once
        ActivityIn(2, D(2026, 10, 31), "checkin_answer"),
        ActivityIn(3, D(2026, 10, 5), "webinar", attended=False),  # registered, did not come
        ActivityIn(4, D(2026, 10, 5), "community"),
        ActivityIn(5, D(2026, 11, 1), "community_post"),  # next period
        ActivityIn(9, D(2026, 10, 5), "event"),  # not an active account
        ActivityIn(1, D(2026, 10, 9), "meeting"),
        ActivityIn(3, D(2026, 10, 9), "call"),
        ActivityIn(4, D(2026, 10, 9), "email_reply"),  # a reply is not our touch
        ActivityIn(5, D(2026, 10, 9), "support_ticket"),
    ]
    active = {1, 2, 3, 4, 5}
    responded = kpis.share_with(active, activities, OCT, touch=False)
    assert (responded.count, responded.of, responded.rate) == (3, 5, 0.6)
    touched = kpis.share_with(active, activities, OCT, touch=True)
    assert (touched.count, touched.rate) == (2, 0.4)
    assert kpis.share_with(set(), activities, OCT, touch=True).rate is None


# -- NPS ---------------------------------------------------------------------------------------


def test_nps_worked_example() -> None:
    scores = [10, 9, 9, 9, 8, 6, 0, 3]  # 4 promoters, 1 passive, 3 detractors
    result = kpis.nps(NpsIn(1, D(2026, 10, 1), s) for s in scores)
    assert (result.promoters, result.passives, result.detractors, result.responses) == (4, 1, 3, 8)
    assert result.score == pytest.approx(12.5)


@pytest.mark.parametrize(
    ("score", "bucket"), [(9, "promoters"), (8, "passives"), (7, "passives"), (6, "detractors")]
)
def test_nps_edges(score: int, bucket: str) -> None:
    result = kpis.nps([NpsIn(1, D(2026, 10, 1), score)])
    assert getattr(result, bucket) == 1
    assert result.score == {"promoters": 100.0, "passives": 0.0, "detractors": -100.0}[bucket]


def test_nps_without_responses_is_none() -> None:
    assert kpis.nps([]).score is None


# -- tasks and weekly list ---------------------------------------------------------------------


def test_tasks_on_time() -> None:
    today = D(2026, 10, 20)
    tasks = [
        TaskIn(D(2026, 10, 5), "done", D(2026, 10, 5)),  # on the due date: on time
        TaskIn(D(2026, 10, 5), "done", D(2026, 10, 6)),  # a day late
        TaskIn(D(2026, 10, 6), "open"),  # overdue
        TaskIn(D(2026, 10, 7), "snoozed"),  # overdue, snoozed
        TaskIn(D(2026, 10, 8), "closed"),  # dismissed: left out
        TaskIn(D(2026, 10, 20), "open"),  # due today, not late yet
        TaskIn(D(2026, 10, 25), "done", D(2026, 10, 19)),  # done early, due later: on time
        TaskIn(D(2026, 11, 2), "done", D(2026, 10, 19)),  # due next period
    ]
    share = kpis.tasks_on_time(tasks, OCT, today=today)
    assert (share.count, share.of) == (2, 5)
    assert share.rate == 0.4
    assert kpis.tasks_on_time([], OCT, today=today).rate is None


def test_weekly_list_verdicts() -> None:
    items = [
        ItemIn(D(2026, 10, 5), "done"),
        ItemIn(D(2026, 10, 5), "done"),
        ItemIn(D(2026, 10, 12), "not_actionable"),
        ItemIn(D(2026, 10, 26), "open"),
        ItemIn(D(2026, 11, 2), "done"),
    ]
    result = kpis.verdicts(items, OCT)
    assert (result.done, result.rejected, result.open) == (2, 1, 1)
    assert result.rate == pytest.approx(2 / 3)
    assert kpis.verdicts([ItemIn(D(2026, 10, 5), "open")], OCT).rate is None


# -- all together ------------------------------------------------------------------------------


def test_period_kpis_and_trend_of_an_empty_book() -> None:
    trend = kpis.trend(KpiInputs(), kpis.trail(OCT), today=TODAY)
    assert len(trend) == 12 and trend[-1].period == OCT
    values = trend[-1].values()
    assert [v.key for v in values] == list(kpis.KPI_KEYS)
    assert all(v.value is None for v in values)
    assert set(kpis.DEFINITIONS) == set(kpis.KPI_KEYS)


def test_period_kpis_reads_every_input() -> None:
    inputs = KpiInputs(
        accounts=[acct(1), acct(2)],
        history=[event(1, "renewal", D(2026, 10, 31), 1000, 1000)],
        activities=[ActivityIn(1, D(2026, 10, 2), "email_click"), ActivityIn(2, D(2026, 10, 2), "meeting")],
        nps=[NpsIn(1, D(2026, 10, 2), 10), NpsIn(2, D(2026, 9, 2), 0)],
        tasks=[TaskIn(D(2026, 10, 2), "done", D(2026, 10, 1))],
        items=[ItemIn(D(2026, 10, 5), "not_actionable")],
        scores={D(2026, 9, 30): {1: 40.0}, D(2026, 10, 31): {1: 45.0, 2: 80.0}},
    )
    values = {v.key: v for v in kpis.period_kpis(inputs, OCT, today=TODAY).values()}
    assert values["renewal_rate"].value == 1.0
    assert values["net_revenue_retention"].value == 1.0
    assert values["score_change_per_account"].value == 5.0
    assert values["average_score_change"].value == pytest.approx(22.5)  # 62.5 − 40
    assert (values["response_rate"].value, values["coverage"].value) == (0.5, 0.5)
    assert (values["nps"].value, values["nps"].denominator) == (100.0, 1)
    assert values["tasks_on_time"].value == 1.0
    assert values["weekly_list_done"].value == 0.0


def test_running_period_scores_end_today() -> None:
    november = kpis.parse_period("2026-11")
    inputs = KpiInputs(accounts=[acct(1)], scores={D(2026, 10, 31): {1: 50.0}, TODAY: {1: 47.0}})
    assert kpis.period_kpis(inputs, november, today=TODAY).score.per_account == -3.0


def test_period_contains_only_dates() -> None:
    assert D(2026, 10, 31) in OCT
    assert dt.datetime(2026, 10, 2, tzinfo=dt.UTC) not in OCT  # its local date is the caller's
    assert "2026-10-02" not in OCT
    assert Period("month", D(2026, 10, 1), D(2026, 10, 31)) == OCT
