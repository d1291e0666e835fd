import datetime as dt
import math

import pytest

from app.scoring.interventions import (
    EffectConfig,
    Observation,
    anchors,
    breadth_depth,
    followup,
    matched_effect,
    split,
    t_quantile,
)

D1 = dt.date(2026, 6, 1)
D2 = dt.date(2026, 6, 8)


def obs(
    account: int, change: float, band: str = "bad", segment: str = "smb", anchor: dt.date = D1
) -> Observation:
    return Observation(account, anchor, band, segment, change)


@pytest.mark.parametrize(
    ("df", "expected"),
    # Student's t table, two-sided 95% (p = 0.975)
    [
        (1, 12.706),
        (2, 4.303),
        (3, 3.182),
        (4, 2.776),
        (5, 2.571),
        (6, 2.447),
        (10, 2.228),
        (30, 2.042),
        (math.inf, 1.960),
    ],
)
def test_t_quantile_matches_the_table(df: float, expected: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=0.001)


def test_t_quantile_is_the_normal_one_for_p_one_half() -> None:
    assert t_quantile(0.5, 3) == pytest.approx(0.0, abs=1e-9)
    assert t_quantile(0.5, 12) == 0.0


def test_matched_effect_by_hand() -> None:
    # Stratum A (bad, smb): treated +6, +10; controls +1, +3 (mean 2, variance 2).
    # Stratum B (normal, smb): treated +2; controls 0, +2, +4 (mean 2, variance 4).
    treated = [obs(1, 6), obs(2, 10), obs(3, 2, band="normal")]
    controls = [
        obs(11, 1),
        obs(12, 3),
        obs(21, 0, band="normal"),
        obs(22, 2, band="normal"),
        obs(23, 4, band="normal"),
    ]
    e = matched_effect(treated, controls, EffectConfig(min_treated=3, min_controls=5))
    # treated mean (6 + 10 + 2) / 3 = 6; weights A 2/3, B 1/3; control mean 2/3·2 + 1/3·2 = 2
    assert (e.treated, e.treated_accounts, e.controls, e.strata, e.unmatched) == (3, 3, 5, 2, 0)
    assert e.treated_mean == pytest.approx(6.0)
    assert e.control_mean == pytest.approx(2.0)
    assert e.effect == pytest.approx(4.0)
    # var_T = (0² + 4² + 4²) / 2 = 16 → 16/3; A: (2/3)²·2/2 = 4/9; B: (1/3)²·4/3 = 4/27
    # variance = 144/27 + 12/27 + 4/27 = 160/27
    assert e.std_error == pytest.approx(math.sqrt(160 / 27))
    # df = (160/27)² / ((16/3)²/2 + (4/9)²/1 + (4/27)²/2) = 35.1166 / 14.4307 = 2.4335
    assert e.df == pytest.approx((160 / 27) ** 2 / ((16 / 3) ** 2 / 2 + (4 / 9) ** 2 + (4 / 27) ** 2 / 2))
    assert e.df == pytest.approx(2.4335, abs=1e-4)
    margin = t_quantile(0.975, e.df) * math.sqrt(160 / 27)
    assert (e.ci_low, e.ci_high) == (pytest.approx(4 - margin), pytest.approx(4 + margin))
    # t(2.43) ≈ 3.8 → the interval ≈ 4 ± 9.2 crosses 0
    assert e.reading == "unclear"


def test_matched_effect_positive_when_the_interval_is_above_zero() -> None:
    # Treated 5, 6, 7, 8, 9 (mean 7, variance 2.5); controls 0, 1, 2, 3, 4 (mean 2, variance 2.5)
    treated = [obs(i, 5 + i) for i in range(5)]
    controls = [obs(10 + i, float(i)) for i in range(5)]
    e = matched_effect(treated, controls)
    assert e.effect == pytest.approx(5.0)
    # SE = √(2.5/5 + 2.5/5) = 1; df = 1 / (0.25/4 + 0.25/4) = 8; t(8) = 2.306
    assert e.std_error == pytest.approx(1.0)
    assert e.df == pytest.approx(8.0)
    assert e.ci_low == pytest.approx(5 - 2.306, abs=0.001)
    assert e.ci_high == pytest.approx(5 + 2.306, abs=0.001)
    assert e.reading == "positive"


def test_matched_effect_negative() -> None:
    treated = [obs(i, -5 - i) for i in range(5)]
    controls = [obs(10 + i, float(i)) for i in range(5)]
    e = matched_effect(treated, controls)
    assert e.effect == pytest.approx(-9.0)
    assert e.reading == "negative"


def test_a_stratum_without_enough_controls_is_unmatched() -> None:
    # The enterprise treated account has one comparable control: left out, counted unmatched.
    treated = [obs(1, 5), obs(2, 7), obs(3, 9, segment="enterprise")]
    controls = [obs(11, 1), obs(12, 3), obs(13, 0, segment="enterprise")]
    e = matched_effect(treated, controls)
    assert (e.treated, e.unmatched, e.controls, e.strata) == (2, 1, 2, 1)
    assert e.effect == pytest.approx(6.0 - 2.0)
    assert e.reading == "insufficient"  # 2 treated < 5


def test_controls_of_other_days_do_not_match() -> None:
    treated = [obs(1, 5, anchor=D1)]
    controls = [obs(11, 1, anchor=D2), obs(12, 3, anchor=D2)]
    e = matched_effect(treated, controls)
    assert (e.treated, e.unmatched, e.effect, e.reading) == (0, 1, None, "insufficient")


