"""Adoption reports, the email outbox, scheduled sends and tech-touch check-ins.

Every email is an ``outbox`` row written in the same transaction as what caused it; the sender
job claims rows (``queued`` → ``sending`` with a claim token and a lease), delivers them over SMTP
and marks them ``sent`` or ``failed``. ``dedupe_key`` makes "once per period" sends (scheduled
reports, Monday digests, check-ins) unique in the database itself.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

from app.db import JSONType, UTCDateTime, utcnow

__all__ = [
    "OUTBOX_STATES", "AdoptionReport", "Checkin", "EmailTemplate", "Outbox", "ReportSchedule",
]

OUTBOX_STATES = ("queued", "sending", "sent", "failed")
OUTBOX_KINDS = ("report", "checkin", "digest", "other")
CADENCES = ("monthly", "quarterly")
CHECKIN_ANSWERS = ("done", "on_track", "problem")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Outbox(SQLModel, table=True):
    """One email to one recipient, from queued to sent (or failed with the server's answer)."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(_in("state", OUTBOX_STATES), name="state"),
        CheckConstraint(_in("kind", OUTBOX_KINDS), name="kind"),
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


class ReportSchedule(SQLModel, table=True):
    """Automatic adoption reports for an account: recipients and a cadence."""

    __tablename__ = "report_schedule"
    __table_args__ = (
        CheckConstraint(_in("cadence", CADENCES), name="cadence"),
        CheckConstraint("day_of_month BETWEEN 1 AND 28", name="day_of_month"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    cadence: str = Field(sa_column=Column(String(16), nullable=False))
    day_of_month: int = Field(default=1, nullable=False)
    recipients: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    language: str = Field(default="ja", sa_column=Column(String(8), nullable=False))
    enabled: bool = Field(default=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class AdoptionReport(SQLModel, table=True):
    """A generated adoption summary: its period, its numbers as sent, and its link's lifetime."""

    __tablename__ = "adoption_report"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    period_start: dt.date = Field(nullable=False)
    period_end: dt.date = Field(nullable=False)
    language: str = Field(default="ja", sa_column=Column(String(8), nullable=False))
    message: str | None = Field(default=None, sa_column=Column(Text))
    #: The report as assembled when generated: the web view shows exactly what was sent.
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    recipients: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    #: One report per key: ``schedule:4:2026-11`` (a schedule's period) or ``api:acme:<the
    #: request's Idempotency-Key>`` (a retried POST answers with the report it made).
    dedupe_key: str | None = Field(default=None, sa_column=Column(String(400), unique=True))
    created_by: str = Field(default="system", sa_column=Column(String(320), nullable=False))
    created_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class Checkin(SQLModel, table=True):
    """A tech-touch "Is your rollout going well?" email to an account's champion, and its answer."""

    __tablename__ = "checkin"
    __table_args__ = (
        CheckConstraint(f"answer IS NULL OR {_in('answer', CHECKIN_ANSWERS)}", name="answer"),
    )

    id: int | None = Field(default=None, primary_key=True)
    #: One check-in per account: the rule never asks the same account twice.
    account_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False, unique=True
        )
    )
    contact_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("contact.id", ondelete="SET NULL"))
    )
    language: str = Field(default="ja", sa_column=Column(String(8), nullable=False))
    sent_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    answer: str | None = Field(default=None, sa_column=Column(String(16)))
    answered_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    interaction_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("interaction.id", ondelete="SET NULL"))
    )
    task_id: int | None = Field(default=None)


class EmailTemplate(SQLModel, table=True):
    """An admin's wording for an automatic email in one language (defaults live in the code)."""

    __tablename__ = "email_template"

    key: str = Field(sa_column=Column(String(50), primary_key=True))
    language: str = Field(sa_column=Column(String(8), primary_key=True))
    subject: str = Field(sa_column=Column(String(500), nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    updated_by: str = Field(sa_column=Column(String(320), nullable=False))
    updated_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
