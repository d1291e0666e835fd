"""Action priority points (対応ポイント, domain.md §5): why an account is on this week's list.

Points are a sum of weighted factors, then two multipliers:

    subtotal = health deficit + meeting gap + weak relationship + onboarding
               + unanswered outreach + renewal window + active signals
    total    = subtotal × target multiplier (target industry) × dampener (Mogura, not target)

* health deficit = ``health_deficit`` × (scale max − score) / scale max — the heaviest factor;
  40 × (100 − 30) / 100 = 28 points for a score of 30 of 100; no score counts as half the scale;
* meeting gap = ``per_meeting_month`` × months since the last meeting, at most ``meeting_cap_months``
  (never met: the cap);
* weak relationship = ``weak_relationship`` × (5 − champion motivation) / 4 (no champion: all of it);
* onboarding = ``onboarding`` while the contract is younger than ``onboarding_days``;
* unanswered outreach = ``unanswered_outreach`` when our last outreach, at least
  ``outreach_grace_days`` old, got no answer;
* renewal window = ``renewal_window`` while the renewal is 3–6 months away;
* active signals = ``per_signal`` × each other active signal, at most ``signals_cap`` of them.

The multipliers appear as rows of their own (their points are what they add or take away), so the
rows of a breakdown always add up to the total. **Suppression** takes an account off the list: a
meeting already scheduled in the next 14 days, or a touch in the last 7 days.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from app.scoring.tuning import numbers_from_json

FACTORS = (
    "health_deficit", "meeting_gap", "weak_relationship", "onboarding", "unanswered_outreach",
    "renewal_window", "signals", "target_multiplier", "mogura_dampener",
)
#: Signals with a factor of their own, not counted again among "active signals".
OWN_FACTOR_SIGNALS = frozenset({"renewal_window", "no_meeting"})
DAYS_PER_MONTH = 30.44


@dataclass(frozen=True)
class PriorityWeights:
    """The weights and rules of the priority points, with the domain's defaults."""

    health_deficit: float = 40.0
    missing_score_deficit: float = 0.5  # no score yet: as if at half the scale
    per_meeting_month: float = 5.0
    meeting_cap_months: float = 6.0  # 8 months without a meeting → 6 × 5 = 30 points
    weak_relationship: float = 12.0
    onboarding: float = 15.0
    onboarding_days: int = 90  # the first 3 months of the contract
    unanswered_outreach: float = 10.0
    outreach_grace_days: int = 7  # an email of 3 days ago has not been ignored yet
    renewal_window: float = 10.0
    per_signal: float = 4.0
    signals_cap: int = 5
    target_multiplier: float = 1.5  # a target-industry account: 40 points → 60
    mogura_dampener: float = 0.5  # Mogura and not target: 40 points → 20
    suppress_meeting_days: int = 14  # a meeting booked within 14 days: nothing to do now
    suppress_touch_days: int = 7  # touched in the last 7 days: leave it this week
    top_n: int = 10  # rows per CSM on the weekly list

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PriorityWeights:
        """Weights from their JSON form (missing keys keep defaults); bad values raise ValueError."""
        weights = numbers_from_json(cls(), data, what="priority weight(s)")
        if weights.missing_score_deficit > 1:
            raise ValueError("missing_score_deficit must be between 0 and 1")
        if weights.top_n < 1:
            raise ValueError("top_n must be at least 1")
        return weights


@dataclass(frozen=True)
class PriorityInputs:
    """Facts about one account as of the list's Monday."""

    account_id: int
    owner_id: int | None
    score: float | None = None
    scale_max: float = 100.0
    last_meeting_on: dt.date | None = None
    champion_motivation: int | None = None  # 1–5; None: no champion
    tenure_days: int | None = None
    outreach_unanswered_days: int | None = None  # age of our last unanswered outreach
    days_to_renewal: int | None = None
    renewal_window: bool = False
    signals: tuple[str, ...] = ()
    is_target: bool = False
    stage: str | None = None
    next_meeting_on: dt.date | None = None  # the next scheduled meeting
    last_touch_on: dt.date | None = None  # the last meeting, call or training


