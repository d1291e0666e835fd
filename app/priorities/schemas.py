"""Request and response bodies for the weekly action list, its feedback and the rule versions."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from app.types import DbId


class FactorPublic(BaseModel):
    factor: str
    raw: Any = Field(description="The value the points come from (score, months, motivation, …)")
    weight: float
    points: float


class Suppressed(BaseModel):
    reason: Literal["meeting_scheduled", "recent_touch"]
    on: dt.date


class Verdict(BaseModel):
    reason: str | None
    text: str | None
    interaction_id: DbId | None
    at: dt.datetime | None
    by: str | None


class ItemPublic(BaseModel):
    id: int
    account_id: str
    account_name: str
    owner: str | None
    rank: int | None
    total: float = Field(description="The sum of the factors' points")
    factors: list[FactorPublic]
    score: float | None
    band: str | None
    stage: str | None
    signals: list[str]
    suppressed: Suppressed | None
    status: Literal["open", "done", "not_actionable"]
    feedback: Verdict | None


class ListPublic(BaseModel):
    week: str
    as_of: dt.datetime = Field(description="Monday 00:00 in the team's time zone")
    computed_at: dt.datetime
    weights_version: int
    data: list[ItemPublic]
    suppressed: list[ItemPublic]
    next_cursor: str | None = None


class FeedbackIn(BaseModel):
    status: Literal["done", "not_actionable", "open"] = Field(description="`open` takes a verdict back")
    interaction_id: DbId | None = Field(default=None, description="With `done`: the interaction that did it")
    reason: Literal["talked_offline", "no_churn_risk", "waiting_on_customer", "other"] | None = None
    text: Annotated[str, Field(max_length=2000)] | None = None


class FactorFeedbackPublic(BaseModel):
    factor: str
    led: int = Field(description="Items where this factor gave the most points")
    rejected: int
    rejection_rate: float | None
    mean_points_rejected: float | None
    mean_points_done: float | None


class FeedbackReportPublic(BaseModel):
    from_week: str
    to_week: str
    lists: int
    items: int
    done: int
    rejected: int
    reasons: dict[str, int]
    factors: list[FactorFeedbackPublic]


class RulesPublic(BaseModel):
    kind: str
    version: int = Field(description="0: the built-in defaults (nothing saved yet)")
    config: dict[str, Any]
    author: str | None
    created_at: dt.datetime | None
    note: str | None


class RulesIn(BaseModel):
    config: dict[str, Any] = Field(description="Only the values to change; the rest keep defaults")
    note: Annotated[str, Field(max_length=1000)] | None = None
    expected_version: DbId | None = Field(default=None, description="409 if another version was saved")


class PreviewRowPublic(BaseModel):
    account_id: str
    account_name: str
    owner: str | None
    before_rank: int | None
    after_rank: int | None
    before_total: float | None
    after_total: float


class WeightsPreviewPublic(BaseModel):
    week: str
    config: dict[str, Any]
    data: list[PreviewRowPublic]


class WeightsPreviewIn(BaseModel):
    config: dict[str, Any]
