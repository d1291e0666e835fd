"""Playbooks: rules that turn what we know about an account into an action from the catalog.

A rule has conditions on the account's facts and an action, a due offset and an assignee. Every
condition that is set must hold (an unset condition matches anything): the stage and health band
are among the listed ones; the active signals include any / all of the listed ones and none of the
excluded ones; the segment is (or is not) among the listed ones; the account is (or is not) a
target, or its industry's tier is among the listed ones; the tenure lies in a range of days.

``evaluate`` says, condition by condition, what held and what did not, so a task can carry why it
was made and a closed task why its condition cleared.

The default playbook implements the stage × health flow chart of domain.md §1 (one action per
stage and band; Mogura accounts get tech touch unless their industry is a target) and the
triggers of §3: the onboarding checkpoint → deployment review, a large score drop → adoption
review, the renewal window → renewal review with sales; low-touch (SMB) accounts get a tech-touch
email instead of the high-touch flow-chart actions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.scoring.health import BANDS

STAGES = ("success", "growth", "rescue", "mogura")
SEGMENTS = ("enterprise", "mid_market", "smb")
SIGNAL_KINDS = (
    "onboarding_checkpoint", "score_drop", "renewal_window", "no_meeting", "champion_quiet",
    "champion_left", "nps_detractor", "goals_unverified", "usage_collapse", "stale_data",
    "disagreement",
)
ASSIGNEE_RULES = ("owner", "user")


@dataclass(frozen=True)
class Action:
    key: str
    name_en: str
    name_ja: str
    description: str


#: The action catalog (domain.md §3 and §4).
ACTIONS: Mapping[str, Action] = {a.key: a for a in (
    Action("deployment_review", "Deployment review", "導入状況レビュー",
           "Walk through the rollout with the customer: who uses it, what is blocked, next steps."),
    Action("chair_side_session", "Chair-side session", "チェアサイドセッション",
           "Sit with real end users while they work and fix what gets in their way."),
    Action("configuration_optimisation", "Configuration optimisation", "設定の最適化",
           "Review the account's settings and integrations against how they actually work."),
    Action("adoption_review", "Adoption review", "活用度レビュー",
           "Compare what the best users do with what the rest do, and close the gap."),
    Action("end_user_office_hours", "End-user office hours", "エンドユーザー向けオフィスアワー",
           "Open hours where any of the customer's users can bring questions."),
    Action("feature_rollout", "Feature rollout", "機能展開",
           "Introduce a feature the account does not use yet but would benefit from."),
    Action("refresher_training", "Refresher training", "再トレーニング",
           "Retrain users whose use has faded or who joined after the first training."),
    Action("success_story_sharing", "Success-story sharing", "成功事例の共有",
           "Share (or invite the customer to present) a success story with peers."),
    Action("usage_campaign", "Usage campaign", "利用促進キャンペーン",
           "A time-boxed campaign nudging users towards a key feature."),
    Action("tech_touch_email", "Tech-touch email", "テックタッチメール",
           "Automated check-in email: done / on track / problem — a problem leads to a call."),
    Action("renewal_review", "Renewal review with sales", "更新レビュー（営業と確認）",
           "3–6 months before renewal: check the score and the account's intent with sales."),
)}


@dataclass(frozen=True)
class AccountFacts:
    """What the playbook knows about an account on the day of a sync."""

    account_id: int
    owner_id: int | None
    stage: str | None
    band: str | None
    signals: frozenset[str]
    segment: str | None
    tier: int | None
    is_target: bool
    tenure_days: int | None


@dataclass(frozen=True)
class Conditions:
    """Each set condition must hold; empty sets and ``None`` match anything."""

    stages: frozenset[str] = frozenset()
    bands: frozenset[str] = frozenset()
    signals_any: frozenset[str] = frozenset()
    signals_all: frozenset[str] = frozenset()
    signals_none: frozenset[str] = frozenset()
    segments: frozenset[str] = frozenset()
    segments_not: frozenset[str] = frozenset()
    is_target: bool | None = None
    tiers: frozenset[int] = frozenset()
    #: 0–90 days is onboarding: ``tenure_min_days=None, tenure_max_days=90``.
    tenure_min_days: int | None = None
    tenure_max_days: int | None = None


@dataclass(frozen=True)
class Rule:
    key: str
    action: str
    when: Conditions = field(default_factory=Conditions)
    title: str | None = None
    #: The task is due this many days after the day it is created.
    due_in_days: int = 7
    assignee: str = "owner"
    assignee_user_id: int | None = None
    #: After a task of this rule is done or dismissed, none is made again for this many days.
    cooldown_days: int = 30


@dataclass(frozen=True)
class Check:
    """One condition of a rule against one account: what it asks, what the account has."""

    condition: str
    wanted: str
    actual: str
    holds: bool


@dataclass(frozen=True)
class Evaluation:
    rule: Rule
    checks: tuple[Check, ...]

    @property
    def matches(self) -> bool:
        return all(c.holds for c in self.checks)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.holds)

    def explain(self) -> str:
        """``stage rescue ∈ {rescue}; band normal ∉ {bad}``: each condition, the account's value."""
        return "; ".join(
            f"{c.condition} {c.actual} {'meets' if c.holds else 'fails'} {c.wanted}"
            for c in self.checks
        ) or "no conditions"


