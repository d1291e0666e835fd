"""Action priority points: every factor, the multipliers, suppression, ranking and feedback."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.scoring.priorities import (
    FeedbackItem,
    PriorityInputs,
    PriorityWeights,
    feedback_report,
    rank,
    score_priority,
)

AS_OF = dt.date(2026, 11, 23)  # a Monday
QUIET = dict(score=100.0, last_meeting_on=AS_OF - dt.timedelta(days=1), champion_motivation=5)


def points(inputs: PriorityInputs, weights: PriorityWeights = PriorityWeights()) -> dict[str, float]:
    return {f.key: f.points for f in score_priority(inputs, AS_OF, weights).factors}


def test_a_healthy_well_covered_account_scores_zero() -> None:
    p = score_priority(PriorityInputs(1, 1, **QUIET), AS_OF)

    assert p.total == 0
    assert sum(f.points for f in p.factors) == p.total


@pytest.mark.parametrize(("score", "expected"), [(30.0, 28.0), (100.0, 0.0), (0.0, 40.0), (None, 20.0)])
def test_health_deficit_is_the_heaviest_factor(score: float | None, expected: float) -> None:
    got = points(PriorityInputs(1, 1, **{**QUIET, "score": score}))

    assert got["health_deficit"] == expected


def test_health_deficit_on_the_0_to_4_scale() -> None:
    got = points(PriorityInputs(1, 1, **{**QUIET, "score": 1.0, "scale_max": 4.0}))

    assert got["health_deficit"] == 30.0  # 40 × (4 − 1) / 4


@pytest.mark.parametrize(("days", "expected"), [(0, 0.0), (61, 10.0), (400, 30.0), (None, 30.0)])
def test_meeting_gap_counts_months_up_to_the_cap(days: int | None, expected: float) -> None:
    last = None if days is None else AS_OF - dt.timedelta(days=days)
    got = points(PriorityInputs(1, 1, **{**QUIET, "last_meeting_on": last}))

    assert got["meeting_gap"] == expected


@pytest.mark.parametrize(("motivation", "expected"), [(5, 0.0), (3, 6.0), (1, 12.0), (None, 12.0)])
def test_weak_key_person_relationship(motivation: int | None, expected: float) -> None:
    got = points(PriorityInputs(1, 1, **{**QUIET, "champion_motivation": motivation}))

    assert got["weak_relationship"] == expected


@pytest.mark.parametrize(("tenure", "expected"), [(0, 15.0), (89, 15.0), (90, 0.0), (None, 0.0)])
def test_onboarding_weighs_the_first_three_months(tenure: int | None, expected: float) -> None:
    assert points(PriorityInputs(1, 1, tenure_days=tenure, **QUIET))["onboarding"] == expected


@pytest.mark.parametrize(("age", "expected"), [(6, 0.0), (7, 10.0), (None, 0.0)])
def test_unanswered_outreach_after_a_grace_week(age: int | None, expected: float) -> None:
    got = points(PriorityInputs(1, 1, outreach_unanswered_days=age, **QUIET))

    assert got["unanswered_outreach"] == expected


def test_renewal_window_and_signals_but_no_double_counting() -> None:
    inputs = PriorityInputs(
        1,
        1,
        renewal_window=True,
        days_to_renewal=120,
        signals=("renewal_window", "no_meeting", "score_drop", "nps_detractor"),
        **QUIET,
    )
    got = points(inputs)

    assert got["renewal_window"] == 10.0
    assert got["signals"] == 8.0  # renewal_window and no_meeting have factors of their own


def test_signals_are_capped() -> None:
    many = (
        "score_drop",
        "nps_detractor",
        "usage_collapse",
        "stale_data",
        "disagreement",
        "champion_quiet",
        "goals_unverified",
    )
    assert points(PriorityInputs(1, 1, signals=many, **QUIET))["signals"] == 20.0


def test_target_multiplier_and_mogura_dampener_are_rows_that_add_up() -> None:
    base = dict(score=50.0, last_meeting_on=AS_OF - dt.timedelta(days=1), champion_motivation=5)
    target = score_priority(PriorityInputs(1, 1, is_target=True, stage="mogura", **base), AS_OF)
    mogura = score_priority(PriorityInputs(2, 1, is_target=False, stage="mogura", **base), AS_OF)
    plain = score_priority(PriorityInputs(3, 1, stage="rescue", **base), AS_OF)

    assert plain.total == 20.0
    assert target.total == 30.0  # target beats the Mogura dampener: resources go there first
    assert mogura.total == 10.0
    for p in (target, mogura, plain):
        assert round(sum(f.points for f in p.factors), 2) == p.total


@pytest.mark.parametrize(
    ("next_meeting", "last_touch", "reason"),
    [
        (14, None, "meeting_scheduled"),
        (15, None, None),
        (-1, None, None),
        (None, 7, "recent_touch"),
        (None, 8, None),
        (3, 2, "meeting_scheduled"),
    ],
)
def test_suppression(next_meeting: int | None, last_touch: int | None, reason: str | None) -> None:
    inputs = PriorityInputs(
        1,
        1,
        score=10.0,
        next_meeting_on=None if next_meeting is None else AS_OF + dt.timedelta(days=next_meeting),
        last_touch_on=None if last_touch is None else AS_OF - dt.timedelta(days=last_touch),
    )
    p = score_priority(inputs, AS_OF)

    assert (p.suppressed.reason if p.suppressed else None) == reason
    assert p.total > 0  # a suppressed account keeps its points; it is only listed apart


def test_rank_top_n_per_owner_skipping_suppressed() -> None:
    weights = PriorityWeights(top_n=2)
    ps = [
        score_priority(
            PriorityInputs(i, owner, score=float(s), **({"next_meeting_on": AS_OF} if sup else {})),
            AS_OF,
            weights,
        )
        for i, owner, s, sup in [
            (1, 7, 10, False),
            (2, 7, 0, True),
            (3, 7, 50, False),
            (4, 7, 20, False),
            (5, 8, 90, False),
        ]
    ]
    ranked = {r.priority.account_id: r.rank for r in rank(ps, weights)}

    assert ranked == {2: None, 1: 1, 4: 2, 3: None, 5: 1}


@given(st.floats(0, 100), st.floats(0, 100))
def test_worse_health_never_lowers_the_points(a: float, b: float) -> None:
    low, high = sorted((a, b))
    worse = score_priority(PriorityInputs(1, 1, score=low), AS_OF)
    better = score_priority(PriorityInputs(1, 1, score=high), AS_OF)

    assert worse.total >= better.total


@given(st.integers(0, 200), st.one_of(st.none(), st.integers(1, 5)), st.booleans(), st.booleans())
def test_rows_always_add_up(days: int, motivation: int | None, target: bool, mogura: bool) -> None:
    p = score_priority(
        PriorityInputs(
            1,
            1,
            score=33.3,
            last_meeting_on=AS_OF - dt.timedelta(days=days),
            champion_motivation=motivation,
            is_target=target,
            stage="mogura" if mogura else "growth",
            tenure_days=days,
        ),
        AS_OF,
    )

    assert round(sum(f.points for f in p.factors), 2) == p.total


def test_weights_validate() -> None:
    assert PriorityWeights.from_json({"health_deficit": 60}).health_deficit == 60
    assert PriorityWeights.from_json({"top_n": 5.0}).top_n == 5
    for bad in (
        {"top_n": 0},
        {"health_deficit": -1},
        {"nope": 1},
        {"top_n": 2.5},
        {"missing_score_deficit": 2},
        {"per_signal": True},
    ):
        with pytest.raises(ValueError):
            PriorityWeights.from_json(bad)


def test_feedback_report_shows_which_factor_leads_rejected_items() -> None:
    items = [
        FeedbackItem("not_actionable", [("meeting_gap", 30.0), ("health_deficit", 5.0)], "talked_offline"),
        FeedbackItem("not_actionable", [("meeting_gap", 25.0), ("health_deficit", 10.0)], "talked_offline"),
        FeedbackItem("done", [("meeting_gap", 20.0), ("health_deficit", 2.0)]),
        FeedbackItem("done", [("health_deficit", 30.0), ("meeting_gap", 5.0)]),
        FeedbackItem("not_actionable", [("health_deficit", 35.0)], "no_churn_risk"),
        FeedbackItem("open", [("health_deficit", 40.0)]),
    ]
    report = feedback_report(items)
    by = {f.factor: f for f in report.factors}

    assert (report.items, report.done, report.rejected) == (5, 2, 3)
    assert report.reasons == {"no_churn_risk": 1, "talked_offline": 2}
    assert (by["meeting_gap"].led, by["meeting_gap"].rejected, by["meeting_gap"].rejection_rate) == (
        3,
        2,
        0.67,
    )
    assert by["meeting_gap"].mean_points_rejected == 27.5
    assert by["meeting_gap"].mean_points_done == 12.5
    assert (by["health_deficit"].led, by["health_deficit"].rejected) == (2, 1)
    assert by["onboarding"].rejection_rate is None
