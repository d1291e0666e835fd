"""Request and response bodies for usage: pushed daily aggregates, daily rollups and features."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, ValidationInfo, field_validator

from app.types import ExternalId, Strict

#: Largest count a 32-bit integer column holds.
MAX_COUNT = 2_147_483_647

Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]


class DailyAggregateIn(Strict):
    """One event's totals for an account and day."""

    account_id: ExternalId = Field(description="The account's external id")
    day: dt.date
    event: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    count: Count = Field(description="How many times the event happened that day")
    distinct_users: Count = Field(description="How many different users did it that day")
    active_users: Count | None = Field(
        default=None, description="Distinct active users of the account that day (any event)"
    )

    @field_validator("distinct_users")
    @classmethod
    def _not_more_users_than_events(cls, value: int, info: ValidationInfo) -> int:
        count = info.data.get("count")
        if count is not None and value > count:
            raise ValueError("must not exceed count (each user did the event at least once)")
        return value


#: Rows per request; larger pushes are split (or sent as CSV through `bansou import usage`).
MAX_ROWS = 10_000


class UsageAggregatesIn(Strict):
    data: list[DailyAggregateIn] = Field(min_length=1, max_length=MAX_ROWS)


class UsageAggregatesResult(BaseModel):
    rows: int = Field(description="Rows received")
    created: int = Field(description="(account, day, event) keys stored for the first time")
    replaced: int = Field(description="Keys whose earlier values were replaced")
    account_days: int = Field(description="(account, day) totals recomputed")


class UsageDayPublic(BaseModel):
    day: dt.date
    active_users: int
    event_count: int
    events: dict[str, int]
    distinct_users: dict[str, int]


class AccountUsagePublic(BaseModel):
    account_id: str
    start: dt.date
    end: dt.date
    last_event_at: dt.datetime | None
    data: list[UsageDayPublic]


Pattern = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
# A feature's fields as a request gives them, once for its create and update bodies.
FeatureName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
FeaturePatterns = Annotated[list[Pattern], Field(min_length=1, max_length=200)]
FeatureDescription = Annotated[str, StringConstraints(max_length=1000)]


class FeatureCreate(BaseModel):
    key: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,99}$")]
    name: FeatureName
    patterns: FeaturePatterns = Field(description="Event names, or shell-style patterns such as `report.*`")
    is_key: bool = False
    description: FeatureDescription | None = None


class FeatureUpdate(BaseModel):
    name: FeatureName | None = None
    patterns: FeaturePatterns | None = None
    is_key: bool | None = None
    description: FeatureDescription | None = None


class FeaturePublic(BaseModel):
    key: str
    name: str
    patterns: list[str]
    is_key: bool
    description: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class FeatureUsagePublic(BaseModel):
    key: str | None = Field(description="null for events mapped to no feature")
    name: str
    is_key: bool
    used: bool
    event_count: int
    active_days: int
    max_daily_users: int
    events: dict[str, int]


class AccountFeaturesPublic(BaseModel):
    account_id: str
    start: dt.date
    end: dt.date
    key_features_used: int
    key_features_total: int
    data: list[FeatureUsagePublic]