def _set(values: Iterable[Any]) -> str:
    return "{" + ", ".join(sorted(str(v) for v in values)) + "}"


def evaluate(rule: Rule, facts: AccountFacts) -> Evaluation:
    """Every set condition of the rule, checked against the account's facts."""
    w = rule.when
    checks: list[Check] = []
    if w.stages:
        checks.append(Check("stage", f"in {_set(w.stages)}", str(facts.stage),
                            facts.stage in w.stages))
    if w.bands:
        checks.append(Check("band", f"in {_set(w.bands)}", str(facts.band), facts.band in w.bands))
    active = _set(facts.signals)
    if w.signals_any:
        checks.append(Check("signals", f"any of {_set(w.signals_any)}", active,
                            bool(facts.signals & w.signals_any)))
    if w.signals_all:
        checks.append(Check("signals", f"all of {_set(w.signals_all)}", active,
                            w.signals_all <= facts.signals))
    if w.signals_none:
        checks.append(Check("signals", f"none of {_set(w.signals_none)}", active,
                            not facts.signals & w.signals_none))
    if w.segments:
        checks.append(Check("segment", f"in {_set(w.segments)}", str(facts.segment),
                            facts.segment in w.segments))
    if w.segments_not:
        checks.append(Check("segment", f"not in {_set(w.segments_not)}", str(facts.segment),
                            facts.segment not in w.segments_not))
    if w.is_target is not None:
        checks.append(Check("target", str(w.is_target).lower(), str(facts.is_target).lower(),
                            facts.is_target == w.is_target))
    if w.tiers:
        checks.append(Check("tier", f"in {_set(w.tiers)}", str(facts.tier), facts.tier in w.tiers))
    if w.tenure_min_days is not None or w.tenure_max_days is not None:
        low = w.tenure_min_days if w.tenure_min_days is not None else 0
        high = "∞" if w.tenure_max_days is None else str(w.tenure_max_days)
        tenure = facts.tenure_days
        holds = tenure is not None and tenure >= low and (
            w.tenure_max_days is None or tenure <= w.tenure_max_days
        )
        checks.append(Check("tenure_days", f"in [{low}, {high}]", str(tenure), holds))
    return Evaluation(rule=rule, checks=tuple(checks))


def matching(rules: Sequence[Rule], facts: AccountFacts) -> list[Evaluation]:
    """The rules whose conditions all hold for the account, in playbook order."""
    return [e for e in (evaluate(r, facts) for r in rules) if e.matches]


def assignee_of(rule: Rule, facts: AccountFacts) -> int | None:
    """Who gets the task: the account's owner, or the rule's fixed user."""
    return rule.assignee_user_id if rule.assignee == "user" else facts.owner_id


# -- validation and the JSON form ---------------------------------------------------------------

_SET_FIELDS = ("stages", "bands", "signals_any", "signals_all", "signals_none", "segments",
               "segments_not")
_ALLOWED = {
    "stages": STAGES, "bands": BANDS, "signals_any": SIGNAL_KINDS, "signals_all": SIGNAL_KINDS,
    "signals_none": SIGNAL_KINDS, "segments": SEGMENTS, "segments_not": SEGMENTS,
}


