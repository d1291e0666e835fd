"""Expansion opportunities: the upsell pipeline per account."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, Numeric, String, Text
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from app.db import JSONType, UTCDateTime, one_of, utcnow

OPPORTUNITY_KINDS = ("upsell_seats", "cross_sell", "upgrade_plan")


OPPORTUNITY_STAGES = ("identified", "qualified", "proposal", "committed", "won", "lost")


LOST_REASONS = ("budget", "timing", "no_need", "competitor", "product_fit", "other")


#: Where the opportunity came from: an expansion signal (``app.scoring.expansion``) or by hand.
OPPORTUNITY_SOURCES = ("manual", "seats_nearly_full", "usage_growth")


class Opportunity(SQLModel, table=True):
    """A chance to grow an existing account, with its amount, stage and expected close."""

    __tablename__ = "opportunity"
    __table_args__ = (
        CheckConstraint(one_of("kind", OPPORTUNITY_KINDS), name="kind"),
        CheckConstraint(one_of("stage", OPPORTUNITY_STAGES), name="stage"),
        CheckConstraint(one_of("source", OPPORTUNITY_SOURCES), name="source"),
        CheckConstraint(f"lost_reason IS NULL OR {one_of('lost_reason', LOST_REASONS)}", name="lost_reason"),
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
