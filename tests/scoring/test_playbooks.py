"""Playbook matching: every condition kind, the default flow chart, validation, JSON form."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from app.scoring.playbooks import (
    ACTIONS,
    DEFAULT_RULES,
    FLOW_CHART,
    AccountFacts,
    Conditions,
    Rule,
    assignee_of,
    evaluate,
    matching,
    problems,
    rule_from_dict,
    rule_to_dict,
)


def facts(**fields: Any) -> AccountFacts:
    base: dict[str, Any] = {
        "account_id": 1, "owner_id": 7, "stage": "rescue", "band": "normal",
        "signals": frozenset(), "segment": "enterprise", "tier": 2, "is_target": False,
        "tenure_days": 400,
    }
    base.update(fields)
    return AccountFacts(**base)


def rule(**when: Any) -> Rule:
    return Rule(key="r", action="adoption_review", when=Conditions(**when))


F = frozenset


@pytest.mark.parametrize(
    ("when", "account", "holds"),
    [
        ({}, {}, True),
        ({"stages": F({"rescue"})}, {}, True),
        ({"stages": F({"success", "growth"})}, {}, False),
        ({"stages": F({"rescue"})}, {"stage": None}, False),
        ({"bands": F({"bad"})}, {"band": "bad"}, True),
        ({"bands": F({"bad"})}, {}, False),
        ({"signals_any": F({"score_drop", "usage_collapse"})}, {"signals": F({"usage_collapse"})}, True),
        ({"signals_any": F({"score_drop"})}, {"signals": F({"no_meeting"})}, False),
        ({"signals_all": F({"score_drop", "no_meeting"})}, {"signals": F({"score_drop"})}, False),
        ({"signals_all": F({"score_drop", "no_meeting"})},
         {"signals": F({"score_drop", "no_meeting", "stale_data"})}, True),
        ({"signals_none": F({"champion_left"})}, {"signals": F({"champion_left"})}, False),
        ({"signals_none": F({"champion_left"})}, {}, True),
        ({"segments": F({"smb"})}, {"segment": "smb"}, True),
        ({"segments": F({"smb"})}, {"segment": None}, False),
        ({"segments_not": F({"smb"})}, {"segment": None}, True),
        ({"segments_not": F({"smb"})}, {"segment": "smb"}, False),
        ({"is_target": True}, {"is_target": True}, True),
        ({"is_target": False}, {"is_target": True}, False),
        ({"tiers": F({1, 2})}, {"tier": 2}, True),
        ({"tiers": F({1})}, {"tier": None}, False),
        ({"tenure_max_days": 90}, {"tenure_days": 90}, True),
        ({"tenure_max_days": 90}, {"tenure_days": 91}, False),
        ({"tenure_min_days": 91}, {"tenure_days": 90}, False),
        ({"tenure_min_days": 30, "tenure_max_days": 120}, {"tenure_days": 60}, True),
        ({"tenure_max_days": 90}, {"tenure_days": None}, False),
    ],
)
def test_each_condition_kind(when: dict[str, Any], account: dict[str, Any], holds: bool) -> None:
    assert evaluate(rule(**when), facts(**account)).matches is holds


def test_all_set_conditions_must_hold_and_failures_are_named() -> None:
    evaluation = evaluate(rule(stages=F({"rescue"}), bands=F({"bad"})), facts())

    assert not evaluation.matches
    assert [c.condition for c in evaluation.failed] == ["band"]
    assert "band normal fails in {bad}" in evaluation.explain()
    assert "stage rescue meets in {rescue}" in evaluation.explain()


def test_assignee_is_the_owner_unless_a_fixed_user() -> None:
    assert assignee_of(rule(), facts()) == 7
    fixed = Rule(key="r", action="renewal_review", assignee="user", assignee_user_id=3)
    assert assignee_of(fixed, facts()) == 3


def _default_actions(account: AccountFacts) -> set[str]:
    return {e.rule.action for e in matching(DEFAULT_RULES, account)}


@pytest.mark.parametrize(("stage", "band"), list(FLOW_CHART))
def test_default_playbook_follows_the_flow_chart(stage: str, band: str) -> None:
    account = facts(stage=stage, band=band, is_target=True)
    assert _default_actions(account) == {FLOW_CHART[(stage, band)]}


def test_flow_chart_table() -> None:
    assert FLOW_CHART[("success", "good")] == "success_story_sharing"
    assert FLOW_CHART[("rescue", "bad")] == "deployment_review"
    assert FLOW_CHART[("growth", "bad")] == "refresher_training"
    assert len(FLOW_CHART) == 12 and set(FLOW_CHART.values()) <= set(ACTIONS)


def test_mogura_non_target_gets_tech_touch_only() -> None:
    assert _default_actions(facts(stage="mogura", band="bad", is_target=False)) == {
        "tech_touch_email"}


def test_low_touch_accounts_get_tech_touch_instead_of_the_flow_chart() -> None:
    assert _default_actions(facts(segment="smb", stage="rescue", band="bad")) == {
        "tech_touch_email"}
    assert _default_actions(facts(segment="smb", stage="rescue", band="good")) == set()


@pytest.mark.parametrize(
    ("signal", "action"),
    [
        ("onboarding_checkpoint", "deployment_review"),
        ("renewal_window", "renewal_review"),
        ("score_drop", "adoption_review"),
        ("usage_collapse", "adoption_review"),
    ],
)
def test_default_triggers(signal: str, action: str) -> None:
    account = facts(stage=None, band=None, signals=F({signal}))
    assert _default_actions(account) == {action}


def test_default_playbook_is_valid_and_round_trips() -> None:
    assert problems(DEFAULT_RULES) == []
    for r in DEFAULT_RULES:
        assert rule_from_dict(rule_to_dict(r)) == r


def test_problems_name_each_field() -> None:
    bad = [
        Rule(key="a", action="dance"),
        replace(Rule(key="a", action="adoption_review"), assignee="user"),
        Rule(key="b", action="adoption_review", due_in_days=-1, cooldown_days=-1,
             when=Conditions(stages=F({"moon"}), tiers=F({5}), tenure_min_days=10,
                             tenure_max_days=5)),
        Rule(key="c", action="adoption_review", assignee="team"),
    ]
    assert {f for f, _ in problems(bad)} == {
        "rules[0].action", "rules[1].key", "rules[1].assignee_user_id", "rules[2].when.stages",
        "rules[2].when.tiers", "rules[2].when.tenure_max_days", "rules[2].due_in_days",
        "rules[2].cooldown_days", "rules[3].assignee",
    }