def problems(rules: Sequence[Rule]) -> list[tuple[str, str]]:
    """Why these rules cannot be published, as (field path, message); empty if they can."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        at = f"rules[{i}]"
        if rule.key in seen:
            out.append((f"{at}.key", f"duplicate rule key {rule.key!r}"))
        seen.add(rule.key)
        if rule.action not in ACTIONS:
            out.append((f"{at}.action", f"must be one of {', '.join(ACTIONS)}"))
        for name in _SET_FIELDS:
            unknown = set(getattr(rule.when, name)) - set(_ALLOWED[name])
            if unknown:
                out.append((f"{at}.when.{name}", f"unknown values {_set(unknown)}"))
        if any(t not in (1, 2, 3, 4) for t in rule.when.tiers):
            out.append((f"{at}.when.tiers", "tiers are 1 to 4"))
        low, high = rule.when.tenure_min_days, rule.when.tenure_max_days
        if low is not None and high is not None and low > high:
            out.append((f"{at}.when.tenure_max_days", "must not be below tenure_min_days"))
        if rule.assignee not in ASSIGNEE_RULES:
            out.append((f"{at}.assignee", "must be owner or user"))
        elif rule.assignee == "user" and rule.assignee_user_id is None:
            out.append((f"{at}.assignee_user_id", "required when assignee is user"))
        if rule.due_in_days < 0:
            out.append((f"{at}.due_in_days", "must not be negative"))
        if rule.cooldown_days < 0:
            out.append((f"{at}.cooldown_days", "must not be negative"))
    return out


def rule_to_dict(rule: Rule) -> dict[str, Any]:
    """The JSON form of a rule (stored in the database and exported); sets become sorted lists."""
    when: dict[str, Any] = {}
    for name in (*_SET_FIELDS, "tiers"):
        values = getattr(rule.when, name)
        if values:
            when[name] = sorted(values)
    for name in ("is_target", "tenure_min_days", "tenure_max_days"):
        value = getattr(rule.when, name)
        if value is not None:
            when[name] = value
    return {
        "key": rule.key, "action": rule.action, "title": rule.title, "when": when,
        "due_in_days": rule.due_in_days, "assignee": rule.assignee,
        "assignee_user_id": rule.assignee_user_id, "cooldown_days": rule.cooldown_days,
    }


def rule_from_dict(data: Mapping[str, Any]) -> Rule:
    """A rule from its JSON form (trusted input: stored or already validated by the API)."""
    when = data.get("when") or {}
    return Rule(
        key=data["key"], action=data["action"], title=data.get("title"),
        when=Conditions(
            **{name: frozenset(when.get(name) or ()) for name in (*_SET_FIELDS, "tiers")},
            is_target=when.get("is_target"), tenure_min_days=when.get("tenure_min_days"),
            tenure_max_days=when.get("tenure_max_days"),
        ),
        due_in_days=int(data.get("due_in_days", 7)), assignee=data.get("assignee", "owner"),
        assignee_user_id=data.get("assignee_user_id"),
        cooldown_days=int(data.get("cooldown_days", 30)),
    )


# -- the default playbook -----------------------------------------------------------------------

#: domain.md §1's flow chart: (stage, band) → action. Success accounts are grown and asked to
#: share; Growth accounts get breadth; Rescue accounts get hands-on help; Mogura accounts get
#: tech touch (below) unless they are targets.
FLOW_CHART: Mapping[tuple[str, str], str] = {
    ("success", "good"): "success_story_sharing",
    ("success", "normal"): "feature_rollout",
    ("success", "bad"): "adoption_review",
    ("growth", "good"): "feature_rollout",
    ("growth", "normal"): "end_user_office_hours",
    ("growth", "bad"): "refresher_training",
    ("rescue", "good"): "chair_side_session",
    ("rescue", "normal"): "adoption_review",
    ("rescue", "bad"): "deployment_review",
    ("mogura", "good"): "usage_campaign",
    ("mogura", "normal"): "configuration_optimisation",
    ("mogura", "bad"): "deployment_review",
}
#: Days until a flow-chart task is due: the worse the band, the sooner.
_DUE_BY_BAND = {"good": 28, "normal": 14, "bad": 7}
LOW_TOUCH_SEGMENTS = frozenset({"smb"})


def _default_rules() -> tuple[Rule, ...]:
    rules: list[Rule] = [
        # §3: 90 days after contract start under the adoption line → pull out for outreach.
        Rule("onboarding-checkpoint", "deployment_review", due_in_days=7, cooldown_days=365,
             when=Conditions(signals_any=frozenset({"onboarding_checkpoint"}))),
        # §3: a later large drop triggers the same check.
        Rule("score-drop", "adoption_review", due_in_days=7, cooldown_days=30,
             when=Conditions(signals_any=frozenset({"score_drop", "usage_collapse"}))),
        # §3: 3–6 months before renewal, check the score and ask the sales rep.
        Rule("renewal-window", "renewal_review", due_in_days=14, cooldown_days=180,
             when=Conditions(signals_any=frozenset({"renewal_window"}))),
        # §3 tech touch: low-touch accounts not doing well get the three-button email.
        Rule("tech-touch-low-touch", "tech_touch_email", due_in_days=3, cooldown_days=30,
             when=Conditions(segments=LOW_TOUCH_SEGMENTS, bands=frozenset({"normal", "bad"}))),
        # §1: Mogura gets the lowest priority: tech touch, unless the industry is a target.
        Rule("mogura-non-target", "tech_touch_email", due_in_days=7, cooldown_days=60,
             when=Conditions(stages=frozenset({"mogura"}), is_target=False,
                             segments_not=LOW_TOUCH_SEGMENTS)),
    ]
    for (stage, band), action in FLOW_CHART.items():
        target = True if stage == "mogura" else None
        rules.append(Rule(
            f"flow-{stage}-{band}", action, due_in_days=_DUE_BY_BAND[band], cooldown_days=30,
            when=Conditions(stages=frozenset({stage}), bands=frozenset({band}),
                            segments_not=LOW_TOUCH_SEGMENTS, is_target=target),
        ))
    return tuple(rules)


DEFAULT_PLAYBOOK_NAME = "default"
DEFAULT_RULES: tuple[Rule, ...] = _default_rules()
