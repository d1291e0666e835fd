"""The expansion pipeline's pure rules: stage checks, weights, totals and expansion signals,
against hand-computed examples."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.scoring.expansion import (
    ExpansionInputs,
    PipelineItem,
    PipelineRules,
    SignalRules,
    detect,
    extra_seats,
    pipeline,
    stage_problems,
    weighted,
)

D = Decimal
CLOSE = dt.date(2027, 1, 31)


@pytest.mark.parametrize(
    ("stage", "amount", "close", "reason", "fields"),
    [
        ("identified", D(0), None, None, []),
        ("qualified", D(0), None, None, []),
        ("proposal", D(0), None, None, ["amount"]),
        ("proposal", D("0.01"), None, None, []),
        ("committed", D(100), None, None, ["expected_close_on"]),
        ("committed", D(0), None, None, ["amount", "expected_close_on"]),
        ("committed", D(100), CLOSE, None, []),
        ("won", D(0), None, None, ["amount"]),
        ("won", D(100), None, None, []),
        ("lost", D(0), None, None, ["lost_reason"]),
        ("lost", D(0), None, "budget", []),
        ("qualified", D(0), None, "budget", ["lost_reason"]),
        ("closed", D(0), None, None, ["stage"]),
    ],
)
def test_stage_rules(
    stage: str, amount: Decimal, close: dt.date | None, reason: str | None, fields: list[str]
) -> None:
    problems = stage_problems(stage, amount=amount, expected_close_on=close, lost_reason=reason)
    assert [f for f, _ in problems] == fields


@pytest.mark.parametrize(
    ("stage", "amount", "expected"),
    [
        ("identified", D(1_000_000), D("100000.00")),
        ("qualified", D(1_000_000), D("250000.00")),
        ("proposal", D(1_000_000), D("500000.00")),
        ("committed", D(400_000), D("320000.00")),
        ("won", D(123), D("123.00")),
        ("lost", D(999), D("0.00")),
        ("identified", D("0.05"), D("0.01")),  # 0.005 rounds half up to a cent
    ],
)
def test_weighted_amount(stage: str, amount: Decimal, expected: Decimal) -> None:
    assert weighted(amount, stage) == expected


def test_weights_are_configurable() -> None:
    rules = PipelineRules(
        probabilities=(
            ("identified", 0.0),
            ("qualified", 0.5),
            ("proposal", 0.5),
            ("committed", 1.0),
            ("won", 1.0),
            ("lost", 0.0),
        )
    )
    assert weighted(D(1000), "qualified", rules) == D("500.00")


def test_pipeline_totals_by_stage_tier_and_open() -> None:
    # ¥1,000,000 in proposal (50 %) and ¥400,000 committed (80 %) weigh ¥820,000 of ¥1,400,000.
    result = pipeline(
        [
            PipelineItem("proposal", D(1_000_000), "JPY", tier=1),
            PipelineItem("committed", D(400_000), "JPY", tier=None),
            PipelineItem("won", D(300_000), "JPY", tier=1),
            PipelineItem("lost", D(50_000), "JPY", tier=2),
            PipelineItem("identified", D(600_000), "JPY", tier=1, count=3),
        ]
    )
    stages = {b.key: (b.count, b.amount, b.weighted) for b in result.by_stage}
    assert list(stages) == ["identified", "qualified", "proposal", "committed", "won", "lost"]
    assert stages["identified"] == (3, D(600_000), D("60000.00"))
    assert stages["qualified"] == (0, D(0), D(0))
    assert stages["proposal"] == (1, D(1_000_000), D("500000.00"))
    assert stages["committed"] == (1, D(400_000), D("320000.00"))
    assert stages["won"] == (1, D(300_000), D("300000.00"))
    assert stages["lost"] == (1, D(50_000), D("0.00"))
    # Open only: tier 1 holds proposal + identified, "none" the committed one; won/lost left out.
    tiers = {b.key: (b.count, b.amount, b.weighted) for b in result.by_tier}
    assert tiers == {"1": (4, D(1_600_000), D("560000.00")), "none": (1, D(400_000), D("320000.00"))}
    (total,) = result.open_total
    assert (total.count, total.amount, total.weighted) == (5, D(2_000_000), D("880000.00"))
    assert result.currencies == ["JPY"]


def test_pipeline_keeps_currencies_apart_jpy_first() -> None:
    result = pipeline([PipelineItem("proposal", D(100), "USD"), PipelineItem("proposal", D(1000), "JPY")])
    assert result.currencies == ["JPY", "USD"]
    assert [(b.currency, b.amount) for b in result.open_total] == [("JPY", D(1000)), ("USD", D(100))]
    assert len(result.by_stage) == 12


def test_empty_pipeline_shows_every_stage_at_zero() -> None:
    result = pipeline([], default_currency="USD")
    assert result.currencies == ["USD"]
    assert [(b.key, b.count, b.amount) for b in result.by_stage][:2] == [
        ("identified", 0, D(0)),
        ("qualified", 0, D(0)),
    ]
    assert result.by_tier == [] and result.open_total == []


@pytest.mark.parametrize(("seats", "more"), [(50, 10), (5, 1), (4, 1), (12, 3), (10, 2)])
def test_extra_seats_is_a_fifth_rounded_up(seats: int, more: int) -> None:
    assert extra_seats(seats) == more


def test_seats_nearly_full_fires_at_ninety_percent() -> None:
    # 46 of 50 seats used (92 %): 10 more seats at ¥3,000,000 / 50 = ¥60,000 each → ¥600,000.
    (signal,) = detect(ExpansionInputs(licensed_seats=50, users_30d=46, arr=D(3_000_000)))
    assert signal.kind == "seats_nearly_full"
    assert signal.opportunity_kind == "upsell_seats"
    assert signal.amount == D("600000.00")
    assert signal.data["seat_use"] == 0.92
    assert signal.data["extra_seats"] == 10
    assert signal.data["arr_per_seat"] == 60000.0
    assert detect(ExpansionInputs(licensed_seats=50, users_30d=45, arr=D(1)))[0].data["seat_use"] == 0.9
    assert detect(ExpansionInputs(licensed_seats=50, users_30d=44, arr=D(1))) == []


@pytest.mark.parametrize(
    ("seats", "users", "fires"),
    [(None, 100, False), (4, 4, False), (5, 5, True), (5, 4, False), (10, 12, True), (0, 0, False)],
)
def test_seats_nearly_full_edges(seats: int | None, users: int, fires: bool) -> None:
    assert bool(detect(ExpansionInputs(licensed_seats=seats, users_30d=users))) is fires


@pytest.mark.parametrize(
    ("recent", "prior", "fires"),
    [(130, 100, True), (129, 100, False), (200, 99, False), (0, 0, False), (1300, 1000, True)],
)
def test_usage_growth(recent: int, prior: int, fires: bool) -> None:
    found = detect(ExpansionInputs(events_recent=recent, events_prior=prior, arr=D(3_000_000)))
    assert bool(found) is fires
    if fires:
        (signal,) = found
        assert signal.kind == "usage_growth" and signal.opportunity_kind == "upgrade_plan"
        # 20 % of the ARR: ¥3,000,000 → ¥600,000.
        assert signal.amount == D("600000.00")
        assert signal.data["growth"] == 0.3
        assert signal.data["window_days"] == 28


def test_both_signals_and_custom_rules() -> None:
    rules = SignalRules(seats_full_share=0.5, growth_ratio=2.0, growth_min_baseline=10, upgrade_share=0.1)
    inputs = ExpansionInputs(
        licensed_seats=10, users_30d=5, events_recent=20, events_prior=10, arr=D(1_000_000)
    )
    assert [(s.kind, s.amount) for s in detect(inputs, rules)] == [
        ("seats_nearly_full", D("200000.00")),
        ("usage_growth", D("100000.00")),
    ]


_stages = st.sampled_from(("identified", "qualified", "proposal", "committed", "won", "lost"))
_amounts = st.decimals(min_value=0, max_value=10**12, places=2, allow_nan=False, allow_infinity=False)


@given(amount=_amounts, stage=_stages)
def test_weighted_is_between_zero_and_the_amount(amount: Decimal, stage: str) -> None:
    assert D(0) <= weighted(amount, stage) <= amount


@given(amount=_amounts)
def test_later_open_stages_weigh_more(amount: Decimal) -> None:
    weights = [weighted(amount, s) for s in ("identified", "qualified", "proposal", "committed", "won")]
    assert weights == sorted(weights)


@given(items=st.lists(st.tuples(_stages, _amounts, st.sampled_from((None, 1, 2, 3, 4))), max_size=30))
def test_the_pipeline_adds_up(items: list[tuple[str, Decimal, int | None]]) -> None:
    result = pipeline([PipelineItem(s, a, "JPY", tier=t) for s, a, t in items])
    assert sum(b.count for b in result.by_stage) == len(items)
    assert sum((b.amount for b in result.by_stage), D(0)) == sum((a for _, a, _ in items), D(0))
    open_items = [(s, a) for s, a, _ in items if s not in ("won", "lost")]
    open_amount = sum((a for _, a in open_items), D(0))
    assert sum((b.amount for b in result.by_tier), D(0)) == open_amount
    assert sum(b.count for b in result.open_total) == len(open_items)
    assert sum((b.weighted for b in result.by_tier), D(0)) == sum(
        (b.weighted for b in result.open_total), D(0)
    )


@given(
    seats=st.integers(min_value=0, max_value=100_000),
    users=st.integers(min_value=0, max_value=200_000),
    arr=_amounts,
)
def test_a_seat_upsell_is_never_negative_and_more_users_never_unfire_it(
    seats: int, users: int, arr: Decimal
) -> None:
    found = detect(ExpansionInputs(licensed_seats=seats, users_30d=users, arr=arr))
    more = detect(ExpansionInputs(licensed_seats=seats, users_30d=users + 1, arr=arr))
    assert all(s.amount >= 0 for s in found)
    assert len(more) >= len(found)
