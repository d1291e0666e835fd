"""Expansion opportunities: the upsell pipeline per account.

An opportunity is a chance to grow an existing customer: more seats, another product
(cross-sell) or a bigger plan. It moves through stages from ``identified`` to ``won`` or ``lost``
(``app.scoring.expansion`` holds the stage rules and the win probabilities that weight the
pipeline). It carries a ``version`` that every change increments; the API's ETags are made from
it, so a stale write is refused (412) instead of silently overwriting a newer one.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, EmailStr, Field, StringConstraints

from app.types import Currency, ExternalId, Money, Name, OwnerPublic, Strict

Kind = Literal["upsell_seats", "cross_sell", "upgrade_plan"]


Stage = Literal["identified", "qualified", "proposal", "committed", "won", "lost"]


LostReason = Literal["budget", "timing", "no_need", "competitor", "product_fit", "other"]


Source = Literal["manual", "seats_nearly_full", "usage_growth"]


Title = Name


Notes = Annotated[str, StringConstraints(max_length=10_000)]


class OpportunityCreate(Strict):
    account_id: ExternalId = Field(description="The account's external id")
    title: Title | None = Field(default=None, description="Default: none (the kind is shown)")
    kind: Kind
    stage: Stage = "identified"
    amount: Money = Decimal(0)
    currency: Currency | None = Field(default=None, description="Default: the account's currency")
    expected_close_on: dt.date | None = None
    lost_reason: LostReason | None = None
    source: Source = Field(
        default="manual",
        description="An expansion signal active on the account (its facts are recorded), or manual",
    )
    owner: EmailStr | None = Field(default=None, description="Default: the account's owner")
    notes: Notes | None = None
    external_id: ExternalId | None = Field(
        default=None, description="Your id for it; a retry with the same id creates nothing"
    )


class OpportunityUpdate(Strict):
    """Fields to change; omitted fields stay, ``null`` clears a nullable field."""

    title: Title | None = None
    kind: Kind | None = None
    stage: Stage | None = None
    amount: Money | None = None
    currency: Currency | None = None
    expected_close_on: dt.date | None = None
    lost_reason: LostReason | None = None
    owner: EmailStr | None = None
    notes: Notes | None = None


class OpportunityPublic(BaseModel):
    id: int
    account_id: str
    account_name: str
    segment: str | None
    industry: str | None
    tier: int | None = Field(description="The account's industry tier (1 is the target tier)")
    title: str | None
    kind: Kind
    stage: Stage
    amount: Money
    currency: str
    probability: float = Field(description="The stage's win probability")
    weighted_amount: Money
    expected_close_on: dt.date | None
    closed_on: dt.date | None
    lost_reason: LostReason | None
    source: Source
    source_data: dict[str, Any]
    owner: OwnerPublic
    notes: str | None
    external_id: str | None
    created_by: str
    updated_by: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class Bucket(BaseModel):
    key: str = Field(description="The stage, or the tier (`1`–`4`, `none`), or `open`")
    currency: str
    count: int
    amount: Money
    weighted_amount: Money


class StageBucket(Bucket):
    probability: float = Field(description="The stage's win probability (the weight)")


class PipelinePublic(BaseModel):
    currencies: list[str]
    by_stage: list[StageBucket]
    by_tier: list[Bucket] = Field(description="Open opportunities by the account's industry tier")
    open: list[Bucket] = Field(description="All open opportunities, per currency")


class SuggestionPublic(BaseModel):
    account_id: str
    account_name: str
    owner: str | None
    segment: str | None
    tier: int | None
    signal: str = Field(description="The expansion signal (recorded as the source)")
    kind: Kind = Field(description="The kind of opportunity it suggests")
    amount: Money = Field(description="The suggested amount")
    currency: str
    data: dict[str, Any] = Field(description="The facts that fired the signal")
