"""Weekly priority lists and their items (with the CSM's feedback)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CheckConstraint, Column, Float, ForeignKey, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from app.db import JSONType, UTCDateTime, one_of
from app.models.accounts import account_fk

ITEM_STATUSES = ("open", "done", "not_actionable")


REJECT_REASONS = ("talked_offline", "no_churn_risk", "waiting_on_customer", "other")


class PriorityList(SQLModel, table=True):
    """The weekly list, computed as of Monday 00:00 in the team's time zone and kept all week."""

    __tablename__ = "priority_list"

    id: int | None = Field(default=None, primary_key=True)
    week: str = Field(sa_column=Column(String(8), nullable=False, unique=True))  # 2026-W48
    as_of: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    weights_version: int = Field(nullable=False)
    weights: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    computed_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    computed_by: str = Field(default="system", sa_column=Column(String(320), nullable=False))


class PriorityItem(SQLModel, table=True):
    """One account on a weekly list: its points and breakdown, and the CSM's verdict."""

    __tablename__ = "priority_item"
    __table_args__ = (
        CheckConstraint(one_of("status", ITEM_STATUSES), name="status"),
        CheckConstraint(f"reason IS NULL OR {one_of('reason', REJECT_REASONS)}", name="reason"),
        Index("uq_priority_item_list_account", "list_id", "account_id", unique=True),
        Index("ix_priority_item_owner", "list_id", "owner_id", "rank"),
    )

    id: int | None = Field(default=None, primary_key=True)
    list_id: int = Field(
        sa_column=Column(Integer, ForeignKey("priority_list.id", ondelete="CASCADE"), nullable=False)
    )
    account_id: int = Field(sa_column=account_fk())
    owner_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("user.id", ondelete="SET NULL"))
    )
    rank: int | None = Field(default=None)
    total: float = Field(sa_column=Column(Float, nullable=False))
    factors: list[Any] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    score: float | None = Field(default=None, sa_column=Column(Float))
    band: str | None = Field(default=None, sa_column=Column(String(8)))
    stage: str | None = Field(default=None, sa_column=Column(String(8)))
    signals: list[Any] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    suppressed_reason: str | None = Field(default=None, sa_column=Column(String(24)))
    suppressed_on: dt.date | None = Field(default=None)
    status: str = Field(default="open", sa_column=Column(String(16), nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(String(24)))
    reason_text: str | None = Field(default=None, sa_column=Column(Text))
    interaction_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("interaction.id", ondelete="SET NULL"))
    )
    feedback_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    feedback_by: str | None = Field(default=None, sa_column=Column(String(320)))
