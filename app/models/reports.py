"""Adoption reports, the email outbox, scheduled sends and tech-touch check-ins.

Every email is an ``outbox`` row written in the same transaction as what caused it; the sender
job claims rows (``queued`` → ``sending`` with a claim token and a lease), delivers them over SMTP
and marks them ``sent`` or ``failed``. ``dedupe_key`` makes "once per period" sends (scheduled
reports, Monday digests, check-ins) unique in the database itself.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CheckConstraint, Column, ForeignKey, Integer, String, Text
from sqlmodel import Field, SQLModel

from app.db import JSONType, UTCDateTime, one_of, utcnow

CADENCES = ("monthly", "quarterly")


CHECKIN_ANSWERS = ("done", "on_track", "problem")


class ReportSchedule(SQLModel, table=True):
    """Automatic adoption reports for an account: recipients and a cadence."""

    __tablename__ = "report_schedule"
    __table_args__ = (
        CheckConstraint(one_of("cadence", CADENCES), name="cadence"),
        CheckConstraint("day_of_month BETWEEN 1 AND 28", name="day_of_month"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False, index=True)
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
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False, index=True)
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
        CheckConstraint(f"answer IS NULL OR {one_of('answer', CHECKIN_ANSWERS)}", name="answer"),
    )

    id: int | None = Field(default=None, primary_key=True)
    #: One check-in per account: the rule never asks the same account twice.
    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False, unique=True)
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