@dataclass(frozen=True)
class Factor:
    key: str
    raw: Any  # the value it was computed from, as shown to people
    weight: float
    points: float

    def to_json(self) -> dict[str, Any]:
        return {"factor": self.key, "raw": self.raw, "weight": self.weight, "points": self.points}


@dataclass(frozen=True)
class Suppression:
    reason: str  # "meeting_scheduled" | "recent_touch"
    on: dt.date


@dataclass(frozen=True)
class Priority:
    account_id: int
    owner_id: int | None
    total: float
    factors: tuple[Factor, ...]
    suppressed: Suppression | None


def _months(days: int) -> float:
    return round(days / DAYS_PER_MONTH, 1)


def score_priority(
    inputs: PriorityInputs, as_of: dt.date, weights: PriorityWeights = PriorityWeights()
) -> Priority:
    """The account's priority points with one breakdown row per factor, adding up to the total."""
    w = weights
    rows: list[Factor] = []

    if inputs.score is None or inputs.scale_max <= 0:
        deficit, raw_score = w.missing_score_deficit, None
    else:
        deficit = min(1.0, max(0.0, (inputs.scale_max - inputs.score) / inputs.scale_max))
        raw_score = inputs.score
    rows.append(Factor("health_deficit", raw_score, w.health_deficit, w.health_deficit * deficit))

    if inputs.last_meeting_on is None:
        rows.append(Factor("meeting_gap", None, w.per_meeting_month,
                           w.per_meeting_month * w.meeting_cap_months))
    else:
        months = _months((as_of - inputs.last_meeting_on).days)
        rows.append(Factor("meeting_gap", months, w.per_meeting_month,
                           w.per_meeting_month * min(max(months, 0.0), w.meeting_cap_months)))

    motivation = inputs.champion_motivation
    weakness = 1.0 if motivation is None else (5 - min(max(motivation, 1), 5)) / 4
    rows.append(Factor("weak_relationship", motivation, w.weak_relationship,
                       w.weak_relationship * weakness))

    onboarding = inputs.tenure_days is not None and 0 <= inputs.tenure_days < w.onboarding_days
    rows.append(Factor("onboarding", inputs.tenure_days, w.onboarding,
                       w.onboarding if onboarding else 0.0))

    ignored = (inputs.outreach_unanswered_days is not None
               and inputs.outreach_unanswered_days >= w.outreach_grace_days)
    rows.append(Factor("unanswered_outreach", inputs.outreach_unanswered_days, w.unanswered_outreach,
                       w.unanswered_outreach if ignored else 0.0))

    rows.append(Factor("renewal_window", inputs.days_to_renewal, w.renewal_window,
                       w.renewal_window if inputs.renewal_window else 0.0))

    counted = sorted(s for s in set(inputs.signals) if s not in OWN_FACTOR_SIGNALS)
    rows.append(Factor("signals", counted, w.per_signal,
                       w.per_signal * min(len(counted), w.signals_cap)))

    rows = [replace(r, points=round(r.points, 2)) for r in rows]
    subtotal = sum(r.points for r in rows)
    if inputs.is_target:
        rows.append(Factor("target_multiplier", True, w.target_multiplier,
                           round(subtotal * (w.target_multiplier - 1), 2)))
    elif inputs.stage == "mogura":
        rows.append(Factor("mogura_dampener", "mogura", w.mogura_dampener,
                           round(subtotal * (w.mogura_dampener - 1), 2)))
    total = round(sum(r.points for r in rows), 2)
    return Priority(inputs.account_id, inputs.owner_id, total, tuple(rows),
                    suppression(inputs, as_of, w))