def test_empty_and_single_treated() -> None:
    empty = matched_effect([], [])
    assert (empty.treated, empty.controls, empty.effect, empty.ci_low) == (0, 0, None, None)
    assert empty.reading == "insufficient"
    one = matched_effect([obs(1, 4)], [obs(11, 1), obs(12, 3)])
    # one treated: an effect (4 − 2) but no variance, so no interval
    assert (one.effect, one.std_error, one.ci_low, one.reading) == (2.0, None, None, "insufficient")


def test_too_few_controls_in_all_is_insufficient() -> None:
    treated = [obs(i, 5 + i) for i in range(5)]
    controls = [obs(11, 1), obs(12, 3)]
    assert matched_effect(treated, controls).reading == "insufficient"  # 2 controls < 5


def test_anchors_keep_days_a_week_apart() -> None:
    daily = [dt.date(2026, 11, d) for d in range(1, 16)]
    assert anchors(daily) == [dt.date(2026, 11, 1), dt.date(2026, 11, 8), dt.date(2026, 11, 15)]
    weekly = [dt.date(2026, 11, 1), dt.date(2026, 11, 8), dt.date(2026, 11, 15)]
    assert anchors(reversed(weekly)) == weekly
    assert anchors([]) == []


def test_followup_is_the_nearest_score_day_within_the_tolerance() -> None:
    weekly = [dt.date(2026, 11, 1) + dt.timedelta(days=7 * k) for k in range(12)]
    # Nov 1 + 30 = Dec 1: Nov 29 is 2 days off, Dec 6 5 days off
    assert followup(dt.date(2026, 11, 1), 30, weekly) == dt.date(2026, 11, 29)
    # Nov 1 + 60 = Dec 31: Dec 27 is 4 days off, Jan 3 3 days off
    assert followup(dt.date(2026, 11, 1), 60, weekly) == dt.date(2027, 1, 3)
    # a tie (Dec 1 − 2 and + 2) goes to the earlier day
    assert followup(dt.date(2026, 11, 1), 30, [dt.date(2026, 11, 29), dt.date(2026, 12, 3)]) == dt.date(
        2026, 11, 29
    )
    assert followup(dt.date(2026, 11, 1), 30, [dt.date(2026, 12, 6)]) is None


def test_split_treated_and_controls() -> None:
    followups = {D1: D1 + dt.timedelta(days=28), D2: D2 + dt.timedelta(days=28)}
    observations = [obs(a, 0.0, anchor=d) for a in (1, 2, 3, 4) for d in (D1, D2)]
    events = [
        (1, dt.date(2026, 6, 7)),  # in D1's week → treated at D1; within D2's window → neither
        (2, dt.date(2026, 6, 8)),  # D2's first day → treated at D2; inside D1's follow-up → neither
        (3, dt.date(2026, 4, 1)),  # long before (more than 30 days before D1) → control at both
        (4, dt.date(2026, 7, 10)),  # after both follow-ups (Jun 29, Jul 6) → control at both
    ]
    treated, controls = split(observations, events, window=30, anchor_days=[D1, D2], followups=followups)
    assert {(o.account_id, o.anchor) for o in treated} == {(1, D1), (2, D2)}
    assert {(o.account_id, o.anchor) for o in controls} == {(3, D1), (3, D2), (4, D1), (4, D2)}


def test_split_last_anchor_period_is_a_week() -> None:
    followups = {D2: D2 + dt.timedelta(days=28)}
    observations = [obs(1, 0.0, anchor=D2), obs(2, 0.0, anchor=D2)]
    events = [(1, D2 + dt.timedelta(days=6)), (2, D2 + dt.timedelta(days=7))]
    treated, controls = split(observations, events, window=30, anchor_days=[D2], followups=followups)
    assert [o.account_id for o in treated] == [1]
    assert controls == []  # account 2's event falls inside the follow-up


def test_breadth_depth_by_hand() -> None:
    rows = [(0, -2.0), (0, None), (1, 4.0), (1, 2.0), (4, 3.0), (7, 1.0), (7, None)]
    zero, one, two, three_four, five_plus = breadth_depth(rows)
    assert (
        zero.accounts,
        zero.scored,
        zero.touches,
        zero.mean_change,
        zero.total_change,
        zero.change_per_touch,
    ) == (2, 1, 0, -2.0, -2.0, None)
    # "1": (+4 + +2) / 2 = +3, total +6 over 2 touches → +3 a touch
    assert (one.accounts, one.mean_change, one.total_change, one.change_per_touch) == (2, 3.0, 6.0, 3.0)
    assert (two.accounts, two.scored, two.mean_change, two.total_change) == (0, 0, None, 0)
    # "3–4": +3 over 4 touches → +0.75
    assert (three_four.label, three_four.change_per_touch) == ("3–4", 0.75)
    # "5+": 14 touches in all, but only the scored account's 7 divide its +1
    assert (five_plus.accounts, five_plus.scored, five_plus.touches) == (2, 1, 14)
    assert five_plus.change_per_touch == pytest.approx(1 / 7)


def test_certification_line_by_hand() -> None:
    from app.scoring.adoption import certification

    # levels 2, 1, None, 2 of 40 seats; 1 certified by the end of the previous period
    c = certification([2, 1, None, 2], seats=40, previous=1)
    assert c.by_level == ((1, 1), (2, 2), (None, 1))
    assert (c.users, c.rate, c.previous, c.change) == (4, 0.1, 1, 3)
    none = certification([], seats=None)
    assert (none.users, none.by_level, none.rate, none.previous, none.change) == (0, (), None, None, None)
