"""The email outbox and editable email templates."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime, one_of, utcnow

OUTBOX_STATES = ("queued", "sending", "sent", "failed")


OUTBOX_KINDS = ("report", "checkin", "digest", "other")


class Outbox(SQLModel, table=True):
    """One email to one recipient, from queued to sent (or failed with the server's answer)."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(one_of("state", OUTBOX_STATES), name="state"),
        CheckConstraint(one_of("kind", OUTBOX_KINDS), name="kind"),
        # The sender's claim reads due rows in order (priority first): one range of this index.
        Index("ix_outbox_state_priority_next_attempt", "state", "priority", "next_attempt_at"),
        # The send rate counts the messages sent in the last minute.
        Index("ix_outbox_sent_at", "sent_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    account_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="SET NULL"), index=True),
    )
    #: "Once per period" sends: e.g. ``digest:3:2026-W48``; NULL for one-off emails.
    dedupe_key: str | None = Field(default=None, sa_column=Column(String(255), unique=True))
    to_addr: str = Field(sa_column=Column(String(320), nullable=False))
    subject: str = Field(sa_column=Column(String(500), nullable=False))
    text_body: str = Field(sa_column=Column(Text, nullable=False))
    html_body: str | None = Field(default=None, sa_column=Column(Text))
    #: Fixed when the row is written, so a re-send after a lost "sent" mark carries the same id.
    message_id: str = Field(sa_column=Column(String(255), nullable=False, unique=True))
    state: str = Field(default="queued", sa_column=Column(String(16), nullable=False))
    #: Higher goes first: 1 for what a person asked for (*Send now*, the API), 0 for bulk.
    priority: int = Field(default=0, nullable=False)
    #: Automated emails are not delivered after this (their window or grace period ended);
    #: NULL: no deadline.
    send_by: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    attempts: int = Field(default=0, nullable=False)
    next_attempt_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    claim_token: str | None = Field(default=None, sa_column=Column(String(32)))
    claimed_until: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    sent_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class EmailTemplate(SQLModel, table=True):
    """An admin's wording for an automatic email in one language (defaults live in the code)."""

    __tablename__ = "email_template"

    key: str = Field(sa_column=Column(String(50), primary_key=True))
    language: str = Field(sa_column=Column(String(8), primary_key=True))
    subject: str = Field(sa_column=Column(String(500), nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    updated_by: str = Field(sa_column=Column(String(320), nullable=False))
    updated_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
