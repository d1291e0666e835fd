"""Adoption summary of one account for one period, from plain per-period usage figures.

Adoption is judged by number of users, frequency of use and number of features used:

- **activation** = distinct active users in the period ÷ licensed seats (40 of 50 → 0.8);
- **frequency** = active user-days ÷ distinct active users (120 user-days by 40 users → 3.0
  active days per active user);
- **breadth** = key features used in the period ÷ key features in the catalog (3 of 4 → 0.75),
  with the unused key features named;
- **depth** per feature = its events per active user in the period (900 events, 40 users →
  22.5), and the days it was used.

Each comes with its value in the previous period (the change) and its trend over the last
``trend_periods`` periods, oldest first. Highlights are goals achieved in the period and records
(the period beats every earlier one in the trend); next steps come from the playbook catalog:
an unused key feature → its rollout session (``feature_rollout``), low activation → end-user
office hours, low frequency → a usage campaign, falling activation → an adoption review.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from app.scoring.plans import goal_progress


@dataclass(frozen=True)
class AdoptionConfig:
    #: Periods in a trend, the reported one last (6 months by default).
    trend_periods: int = 6
    #: Below this activation rate, suggest end-user office hours (0.49 → suggested, 0.50 → not).
    low_activation: float = 0.5
    #: Below this many active days per active user, suggest a usage campaign (1.9 → suggested).
    low_frequency: float = 2.0
    #: A drop in activation of at least this much vs the previous period suggests an adoption
    #: review (0.80 → 0.69 is a drop of 0.11 → suggested).
    activation_drop: float = 0.1


@dataclass(frozen=True)
class FeatureInfo:
    key: str
    name: str
    is_key: bool


@dataclass(frozen=True)
class PeriodUsage:
    """One period's figures: distinct users, user-days, and per feature its events and days."""

    start: dt.date
    end: dt.date
    active_users: int
    user_days: int
    feature_events: Mapping[str, int] = field(default_factory=dict)
    feature_days: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class GoalInfo:
    title: str
    status: str
    baseline: float | None = None
    target: float | None = None
    current: float | None = None
    unit: str | None = None
    achieved_on: dt.date | None = None


@dataclass(frozen=True)
class Metric:
    """A value, the previous period's, the change between them, and the trend (oldest first)."""

    value: float | None
    previous: float | None
    change: float | None
    trend: tuple[float | None, ...]


@dataclass(frozen=True)
class FeatureDepth:
    key: str
    name: str
    is_key: bool
    events: int
    days: int
    per_user: Metric


@dataclass(frozen=True)
class GoalProgress:
    title: str
    status: str
    progress: float | None  # 0..1 by plans.goal_progress; None: not achieved and no numbers
    current: float | None
    target: float | None
    unit: str | None


@dataclass(frozen=True)
class Highlight:
    kind: str  # "goal_achieved" | "record"
    subject: str  # the goal's title, or the metric's key
    value: float | None = None


@dataclass(frozen=True)
class NextStep:
    action: str  # a key of app.scoring.playbooks.ACTIONS
    reason: str  # "unused_feature" | "low_activation" | "low_frequency" | "activation_drop"
    feature: str | None = None


@dataclass(frozen=True)
class Certification:
    """Customer users certified by the end of the period, each at their best level (1 is the
    highest): 3 users at levels 1, 2, 2 of 50 seats → by level ((1, 1), (2, 2)), rate 0.06."""

    users: int
    by_level: tuple[tuple[int | None, int], ...]  # (level, users), best first; None: no level
    rate: float | None  # users ÷ licensed seats
    previous: int | None  # certified by the end of the previous period
    change: int | None


def certification(
    levels: Sequence[int | None], *, seats: int | None, previous: int | None = None
) -> Certification:
    """The certification line from each certified user's best level."""
    counts: dict[int | None, int] = {}
    for level in levels:
        counts[level] = counts.get(level, 0) + 1
    by_level = tuple(sorted(counts.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)))
    users = len(levels)
    return Certification(users, by_level, _ratio(users, seats), previous,
                         users - previous if previous is not None else None)


@dataclass(frozen=True)
class AdoptionReport:
    start: dt.date
    end: dt.date
    periods: tuple[tuple[dt.date, dt.date], ...]
    seats: int | None
    active_users: Metric
    activation: Metric
    frequency: Metric
    breadth: Metric
    key_features_used: tuple[str, ...]
    key_features_unused: tuple[str, ...]
    depth: tuple[FeatureDepth, ...]
    health_score: float | None
    health_band: str | None
    health_scale_max: float | None
    goals: tuple[GoalProgress, ...]
    highlights: tuple[Highlight, ...]
    next_steps: tuple[NextStep, ...]
    certification: Certification | None = None


def _ratio(num: float, den: float | None, digits: int = 4) -> float | None:
    if not den:
        return None
    return round(num / den, digits)


def _metric(series: Sequence[float | None], digits: int = 4) -> Metric:
    value = series[-1]
    previous = series[-2] if len(series) > 1 else None
    change = (round(value - previous, digits)
              if value is not None and previous is not None else None)
    return Metric(value, previous, change, tuple(series))


