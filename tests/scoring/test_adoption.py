"""The adoption summary's assembly from hand-computed figures."""

from __future__ import annotations

import datetime as dt

import pytest

from app.scoring.adoption import (
    AdoptionConfig,
    FeatureInfo,
    GoalInfo,
    Highlight,
    NextStep,
    PeriodUsage,
    assemble,
    goal_line,
    month_of,
    previous_periods,
)

FEATURES = (FeatureInfo("reports", "Reports", True), FeatureInfo("alerts", "Alerts", True),
            FeatureInfo("export", "Export", False))


def period(month: int, users: int, user_days: int, **events: int) -> PeriodUsage:
    start, end = month_of(dt.date(2026, month, 1))
    return PeriodUsage(start, end, users, user_days, dict(events), {k: 3 for k in events})


def test_measures_changes_and_trend() -> None:
    periods = [period(m, 10, 20, reports=100) for m in (5, 6, 7, 8)]
    periods += [period(9, 20, 50, reports=200, alerts=10), period(10, 40, 120, reports=900)]
    report = assemble(periods, seats=50, features=FEATURES)
    # 40 of 50 seats; 120 user-days / 40 users; 1 of 2 key features; 900 / 40 per user.
    assert report.activation.value == 0.8 and report.activation.previous == 0.4
    assert report.activation.change == 0.4
    assert report.frequency.value == 3.0 and report.frequency.change == 0.5
    assert report.breadth.value == 0.5 and report.breadth.previous == 1.0
    assert report.active_users.trend == (10, 10, 10, 10, 20, 40)
    assert report.key_features_unused == ("alerts",)
    depth = {d.key: d for d in report.depth}
    assert depth["reports"].per_user.value == 22.5 and depth["reports"].days == 3
    assert depth["export"].events == 0 and depth["export"].per_user.value == 0
    assert Highlight("record", "active_users", 40) in report.highlights
    assert Highlight("record", "activation", 0.8) in report.highlights
    assert report.next_steps == (NextStep("feature_rollout", "unused_feature", "alerts"),)


def test_low_and_falling_adoption_suggests_playbook_actions() -> None:
    periods = [period(9, 30, 90, reports=10, alerts=1), period(10, 20, 30, reports=5, alerts=1)]
    report = assemble(periods, seats=50, features=FEATURES)
    # 0.4 < 0.5; 1.5 days per user < 2.0; 0.6 → 0.4 is a drop of 0.2 ≥ 0.1.
    assert [s.reason for s in report.next_steps] == ["low_activation", "low_frequency",
                                                    "activation_drop"]
    assert report.highlights == ()


def test_no_seats_or_users_leaves_ratios_unknown() -> None:
    report = assemble([period(10, 0, 0)], seats=None, features=())
    assert report.activation.value is None and report.frequency.value is None
    assert report.breadth.value is None and report.activation.change is None
    with pytest.raises(ValueError):
        assemble([], seats=1, features=())


def test_goals_progress_and_achieved_highlight() -> None:
    goals = [GoalInfo("Roll out to sales", "achieved", achieved_on=dt.date(2026, 10, 12)),
             GoalInfo("80 weekly users", "on_track", baseline=10, target=50, current=30),
             GoalInfo("Exec sponsor", "not_started")]
    report = assemble([period(10, 1, 1)], seats=1, features=(), goals=goals)
    assert [g.progress for g in report.goals] == [1.0, 0.5, None]
    assert Highlight("goal_achieved", "Roll out to sales") in report.highlights
    assert goal_line(GoalInfo("x", "on_track", baseline=0, target=10, current=15)).progress == 1
    assert goal_line(GoalInfo("x", "on_track", baseline=0, target=3, current=1)).progress == 0.3333
    # A target equal to the baseline: there once the value is (it was left blank before).
    assert goal_line(GoalInfo("x", "on_track", baseline=50, target=50, current=50)).progress == 1


def test_trend_keeps_the_configured_number_of_periods() -> None:
    periods = [period(m, m, m) for m in range(1, 11)]
    report = assemble(periods, seats=None, features=(), config=AdoptionConfig(trend_periods=3))
    assert report.active_users.trend == (8, 9, 10)


@pytest.mark.parametrize(("start", "end", "first"), [
    (dt.date(2026, 11, 1), dt.date(2026, 11, 30), (dt.date(2026, 6, 1), dt.date(2026, 6, 30))),
    (dt.date(2026, 1, 1), dt.date(2026, 3, 31), (dt.date(2024, 10, 1), dt.date(2024, 12, 31))),
    (dt.date(2026, 11, 10), dt.date(2026, 11, 16), (dt.date(2026, 10, 6), dt.date(2026, 10, 12))),
])
def test_previous_periods(start: dt.date, end: dt.date, first: tuple[dt.date, dt.date]) -> None:
    periods = previous_periods(start, end, 6)
    assert periods[0] == first and periods[-1] == (start, end) and len(periods) == 6


def test_a_first_month_of_use_is_not_a_record() -> None:
    report = assemble([period(9, 0, 0), period(10, 5, 10, reports=3)], seats=10,
                      features=FEATURES)
    assert [h for h in report.highlights if h.kind == "record"] == []
