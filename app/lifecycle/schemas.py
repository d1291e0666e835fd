"""Request and response bodies for account history, industry tiers, playbooks, tasks, stages and signals."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, EmailStr, Field, StringConstraints

from app.types import DbId, ExternalId, Strict, Text

Stage = Literal["success", "growth", "rescue", "mogura"]


Band = Literal["good", "normal", "bad"]


SegmentName = Literal["enterprise", "mid_market", "smb"]


SignalKind = Literal[
    "onboarding_checkpoint",
    "score_drop",
    "renewal_window",
    "no_meeting",
    "champion_quiet",
    "champion_left",
    "nps_detractor",
    "goals_unverified",
    "usage_collapse",
    "stale_data",
    "disagreement",
]


ActionKey = Literal[
    "deployment_review",
    "chair_side_session",
    "configuration_optimisation",
    "adoption_review",
    "end_user_office_hours",
    "feature_rollout",
    "refresher_training",
    "success_story_sharing",
    "usage_campaign",
    "tech_touch_email",
    "renewal_review",
]


TaskStatus = Literal["open", "done", "snoozed", "closed"]


Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]


RuleKey = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,99}$")]


PlaybookName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class ConditionsModel(Strict):
    stages: list[Stage] = Field(default_factory=list)
    bands: list[Band] = Field(default_factory=list)
    signals_any: list[SignalKind] = Field(default_factory=list)
    signals_all: list[SignalKind] = Field(default_factory=list)
    signals_none: list[SignalKind] = Field(default_factory=list)
    segments: list[SegmentName] = Field(default_factory=list)
    segments_not: list[SegmentName] = Field(default_factory=list)
    is_target: bool | None = None
    tiers: list[Annotated[int, Field(ge=1, le=4)]] = Field(default_factory=list)
    tenure_min_days: Annotated[int, Field(ge=0)] | None = None
    tenure_max_days: Annotated[int, Field(ge=0)] | None = None


class RuleModel(Strict):
    key: RuleKey
    action: ActionKey
    title: Title | None = None
    when: ConditionsModel = Field(default_factory=ConditionsModel)
    due_in_days: Annotated[int, Field(ge=0, le=365)] = 7
    assignee: Literal["owner", "user"] = "owner"
    assignee_user_id: DbId | None = None
    cooldown_days: Annotated[int, Field(ge=0, le=3650)] = 30


Rules = Annotated[list[RuleModel], Field(max_length=500)]


class PlaybookCreate(Strict):
    name: PlaybookName
    description: Text | None = None
    rules: Rules
    note: Text | None = None


class PlaybookPublish(Strict):
    """The next version's rules (they replace the current ones as a whole)."""

    rules: Rules
    description: Text | None = None
    note: Text | None = None


class PlaybookDocument(Strict):
    """The export/import form of a playbook."""

    name: PlaybookName
    description: Text | None = None
    version: DbId | None = Field(default=None, description="Ignored on import")
    rules: Rules


class PlaybookPublic(BaseModel):
    id: int
    name: str
    description: str | None
    is_active: bool
    version: int
    published_at: dt.datetime
    published_by: str
    note: str | None
    rules: list[dict[str, Any]]
    created_at: dt.datetime
    updated_at: dt.datetime


class PlaybookVersionPublic(BaseModel):
    version: int
    published_at: dt.datetime
    published_by: str
    note: str | None
    rules: int = Field(description="How many rules it has")


class PlaybookActive(Strict):
    is_active: bool


class ActionPublic(BaseModel):
    key: str
    name_en: str
    name_ja: str
    description: str


class TaskCreate(Strict):
    account_id: ExternalId
    title: Title | None = Field(default=None, description="Default: the action's name")
    action: ActionKey | None = None
    description: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    due_on: dt.date
    assignee: EmailStr | None = Field(default=None, description="Default: the account's owner")


class TaskComplete(Strict):
    interaction_id: DbId | None = Field(
        default=None, description="The interaction (of the same account) that did it"
    )


class TaskSnooze(Strict):
    until: dt.date


class TaskReassign(Strict):
    assignee: EmailStr


class TaskDismiss(Strict):
    reason: Text


class TaskPlaybook(BaseModel):
    id: int | None
    name: str | None
    version: int | None
    rule_key: str | None


class TaskPublic(BaseModel):
    id: int
    account_id: str
    account_name: str
    title: str
    action: str | None
    description: str | None
    due_on: dt.date
    assignee: str | None = Field(description="Email of the assigned user")
    status: TaskStatus
    snoozed_until: dt.date | None
    completed_at: dt.datetime | None
    interaction_id: int | None
    closed_at: dt.datetime | None
    close_reason: str | None
    closed_by: str | None
    playbook: TaskPlaybook | None
    basis: dict[str, Any]
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime


class IndicatorPublic(BaseModel):
    key: str = Field(description="star_user | champion | community")
    met: bool
    value: int | None
    threshold: int
    source: str


class StageChangePublic(BaseModel):
    previous: str | None
    stage: str
    changed_on: dt.date


class StagePublic(BaseModel):
    account_id: str
    stage: str | None = Field(description="success | growth | rescue | mogura; null until computed")
    since_on: dt.date | None
    computed_on: dt.date | None
    champion_motivation: int | None
    indicators: list[IndicatorPublic]
    history: list[StageChangePublic]


class StageRow(BaseModel):
    account_id: str
    name: str
    owner_id: DbId | None
    stage: str
    since_on: dt.date


class StageList(BaseModel):
    data: list[StageRow]
    next_cursor: str | None
    counts: dict[str, int] = Field(description="Active accounts per stage (for the owner, if given)")


class RunPublic(BaseModel):
    day: dt.date
    accounts: int
    stage_changes: int
    signals_fired: int
    signals_cleared: int
    tasks_created: int
    tasks_closed: int
    tasks_reopened: int


class ChampionRatingIn(BaseModel):
    rating: int = Field(ge=1, le=5, description="The champion's motivation, 1 (none) to 5 (driving it)")
    comment: Annotated[str, Field(max_length=5000)] | None = None


class ChampionRatingPublic(BaseModel):
    account_id: str
    rating: int
    comment: str | None
    author: str
    created_at: dt.datetime


class SignalPublic(BaseModel):
    id: int
    account_id: str
    account_name: str
    kind: str
    severity: str
    active: bool
    first_on: dt.date
    last_on: dt.date
    cleared_on: dt.date | None
    fired_data: dict[str, Any] = Field(description="The facts that fired it")
    data: dict[str, Any] = Field(description="The latest facts while it stays active")


class SignalList(BaseModel):
    data: list[SignalPublic]
    next_cursor: str | None