def goal_line(goal: GoalInfo) -> GoalProgress:
    """The goal's line in the report, its progress by ``plans.goal_progress`` (baseline 10,
    target 50, current 30 → 0.5)."""
    progress = goal_progress(status=goal.status, baseline=goal.baseline, target=goal.target,
                             current=goal.current)
    return GoalProgress(goal.title, goal.status,
                        round(progress, 4) if progress is not None else None,
                        goal.current, goal.target, goal.unit)


def _is_record(series: Sequence[float | None]) -> bool:
    """The last value beats every earlier known one, and some earlier one was above zero (a
    first month of use is a start, not a record)."""
    *earlier, last = series
    known = [v for v in earlier if v is not None]
    return last is not None and bool(known) and max(known) > 0 and last > max(known)


def assemble(
    periods: Sequence[PeriodUsage],
    *,
    seats: int | None,
    features: Sequence[FeatureInfo],
    goals: Sequence[GoalInfo] = (),
    health_score: float | None = None,
    health_band: str | None = None,
    health_scale_max: float | None = None,
    config: AdoptionConfig = AdoptionConfig(),
    certified: Certification | None = None,
) -> AdoptionReport:
    """The report for the last of ``periods`` (oldest first), trends over all of them."""
    if not periods:
        raise ValueError("at least one period is needed")
    periods = list(periods)[-config.trend_periods:]
    current = periods[-1]
    key_features = [f for f in features if f.is_key]

    users = [float(p.active_users) for p in periods]
    activation = [_ratio(p.active_users, seats) for p in periods]
    frequency = [_ratio(p.user_days, p.active_users, 2) for p in periods]
    breadth = [
        _ratio(sum(1 for f in key_features if p.feature_events.get(f.key, 0) > 0),
               len(key_features))
        for p in periods
    ]
    used = tuple(f.key for f in key_features if current.feature_events.get(f.key, 0) > 0)
    unused = tuple(f.key for f in key_features if current.feature_events.get(f.key, 0) <= 0)
    depth = tuple(
        FeatureDepth(
            f.key, f.name, f.is_key, current.feature_events.get(f.key, 0),
            current.feature_days.get(f.key, 0),
            _metric([_ratio(p.feature_events.get(f.key, 0), p.active_users, 2) for p in periods]),
        )
        for f in features
    )

    progress = tuple(goal_line(g) for g in goals)
    highlights = [
        Highlight("goal_achieved", g.title) for g in goals
        if g.achieved_on is not None and current.start <= g.achieved_on <= current.end
    ]
    for name, series in (("active_users", users), ("activation", activation),
                         ("frequency", frequency), ("breadth", breadth)):
        if _is_record(series):
            highlights.append(Highlight("record", name, series[-1]))

    steps = [NextStep("feature_rollout", "unused_feature", key) for key in unused]
    act, freq = _metric(activation), _metric(frequency)
    if act.value is not None and act.value < config.low_activation:
        steps.append(NextStep("end_user_office_hours", "low_activation"))
    if freq.value is not None and freq.value < config.low_frequency:
        steps.append(NextStep("usage_campaign", "low_frequency"))
    if act.change is not None and act.change <= -config.activation_drop:
        steps.append(NextStep("adoption_review", "activation_drop"))

    return AdoptionReport(
        start=current.start, end=current.end,
        periods=tuple((p.start, p.end) for p in periods),
        seats=seats,
        active_users=_metric(users), activation=act, frequency=freq, breadth=_metric(breadth),
        key_features_used=used, key_features_unused=unused, depth=depth,
        health_score=health_score, health_band=health_band, health_scale_max=health_scale_max,
        goals=progress, highlights=tuple(highlights), next_steps=tuple(steps),
        certification=certified,
    )


def previous_periods(start: dt.date, end: dt.date, count: int) -> list[tuple[dt.date, dt.date]]:
    """``count`` periods ending with ``start … end``, oldest first: whole calendar months when
    the range is one (Nov 1–30 → Jun … Nov), otherwise back-to-back ranges of the same length."""
    if start.day == 1 and (end + dt.timedelta(days=1)).day == 1 and start.replace(day=28) <= end:
        months = (end.year - start.year) * 12 + end.month - start.month + 1
        out = []
        for i in range(count):
            back = months * (count - 1 - i)
            first = _add_months(start, -back)
            last = _add_months(first, months) - dt.timedelta(days=1)
            out.append((first, last))
        return out
    length = (end - start).days + 1
    return [
        (start - dt.timedelta(days=length * (count - 1 - i)),
         end - dt.timedelta(days=length * (count - 1 - i)))
        for i in range(count)
    ]


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def month_of(day: dt.date) -> tuple[dt.date, dt.date]:
    """The calendar month holding ``day`` (2026-11-23 → Nov 1 … Nov 30)."""
    first = day.replace(day=1)
    return first, _add_months(first, 1) - dt.timedelta(days=1)
