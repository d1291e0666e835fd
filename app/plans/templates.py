"""Success-plan templates per segment, shipped as code: versioned and reviewed with the app.

A template starts a plan in one call. Quantitative goals link to a usage metric, so they track
themselves from the rollups; their target may scale with the account's licensed seats
(``target_per_seat``: 0.6 with 40 seats → a target of 24 weekly active users).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class StepTemplate:
    title: str
    due_in_days: int
    owner: str | None = None  # "csm" → the plan's owner; anything else is kept as written


@dataclass(frozen=True)
class GoalTemplate:
    title: str
    kind: str
    due_in_days: int
    priority: str = "medium"
    description: str | None = None
    metric: str | None = None
    unit: str | None = None
    metric_source: dict[str, Any] | None = None
    target: float | None = None
    #: Target = ceil(licensed seats × this) when the account has seats; else ``target``.
    target_per_seat: float | None = None
    success_criterion: str | None = None
    steps: tuple[StepTemplate, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class PlanTemplate:
    key: str
    name: str
    segment: str
    objective: str
    duration_days: int
    goals: tuple[GoalTemplate, ...]


_WAU = {"metric": "weekly_active_users"}
_MAU = {"metric": "monthly_active_users"}

TEMPLATES: tuple[PlanTemplate, ...] = (
    PlanTemplate(
        key="smb_onboarding",
        name="SMB onboarding (3 goals)",
        segment="smb",
        objective="Get the team live within 60 days and using the product every week.",
        duration_days=90,
        goals=(
            GoalTemplate(
                title="Team is active every week", kind="quantitative", due_in_days=60,
                priority="high", metric="Weekly active users", unit="users",
                metric_source=_WAU, target=5, target_per_seat=0.6,
                steps=(
                    StepTemplate("Kick-off call and admin setup", 7, "csm"),
                    StepTemplate("Invite every licensed user", 14, "customer"),
                    StepTemplate("30-day usage check-in", 30, "csm"),
                ),
            ),
            GoalTemplate(
                title="Regular use of the product", kind="quantitative", due_in_days=60,
                metric="Events in the last 30 days", unit="events",
                metric_source={"metric": "event_count_30d"}, target=300,
                steps=(StepTemplate("Share the getting-started guide", 10, "csm"),),
            ),
            GoalTemplate(
                title="First business result shared", kind="qualitative", due_in_days=90,
                priority="medium",
                success_criterion="The customer names one process that is faster than before.",
                steps=(StepTemplate("90-day review with the champion", 85, "csm"),),
            ),
        ),
    ),
    PlanTemplate(
        key="mid_market_adoption",
        name="Mid-market adoption",
        segment="mid_market",
        objective="Broad, habitual adoption across the departments that bought the product.",
        duration_days=180,
        goals=(
            GoalTemplate(
                title="Monthly active users across departments", kind="quantitative",
                due_in_days=120, priority="high", metric="Monthly active users", unit="users",
                metric_source=_MAU, target=25, target_per_seat=0.7,
                steps=(
                    StepTemplate("Deployment review with IT", 14, "csm"),
                    StepTemplate("End-user office hours", 45, "csm"),
                    StepTemplate("Adoption review: what the best users do differently", 90,
                                 "csm"),
                ),
            ),
            GoalTemplate(
                title="Weekly habit", kind="quantitative", due_in_days=120,
                metric="Weekly active users", unit="users", metric_source=_WAU, target=15,
                target_per_seat=0.5,
                steps=(StepTemplate("Usage campaign for inactive users", 60, "csm"),),
            ),
            GoalTemplate(
                title="Executive sponsor confirms value", kind="qualitative", due_in_days=180,
                success_criterion="The sponsor confirms the agreed outcomes in a business review.",
                steps=(StepTemplate("Business review with the sponsor", 170, "csm"),),
            ),
        ),
    ),
    PlanTemplate(
        key="enterprise_value_realisation",
        name="Enterprise value realisation",
        segment="enterprise",
        objective="Realise and document the business value agreed in the deal before renewal.",
        duration_days=365,
        goals=(
            GoalTemplate(
                title="Company-wide monthly adoption", kind="quantitative", due_in_days=240,
                priority="high", metric="Monthly active users", unit="users",
                metric_source=_MAU, target=150, target_per_seat=0.6,
                steps=(
                    StepTemplate("Rollout plan per business unit", 30, "csm"),
                    StepTemplate("Train the internal champions", 60, "csm"),
                    StepTemplate("Configuration optimisation review", 120, "csm"),
                ),
            ),
            GoalTemplate(
                title="Weekly active core users", kind="quantitative", due_in_days=240,
                metric="Weekly active users", unit="users", metric_source=_WAU, target=80,
                target_per_seat=0.35,
                steps=(StepTemplate("Refresher training for low-activity teams", 150, "csm"),),
            ),
            GoalTemplate(
                title="Agreed business outcome achieved", kind="qualitative", due_in_days=330,
                priority="high",
                success_criterion="The KPI agreed at signature is measured and reported by the "
                                  "customer.",
                steps=(
                    StepTemplate("Baseline the agreed KPI with the customer", 30, "customer"),
                    StepTemplate("Quarterly business review", 90, "csm"),
                    StepTemplate("Success story shared with stakeholders", 320, "csm"),
                ),
            ),
            GoalTemplate(
                title="Executive alignment", kind="qualitative", due_in_days=365,
                priority="medium",
                success_criterion="An executive sponsor attends two business reviews a year.",
            ),
        ),
    ),
)

_BY_KEY = {t.key: t for t in TEMPLATES}


def find_template(key: str) -> PlanTemplate | None:
    return _BY_KEY.get(key)


def template_for_segment(segment: str | None) -> PlanTemplate:
    """The template made for a segment (SMB onboarding when the segment is unknown)."""
    for template in TEMPLATES:
        if template.segment == segment:
            return template
    return TEMPLATES[0]
