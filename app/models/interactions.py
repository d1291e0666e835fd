"""Interactions (meetings, emails, tickets, NPS...) and the contacts who took part."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlmodel import Field, SQLModel

from app.db import JSONType, UTCDateTime, one_of, utcnow

INTERACTION_TYPES = (
    "meeting",
    "call",
    "email_sent",
    "email_reply",
    "support_ticket",
    "webinar",
    "event",
    "community",
    "community_post",
    "nps_response",
    "email_click",
    "meeting_scheduled",
    "training",
    "certification",
    "note",
)


class Interaction(SQLModel, table=True):
    """Something that happened between the vendor and a customer: a meeting, a ticket, an NPS..."""

    __tablename__ = "interaction"
    __table_args__ = (
        CheckConstraint(one_of("type", INTERACTION_TYPES), name="type"),
        Index("ix_interaction_account_occurred", "account_id", "occurred_at"),
        # With the account: counts per account in a window read this index alone.
        Index("ix_interaction_type_occurred_account", "type", "occurred_at", "account_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False)
    )
    type: str = Field(sa_column=Column(String(32), nullable=False))
    occurred_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    #: The caller's id for it (or its Idempotency-Key): a retry with the same id is not a new one.
    external_id: str | None = Field(default=None, sa_column=Column(String(255), unique=True))
    request_hash: str | None = Field(default=None, sa_column=Column(String(64)))
    author_user_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("user.id", ondelete="SET NULL"))
    )
    author: str = Field(default="system", sa_column=Column(String(320), nullable=False))
    title: str | None = Field(default=None, sa_column=Column(String(500)))
    body: str | None = Field(default=None, sa_column=Column(Text))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class InteractionContact(SQLModel, table=True):
    """The customer people an interaction involved (attendees, the NPS respondent, ...)."""

    __tablename__ = "interaction_contact"

    interaction_id: int = Field(
        sa_column=Column(Integer, ForeignKey("interaction.id", ondelete="CASCADE"), primary_key=True)
    )
    contact_id: int = Field(
        sa_column=Column(Integer, ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True, index=True)
    )
