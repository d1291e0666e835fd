"""Request and response bodies for success plans, goals, steps, their history and templates."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, EmailStr, Field, StringConstraints

from app.types import DbId, Name, NoNul, Owner, Strict

PlanStatus = Literal["draft", "active", "completed", "archived"]
GoalKind = Literal["quantitative", "qualitative"]
GoalStatus = Literal["not_started", "on_track", "at_risk", "achieved", "dropped"]
Priority = Literal["high", "medium", "low"]
MetricName = Literal["weekly_active_users", "monthly_active_users", "event_count_30d", "feature_events_30d"]

# Each field's type and limits as a request gives them, written once for the create and the
# update body (an update makes every field optional); the public bodies show what is stored.
#: A plan's, a goal's or a step's title.
Title = Name
#: A plan's objective; a goal's description and success criterion.
LongText = Annotated[str, StringConstraints(max_length=10_000), NoNul]
#: What a goal measures, in words.
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NoNul]
#: A goal's unit.
Unit = Annotated[str, StringConstraints(strip_whitespace=True, max_length=50), NoNul]
#: A goal's baseline, target and current value.
Number = Annotated[float, Field(allow_inf_nan=False)]
#: A goal's or a step's place in its list.
Position = Annotated[int, Field(ge=0, le=10_000)]
#: Who does a step: a user's email, a contact's name, "customer"... (free text).
StepOwner = Annotated[str, StringConstraints(strip_whitespace=True, max_length=320)]


class MetricSource(Strict):
    """The usage measure a quantitative goal tracks; ``feature`` only for ``feature_events_30d``."""

    metric: MetricName
    feature: Annotated[str, StringConstraints(max_length=100)] | None = None


class PlanCreate(Strict):
    title: Title
    objective: LongText | None = None
    status: PlanStatus = "draft"
    owner: Owner = None
    customer_owner_id: DbId | None = Field(default=None, description="A contact of the account")
    start_on: dt.date | None = None
    target_on: dt.date | None = None


class PlanUpdate(Strict):
    """Fields to change; omitted fields stay, ``null`` clears a nullable field."""

    title: Title | None = None
    objective: LongText | None = None
    status: PlanStatus | None = None
    owner: EmailStr | None = None
    customer_owner_id: DbId | None = None
    start_on: dt.date | None = None
    target_on: dt.date | None = None


class GoalCreate(Strict):
    title: Title
    description: LongText | None = None
    kind: GoalKind
    status: GoalStatus = "not_started"
    priority: Priority = "medium"
    position: Position | None = None
    metric: Short | None = Field(default=None, description="What is measured, in words")
    unit: Unit | None = None
    baseline: Number | None = None
    target: Number | None = None
    current_value: Number | None = None
    metric_source: MetricSource | None = Field(
        default=None, description="Track current_value daily from this usage measure"
    )
    success_criterion: LongText | None = None
    due_on: dt.date | None = None


class GoalUpdate(Strict):
    title: Title | None = None
    description: LongText | None = None
    kind: GoalKind | None = None
    status: GoalStatus | None = None
    priority: Priority | None = None
    position: Position | None = None
    metric: Short | None = None
    unit: Unit | None = None
    baseline: Number | None = None
    target: Number | None = None
    current_value: Number | None = None
    metric_source: MetricSource | None = None
    success_criterion: LongText | None = None
    due_on: dt.date | None = None


class GoalVerify(Strict):
    """Re-validated with the customer: optionally a new status at the same time."""

    status: GoalStatus | None = None


class StepCreate(Strict):
    title: Title
    due_on: dt.date | None = None
    owner: StepOwner | None = None
    done: bool = False
    position: Position | None = None


class StepUpdate(Strict):
    title: Title | None = None
    due_on: dt.date | None = None
    owner: StepOwner | None = None
    done: bool | None = None
    position: Position | None = None


class FromTemplate(Strict):
    template: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    title: Title | None = None
    start_on: dt.date | None = Field(default=None, description="Default: today")


class PlanPublic(BaseModel):
    id: int
    account_id: str
    title: str
    objective: str | None
    status: PlanStatus
    owner: str | None
    customer_owner_id: int | None
    start_on: dt.date | None
    target_on: dt.date | None
    template: str | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class GoalPublic(BaseModel):
    id: int
    plan_id: int
    account_id: str
    title: str
    description: str | None
    kind: GoalKind
    status: GoalStatus
    priority: Priority
    position: int
    metric: str | None
    unit: str | None
    baseline: float | None
    target: float | None
    current_value: float | None
    metric_source: dict[str, Any] | None
    success_criterion: str | None
    due_on: dt.date | None
    achieved_at: dt.datetime | None
    last_verified_at: dt.datetime | None
    last_verified_by: str | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class StepPublic(BaseModel):
    id: int
    goal_id: int
    plan_id: int
    title: str
    due_on: dt.date | None
    owner: str | None
    done: bool
    done_at: dt.datetime | None
    position: int
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class PlanDetail(PlanPublic):
    """A plan with its goals and their steps (the ETag still covers the plan's own fields)."""

    goals: list[GoalWithSteps]


class GoalWithSteps(GoalPublic):
    steps: list[StepPublic]


class AuditEntry(BaseModel):
    id: int
    entity_type: Literal["plan", "goal", "step"]
    entity_id: int
    plan_id: int
    actor: str
    at: dt.datetime
    action: Literal["create", "update", "delete", "verify", "auto"]
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class ProgressPoint(BaseModel):
    day: dt.date
    value: float


class TemplateStep(BaseModel):
    title: str
    due_in_days: int
    owner: str | None


class TemplateGoal(BaseModel):
    title: str
    kind: GoalKind
    priority: Priority
    due_in_days: int
    metric: str | None
    unit: str | None
    metric_source: dict[str, Any] | None
    target: float | None
    target_per_seat: float | None
    success_criterion: str | None
    steps: list[TemplateStep]


class TemplatePublic(BaseModel):
    key: str
    name: str
    segment: str
    objective: str
    duration_days: int
    goals: list[TemplateGoal]


PlanDetail.model_rebuild()
