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

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints
from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, Numeric, String, Text
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from app.db import JSONType, UTCDateTime, utcnow
from app.schemas import Currency, ExternalId, Money, Name

__all__ = [
    "LOST_REASONS",
    "OPPORTUNITY_KINDS",
    "OPPORTUNITY_SOURCES",
    "OPPORTUNITY_STAGES",
    "Opportunity",
]

OPPORTUNITY_KINDS = ("upsell_seats", "cross_sell", "upgrade_plan")
OPPORTUNITY_STAGES = ("identified", "qualified", "proposal", "committed", "won", "lost")
LOST_REASONS = ("budget", "timing", "no_need", "competitor", "product_fit", "other")
#: Where the opportunity came from: an expansion signal (``app.scoring.expansion``) or by hand.
OPPORTUNITY_SOURCES = ("manual", "seats_nearly_full", "usage_growth")

Kind = Literal["upsell_seats", "cross_sell", "upgrade_plan"]
Stage = Literal["identified", "qualified", "proposal", "committed", "won", "lost"]
LostReason = Literal["budget", "timing", "no_need", "competitor", "product_fit", "other"]
Source = Literal["manual", "seats_nearly_full", "usage_growth"]


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Opportunity(SQLModel, table=True):
    """A chance to grow an existing account, with its amount, stage and expected close."""

    __tablename__ = "opportunity"
    __table_args__ = (
        CheckConstraint(_in("kind", OPPORTUNITY_KINDS), name="kind"),
        CheckConstraint(_in("stage", OPPORTUNITY_STAGES), name="stage"),
        CheckConstraint(_in("source", OPPORTUNITY_SOURCES), name="source"),
        CheckConstraint(f"lost_reason IS NULL OR {_in('lost_reason', LOST_REASONS)}", name="lost_reason"),
        CheckConstraint("amount >= 0", name="amount"),
        Index("ix_opportunity_account", "account_id", "id"),
        # The pipeline groups by stage; the list filters by stage and pages by id.
        Index("ix_opportunity_stage", "stage", "id"),
    )

    id: int | None = SQLField(default=None, primary_key=True)
    account_id: int = SQLField(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False)
    )
    #: None shows the kind's name (in the reader's language).
    title: str | None = SQLField(default=None, sa_column=Column(String(255)))
    kind: str = SQLField(sa_column=Column(String(16), nullable=False))
    stage: str = SQLField(default="identified", sa_column=Column(String(16), nullable=False))
    amount: Decimal = SQLField(default=Decimal(0), sa_column=Column(Numeric(18, 2), nullable=False))
    currency: str = SQLField(default="JPY", sa_column=Column(String(3), nullable=False))
    expected_close_on: dt.date | None = SQLField(default=None)
    #: The day it was won or lost (None while open).
    closed_on: dt.date | None = SQLField(default=None)
    lost_reason: str | None = SQLField(default=None, sa_column=Column(String(16)))
    source: str = SQLField(default="manual", sa_column=Column(String(32), nullable=False))
    #: The signal's facts when the opportunity was created from it (seats, users, ...).
    source_data: dict[str, Any] = SQLField(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    owner_id: int | None = SQLField(
        default=None,
        sa_column=Column(Integer, ForeignKey("user.id", ondelete="SET NULL"), index=True),
    )
    notes: str | None = SQLField(default=None, sa_column=Column(Text))
    #: The caller's id for it (or its Idempotency-Key): a retry with the same id is not a new one.
    external_id: str | None = SQLField(default=None, sa_column=Column(String(255), unique=True))
    request_hash: str | None = SQLField(default=None, sa_column=Column(String(64)))
    created_by: str = SQLField(default="system", sa_column=Column(String(320), nullable=False))
    #: Who made the latest change (a user's email or an API key's name).
    updated_by: str = SQLField(default="system", sa_column=Column(String(320), nullable=False))
    version: int = SQLField(default=1, nullable=False)
    created_at: dt.datetime = SQLField(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: dt.datetime = SQLField(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


# -- request and response bodies ----------------------------------------------------------------

Title = Name
Notes = Annotated[str, StringConstraints(max_length=10_000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpportunityCreate(_Strict):
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


class OpportunityUpdate(_Strict):
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
    owner: str | None = Field(description="Email of the owning CSM")
    notes: str | None
    external_id: str | None
    created_by: str
    updated_by: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
