"""Stage rules and signal detectors: pure, from domain.md's numbers."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.scoring.signals import SignalInputs, SignalRules, detect, perspectives
from app.scoring.stages import (
    StageInputs,
    StageResult,
    StageRules,
    assess_stage,
    derive_champion_motivation,
    transitions,
)

AS_OF = dt.date(2026, 11, 23)
STAR = StageInputs(top_user_active_days=12)
CHAMPION = StageInputs(has_champion=True, champion_rating=4)
COMMUNITY = StageInputs(community_attendances=1)


def _inputs(star: bool, champion: bool, community: bool) -> StageInputs:
    return StageInputs(
        top_user_active_days=12 if star else 11,
        has_champion=True,
        champion_rating=4 if champion else 3,
        community_attendances=1 if community else 0,
    )


@pytest.mark.parametrize(
    ("star", "champion", "community", "stage"),
    [
        (True, True, True, "success"),
        (True, True, False, "growth"),
        (False, True, True, "growth"),
        (True, False, False, "rescue"),
        (False, False, True, "rescue"),
        (False, False, False, "mogura"),
    ],
)
def test_stage_from_the_number_of_indicators_met(
    star: bool, champion: bool, community: bool, stage: str
) -> None:
    result = assess_stage(_inputs(star, champion, community))

    assert result.stage == stage
    assert result.met == star + champion + community
    assert [i.met for i in result.indicators] == [star, champion, community]


def test_star_user_flagged_by_hand_counts_without_usage() -> None:
    result = assess_stage(StageInputs(star_user_flagged=True, top_user_active_days=0))

    star = result.indicators[0]
    assert star.met and star.source == "flagged"


def test_the_csm_rating_beats_the_derived_motivation() -> None:
    busy = StageInputs(has_champion=True, champion_active_days=20, champion_meetings=2, champion_rating=2)

    assert derive_champion_motivation(busy) == 2
    assert assess_stage(busy).indicators[1].source == "csm"


@pytest.mark.parametrize(
    ("active_days", "meetings", "expected"),
    [(0, 0, 1), (3, 0, 1), (4, 0, 2), (12, 0, 3), (12, 1, 4), (30, 5, 5), (0, 2, 3)],
)
def test_derived_motivation_from_activity_and_meetings(
    active_days: int, meetings: int, expected: int
) -> None:
    inputs = StageInputs(has_champion=True, champion_active_days=active_days, champion_meetings=meetings)

    assert derive_champion_motivation(inputs) == expected


def test_no_champion_means_no_motivation() -> None:
    result = assess_stage(StageInputs())

    assert result.champion_motivation is None
    assert result.indicators[1].source == "none" and not result.indicators[1].met


def test_rules_are_configurable_and_validated() -> None:
    strict = StageRules.from_json(
        {"star_user_active_days": 20, "by_count": ["mogura", "mogura", "rescue", "growth"]}
    )

    assert assess_stage(_inputs(True, True, True), strict).stage == "rescue"  # 12 days is no star now
    assert StageRules.from_json(strict.to_json()) == strict
    with pytest.raises(ValueError, match="by_count"):
        StageRules.from_json({"by_count": ["success"]})
    with pytest.raises(ValueError, match="unknown"):
        StageRules.from_json({"stars": 3})
    with pytest.raises(ValueError, match="motivated_at"):
        StageRules.from_json({"motivated_at": 6})


@given(st.integers(0, 40), st.booleans(), st.integers(1, 5), st.integers(0, 5))
def test_more_activity_never_lowers_the_stage(days: int, flagged: bool, rating: int, attended: int) -> None:
    order = {"mogura": 0, "rescue": 1, "growth": 2, "success": 3}
    base = StageInputs(
        star_user_flagged=flagged,
        top_user_active_days=days,
        has_champion=True,
        champion_rating=rating,
        community_attendances=attended,
    )
    more = StageInputs(
        star_user_flagged=flagged,
        top_user_active_days=days + 5,
        has_champion=True,
        champion_rating=min(5, rating + 1),
        community_attendances=attended + 1,
    )

    assert order[assess_stage(more).stage] >= order[assess_stage(base).stage]


def test_transitions_list_only_changes() -> None:
    computed = {
        1: assess_stage(_inputs(True, True, True)),
        2: assess_stage(_inputs(False, False, False)),
        3: assess_stage(_inputs(True, False, False)),
    }

    changes = transitions({1: "success", 2: "rescue"}, computed)

    assert [(c.account_id, c.previous, c.stage) for c in changes] == [
        (2, "rescue", "mogura"),
        (3, None, "rescue"),
    ]
    assert isinstance(computed[1], StageResult)


# -- signals ------------------------------------------------------------------------------------


def kinds(inputs: SignalInputs, rules: SignalRules = SignalRules()) -> set[str]:
    return {s.kind for s in detect(inputs, rules)}


@pytest.mark.parametrize(
    ("tenure", "score", "fires"),
    [(89, 1.0, False), (90, 1.49, True), (90, 1.5, False), (149, 1.0, True), (150, 1.0, False)],
)
def test_onboarding_checkpoint_at_90_days_below_the_adoption_line(
    tenure: int, score: float, fires: bool
) -> None:
    inputs = SignalInputs(
        as_of=AS_OF,
        contract_start_on=AS_OF - dt.timedelta(days=tenure),
        score=score,
        scale_max=4,
        adoption_line=1.5,
    )

    assert ("onboarding_checkpoint" in kinds(inputs)) is fires


@pytest.mark.parametrize(
    ("peak", "now", "fires"), [(80, 65, True), (80, 66, False), (3.0, 2.4, True), (3.0, 2.5, False)]
)
def test_large_score_drop_is_15_percent_of_the_scale(peak: float, now: float, fires: bool) -> None:
    scale = 4.0 if peak < 5 else 100.0
    inputs = SignalInputs(as_of=AS_OF, score=now, score_peak_30d=peak, scale_max=scale)

    assert ("score_drop" in kinds(inputs)) is fires


@pytest.mark.parametrize(("days", "fires"), [(89, False), (90, True), (183, True), (184, False)])
def test_renewal_window_is_three_to_six_months_out(days: int, fires: bool) -> None:
    inputs = SignalInputs(as_of=AS_OF, renewal_on=AS_OF + dt.timedelta(days=days))

    assert ("renewal_window" in kinds(inputs)) is fires


def test_no_meeting_after_90_days_or_never_once_past_onboarding() -> None:
    assert "no_meeting" in kinds(SignalInputs(as_of=AS_OF, last_meeting_on=AS_OF - dt.timedelta(days=90)))
    assert "no_meeting" not in kinds(SignalInputs(as_of=AS_OF, last_meeting_on=AS_OF - dt.timedelta(days=89)))
    never = SignalInputs(as_of=AS_OF, contract_start_on=AS_OF - dt.timedelta(days=120))
    fired = [s for s in detect(never) if s.kind == "no_meeting"]
    assert fired and fired[0].data["last_meeting_on"] is None
    assert "no_meeting" not in kinds(
        SignalInputs(as_of=AS_OF, contract_start_on=AS_OF - dt.timedelta(days=30))
    )


def test_champion_quiet_and_left() -> None:
    quiet = SignalInputs(
        as_of=AS_OF, has_champion=True, champion_last_active_on=AS_OF - dt.timedelta(days=30)
    )
    left = SignalInputs(as_of=AS_OF, has_champion=False, champion_removed_on=AS_OF - dt.timedelta(days=3))

    assert "champion_quiet" in kinds(quiet)
    assert "champion_left" in kinds(left)
    assert "champion_left" not in kinds(
        SignalInputs(as_of=AS_OF, has_champion=True, champion_removed_on=AS_OF)
    )


@pytest.mark.parametrize(
    ("score", "age", "fires"), [(6, 10, True), (7, 10, False), (0, 180, True), (3, 181, False)]
)
def test_nps_detractor(score: int, age: int, fires: bool) -> None:
    inputs = SignalInputs(as_of=AS_OF, latest_nps=score, latest_nps_on=AS_OF - dt.timedelta(days=age))

    assert ("nps_detractor" in kinds(inputs)) is fires


def test_usage_collapse_needs_a_baseline() -> None:
    assert "usage_collapse" in kinds(SignalInputs(as_of=AS_OF, events_recent=49, events_baseline=100))
    assert "usage_collapse" not in kinds(SignalInputs(as_of=AS_OF, events_recent=50, events_baseline=100))
    assert "usage_collapse" not in kinds(SignalInputs(as_of=AS_OF, events_recent=0, events_baseline=19))


def test_stale_data_only_from_accounts_that_used_to_send() -> None:
    week_ago = AS_OF - dt.timedelta(days=7)
    assert "stale_data" in kinds(SignalInputs(as_of=AS_OF, last_event_on=week_ago, events_before_quiet=40))
    assert "stale_data" not in kinds(SignalInputs(as_of=AS_OF, last_event_on=week_ago, events_before_quiet=0))
    assert "stale_data" not in kinds(
        SignalInputs(as_of=AS_OF, last_event_on=AS_OF - dt.timedelta(days=6), events_before_quiet=40)
    )


def test_goals_unverified() -> None:
    fired = [s for s in detect(SignalInputs(as_of=AS_OF, unverified_goals=2)) if s.kind == "goals_unverified"]

    assert fired[0].data == {"goals": 2, "limit_days": 90}


@pytest.mark.parametrize(
    ("band", "sentiment", "seats", "fires"),
    [
        ("good", 2, None, True),  # the score says well, the CSM says badly
        ("good", None, -5, True),  # seats shrinking against a good band
        ("bad", 5, None, True),
        ("normal", 2, -3, False),  # all that speak agree: badly
        ("good", 4, 2, False),
        ("normal", 5, -1, True),
        (None, None, None, False),
    ],
)
def test_disagreement_is_raised_not_averaged(
    band: str | None, sentiment: int | None, seats: int | None, fires: bool
) -> None:
    inputs = SignalInputs(as_of=AS_OF, band=band, sentiment=sentiment, seats_change=seats)

    assert ("disagreement" in kinds(inputs)) is fires
    if fires:
        data = next(s.data for s in detect(inputs) if s.kind == "disagreement")
        assert data["views"] == perspectives(inputs, SignalRules())


def test_signal_rules_round_trip_and_validate() -> None:
    rules = SignalRules.from_json({"no_meeting_days": 60, "score_drop_share": 0.2})

    assert SignalRules.from_json(rules.to_json()) == rules
    assert "no_meeting" in kinds(
        SignalInputs(as_of=AS_OF, last_meeting_on=AS_OF - dt.timedelta(days=60)), rules
    )
    with pytest.raises(ValueError):
        SignalRules.from_json({"no_meeting_days": 1.5})
    with pytest.raises(ValueError):
        SignalRules.from_json({"renewal_min_days": 200})