def suppression(
    inputs: PriorityInputs, as_of: dt.date, weights: PriorityWeights = PriorityWeights()
) -> Suppression | None:
    """Why the account needs nothing this week: a meeting booked soon, or a recent touch."""
    if inputs.next_meeting_on is not None:
        ahead = (inputs.next_meeting_on - as_of).days
        if 0 <= ahead <= weights.suppress_meeting_days:
            return Suppression("meeting_scheduled", inputs.next_meeting_on)
    if inputs.last_touch_on is not None:
        ago = (as_of - inputs.last_touch_on).days
        if 0 <= ago <= weights.suppress_touch_days:
            return Suppression("recent_touch", inputs.last_touch_on)
    return None


@dataclass(frozen=True)
class Ranked:
    priority: Priority
    rank: int | None  # 1 … top N within the owner's list; None when suppressed or beyond N


def rank(priorities: Iterable[Priority], weights: PriorityWeights = PriorityWeights()) -> list[Ranked]:
    """Every account ranked within its owner's list (highest points first, ties by account id)."""
    by_owner: dict[int | None, list[Priority]] = defaultdict(list)
    for p in priorities:
        by_owner[p.owner_id].append(p)
    out: list[Ranked] = []
    for owner in sorted(by_owner, key=lambda o: (o is None, o or 0)):
        rows = sorted(by_owner[owner], key=lambda p: (-p.total, p.account_id))
        position = 0
        for p in rows:
            if p.suppressed is None and position < weights.top_n:
                position += 1
                out.append(Ranked(p, position))
            else:
                out.append(Ranked(p, None))
    return out


# -- feedback -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedbackItem:
    """A past list item with the CSM's verdict: "done" or "not_actionable" (others are ignored)."""

    status: str
    factors: Sequence[tuple[str, float]]  # (factor, points)
    reason: str | None = None


@dataclass(frozen=True)
class FactorFeedback:
    factor: str
    led: int  # items where this factor gave the most points
    rejected: int  # … of which the CSM said "not actionable"
    rejection_rate: float | None
    mean_points_rejected: float | None
    mean_points_done: float | None


@dataclass(frozen=True)
class FeedbackReport:
    items: int
    done: int
    rejected: int
    reasons: dict[str, int]
    factors: tuple[FactorFeedback, ...]


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def feedback_report(items: Iterable[FeedbackItem]) -> FeedbackReport:
    """Per factor: how often the items it drove were rejected, and its points when rejected vs done.

    A factor that leads many rejected items weighs too much: e.g. 8 of 10 items led by the meeting
    gap were "not actionable" (rejection rate 0.8) → lower ``per_meeting_month``.
    """
    judged = [i for i in items if i.status in ("done", "not_actionable")]
    reasons: dict[str, int] = defaultdict(int)
    led: dict[str, list[bool]] = defaultdict(list)
    points: dict[tuple[str, bool], list[float]] = defaultdict(list)
    for item in judged:
        rejected = item.status == "not_actionable"
        if rejected:
            reasons[item.reason or "other"] += 1
        positive = [(k, p) for k, p in item.factors if p > 0]
        if positive:
            top = max(positive, key=lambda kp: (kp[1], -FACTORS.index(kp[0]) if kp[0] in FACTORS else 0))
            led[top[0]].append(rejected)
        for key, p in item.factors:
            points[(key, rejected)].append(p)
    rows = []
    for key in FACTORS:
        verdicts = led.get(key, [])
        rows.append(FactorFeedback(
            key, len(verdicts), sum(verdicts),
            round(sum(verdicts) / len(verdicts), 2) if verdicts else None,
            _mean(points.get((key, True), [])), _mean(points.get((key, False), [])),
        ))
    rejected_total = sum(1 for i in judged if i.status == "not_actionable")
    return FeedbackReport(len(judged), len(judged) - rejected_total, rejected_total,
                          dict(sorted(reasons.items())), tuple(rows))
