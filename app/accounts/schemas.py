"""Request and response bodies of the JSON API (the public contract in DESIGN.md).

An account's public ``id`` is its external id; database ids never leave the server for accounts.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, EmailStr, Field, StringConstraints

from app.types import (
    AccountStatus,
    ContactStatus,
    Count,
    Currency,
    ExternalId,
    JobTitle,
    JsonObject,
    Money,
    Name,
    NewAccountId,
    NoNul,
    Owner,
    OwnerPublic,
    PersonName,
    Segment,
    Strict,
    Text,
)

#: Free text stored in a column of ``max_length`` characters.
Label100 = Annotated[str, StringConstraints(max_length=100), NoNul]

#: The statuses a request sets on an account (it becomes ``deleted`` only by being deleted).
SettableStatus = Literal["active", "churned"]

#: An industry tier, 1 to 4 (an override, the target tier).
Tier = Annotated[int, Field(ge=1, le=4)]


class AccountCreate(Strict):
    id: Annotated[ExternalId, NewAccountId] = Field(
        description="External id (the Segment groupId); unique; no `/`"
    )
    name: Name
    industry: Label100 | None = None
    segment: Segment | None = None
    plan: Label100 | None = None
    licensed_seats: Count | None = None
    arr: Money = Decimal(0)
    currency: Currency = "JPY"
    contract_start_on: dt.date | None = None
    renewal_on: dt.date | None = None
    status: SettableStatus = "active"
    churned_on: dt.date | None = None
    owner: Owner = None
    traits: JsonObject = Field(default_factory=dict)


class AccountUpdate(Strict):
    """Fields to change; omitted fields stay as they are, ``null`` clears a nullable field."""

    name: Name | None = None
    industry: Label100 | None = None
    segment: Segment | None = None
    plan: Label100 | None = None
    licensed_seats: Count | None = None
    arr: Money | None = None
    currency: Currency | None = None
    contract_start_on: dt.date | None = None
    renewal_on: dt.date | None = None
    status: SettableStatus | None = None
    churned_on: dt.date | None = None
    owner: EmailStr | None = None
    traits: JsonObject | None = None


class AccountPublic(BaseModel):
    id: str
    name: str
    industry: str | None
    segment: str | None
    plan: str | None
    licensed_seats: int | None
    arr: Money
    currency: str
    contract_start_on: dt.date | None
    renewal_on: dt.date | None
    status: AccountStatus
    churned_on: dt.date | None
    owner: OwnerPublic
    traits: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


class ContactCreate(Strict):
    external_id: ExternalId | None = Field(
        default=None, description="The product's user id (Segment userId); unique"
    )
    email: EmailStr | None = None
    name: PersonName | None = None
    title: JobTitle | None = None
    is_champion: bool = False
    is_decision_maker: bool = False
    is_star_user: bool = False
    traits: JsonObject = Field(default_factory=dict)


class ContactUpdate(Strict):
    external_id: ExternalId | None = None
    email: EmailStr | None = None
    name: PersonName | None = None
    title: JobTitle | None = None
    is_champion: bool | None = None
    is_decision_maker: bool | None = None
    is_star_user: bool | None = None
    status: ContactStatus | None = None
    traits: JsonObject | None = None


class ContactPublic(BaseModel):
    id: int
    account_id: str
    external_id: str | None
    email: str | None
    name: str | None
    title: str | None
    is_champion: bool
    is_decision_maker: bool
    is_star_user: bool
    status: ContactStatus
    traits: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


HistoryKind = Literal["contract_start", "renewal", "churn", "arr_change"]


class HistoryEventIn(Strict):
    kind: HistoryKind
    occurred_on: dt.date
    arr_before: Money | None = Field(default=None, description="ARR before the event")
    arr_after: Money | None = Field(default=None, description="ARR after it (a churn is always 0)")
    note: Text | None = None


class HistoryBatchItem(HistoryEventIn):
    account_id: ExternalId


class HistoryBatchIn(Strict):
    data: Annotated[list[HistoryBatchItem], Field(min_length=1, max_length=1000)]


class HistoryEventPublic(BaseModel):
    id: int
    account_id: str
    kind: HistoryKind
    occurred_on: dt.date
    arr_before: Money | None
    arr_after: Money | None
    note: str | None
    source: str
    actor: str
    recorded_at: dt.datetime


class HistoryBatchPublic(BaseModel):
    data: list[HistoryEventPublic]


class OverridePublic(BaseModel):
    tier: int
    reason: str
    set_by: str
    set_at: dt.datetime


class IndustryPublic(BaseModel):
    name: str
    tier: int | None = Field(description="The tier in use: the override's, else the computed one")
    is_target: bool
    status: Literal["tiered", "insufficient_data", "override"]
    computed_tier: int | None
    renewal_rate: float | None
    expansion_rate: float | None
    renewals_due: int
    renewed: int
    churned: int
    arr_base: float = Field(description="Renewed accounts' ARR at the start of the ended terms")
    arr_renewed: float = Field(description="Their ARR after renewal")
    explanation: str
    window_from: dt.date | None
    window_to: dt.date | None
    override: OverridePublic | None


class IndustryList(BaseModel):
    data: list[IndustryPublic]
    config: TierConfigModel


class OverrideIn(Strict):
    tier: Tier
    reason: Text


class TierCutModel(Strict):
    tier: Annotated[int, Field(ge=1, le=3)]
    min_renewal_rate: Annotated[float, Field(ge=0, le=1)]
    min_expansion_rate: Annotated[float, Field(ge=-1, le=100)] | None = None


class TierConfigModel(Strict):
    lookback_months: Annotated[int, Field(ge=1, le=120)] = 24
    min_renewals_due: Annotated[int, Field(ge=1, le=100_000)] = 10
    cuts: Annotated[list[TierCutModel], Field(min_length=3, max_length=3)]
    target_tier: Tier = 1


IndustryList.model_rebuild()
