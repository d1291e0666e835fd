"""Industry tiers: the cuts, the sample-size rule, overrides and the worked examples."""

from __future__ import annotations

import datetime as dt

import pytest

from app.scoring.tiers import (
    IndustryRecord,
    Override,
    TierConfig,
    TierCut,
    computed_tier,
    tier_industries,
    window_start,
)

AS_OF = dt.date(2026, 11, 23)
CONFIG = TierConfig()


def record(renewed: int, churned: int, base: float = 100.0, after: float = 100.0) -> IndustryRecord:
    return IndustryRecord(industry="x", renewed=renewed, churned=churned, arr_base=base,
                          arr_renewed=after)


@pytest.mark.parametrize(
    ("renewed", "churned", "base", "after", "tier"),
    [
        (19, 1, 12_000_000, 13_800_000, 1),  # docstring: manufacturing, 95 %, +15 %
        (18, 2, 100, 104, 2),  # retail: 90 % but +4 % → misses tier 1 on expansion
        (12, 4, 100, 100, 3),  # hospitality: exactly 75 %
        (11, 5, 100, 120, 4),  # 68.75 % meets no cut
        (17, 3, 100, 99, 3),  # 85 % but shrinking → tier 2 wants ≥ 0 % expansion
        (9, 1, 100, 110, 1),  # exactly 90 % and exactly +10 %
    ],
)
def test_cuts_give_the_documented_tiers(
    renewed: int, churned: int, base: float, after: float, tier: int
) -> None:
    assert computed_tier(record(renewed, churned, base, after), CONFIG)[0] == tier


def test_just_below_a_cut_falls_to_the_next_tier() -> None:
    # 899 of 1,000 renewed: 89.9 % < 90 %.
    assert computed_tier(record(899, 101, 100, 200), CONFIG)[0] == 2
    assert computed_tier(record(900, 100, 100, 200), CONFIG)[0] == 1


def test_too_few_renewals_due_gives_no_tier() -> None:
    tier, why = computed_tier(record(8, 1), CONFIG)
    assert tier is None
    assert why == "insufficient data: 9 renewals due, 10 needed"
    assert computed_tier(record(9, 1), CONFIG)[0] is not None


def test_unknown_arr_fails_an_expansion_minimum() -> None:
    assert computed_tier(record(20, 0, base=0, after=0), CONFIG)[0] == 3


def test_results_carry_the_numbers_and_target_flag() -> None:
    tiers = tier_industries([
        IndustryRecord("manufacturing", renewed=19, churned=1, arr_base=100, arr_renewed=115),
        IndustryRecord("education", renewed=7, churned=1),
    ], window=(window_start(AS_OF, 24), AS_OF))

    top = tiers["manufacturing"]
    assert (top.tier, top.is_target, top.status) == (1, True, "tiered")
    assert top.renewal_rate == pytest.approx(0.95)
    assert top.expansion_rate == pytest.approx(0.15)
    assert (top.renewals_due, top.renewed, top.churned) == (20, 19, 1)
    assert "tier 1" in top.explanation
    assert top.window == (dt.date(2024, 11, 23), AS_OF)
    small = tiers["education"]
    assert (small.tier, small.is_target, small.status) == (None, False, "insufficient_data")
    assert small.expansion_rate is None


def test_override_beats_the_computed_tier_and_keeps_it_visible() -> None:
    override = Override(tier=1, reason="strategic", set_by="admin",
                        set_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    tiers = tier_industries(
        [IndustryRecord("retail", renewed=10, churned=10), IndustryRecord("media", renewed=1)],
        overrides={"retail": override, "energy": override},
    )

    assert (tiers["retail"].tier, tiers["retail"].computed_tier) == (1, 4)
    assert tiers["retail"].is_target and tiers["retail"].status == "override"
    assert tiers["retail"].override == override
    # An override also names an industry that has no history yet.
    assert tiers["energy"].tier == 1 and tiers["energy"].renewals_due == 0
    assert tiers["media"].override is None


def test_configurable_cuts_and_target_tier() -> None:
    strict = TierConfig(min_renewals_due=2, target_tier=2, cuts=(
        TierCut(1, 0.99, 0.5), TierCut(2, 0.5), TierCut(3, 0.2),
    ))
    tiers = tier_industries([IndustryRecord("a", renewed=2, churned=1)], config=strict)
    assert (tiers["a"].tier, tiers["a"].is_target) == (2, True)


def test_config_problems_name_fields() -> None:
    assert TierConfig().problems() == []
    bad = TierConfig(lookback_months=0, min_renewals_due=0, target_tier=5,
                     cuts=(TierCut(2, 1.5, -2.0),))
    fields = {f for f, _ in bad.problems()}
    assert fields == {"lookback_months", "min_renewals_due", "cuts", "cuts[0].min_renewal_rate",
                      "cuts[0].min_expansion_rate", "target_tier"}


@pytest.mark.parametrize(
    ("as_of", "months", "start"),
    [
        (dt.date(2026, 11, 23), 24, dt.date(2024, 11, 23)),
        (dt.date(2026, 3, 31), 1, dt.date(2026, 2, 28)),
        (dt.date(2024, 3, 30), 1, dt.date(2024, 2, 29)),
        (dt.date(2026, 1, 15), 1, dt.date(2025, 12, 15)),
    ],
)
def test_window_start_is_calendar_months_back(as_of: dt.date, months: int, start: dt.date) -> None:
    assert window_start(as_of, months) == start
