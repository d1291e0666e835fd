"""Stages, signals, weekly priority lists and feedback.

Rule sets (stage rules, signal rules, priority weights) are versioned: a change adds a version and
the newest one is in force, so every stored list names the weights it was computed with.
"""

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
    text,
)
from sqlmodel import Field, SQLModel

from app.db import JSONType, UTCDateTime, one_of, utcnow
from app.models.accounts import account_fk

RULE_KINDS = ("stages", "signals", "priorities")


STAGE_NAMES = ("success", "growth", "rescue", "mogura")


SIGNAL_NAMES = (
    "onboarding_checkpoint",
    "score_drop",
    "renewal_window",
    "no_meeting",
    "champion_quiet",
    "champion_left",
    "nps_detractor",
    "goals_unverified",
    "usage_collapse",
    "stale_data",
    "disagreement",
)


class RuleSet(SQLModel, table=True):
    """One version of a kind of rules; the highest version of each kind is in force."""

    __tablename__ = "rule_set"
    __table_args__ = (
        CheckConstraint(one_of("kind", RULE_KINDS), name="kind"),
        Index("uq_rule_set_kind_version", "kind", "version", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    version: int = Field(nullable=False)
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    author: str = Field(default="system", sa_column=Column(String(320), nullable=False))
    note: str | None = Field(default=None, sa_column=Column(String(1000)))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class ChampionRating(SQLModel, table=True):
    """The CSM's 1–5 rating of the champion's motivation; the latest one counts."""

    __tablename__ = "champion_rating"
    __table_args__ = (
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating"),
        Index("ix_champion_rating_account", "account_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(sa_column=account_fk())
    rating: int = Field(nullable=False)
    comment: str | None = Field(default=None, sa_column=Column(Text))
    author_user_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("user.id", ondelete="SET NULL"))
    )
    author: str = Field(default="system", sa_column=Column(String(320), nullable=False))
    created_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)


class AccountStage(SQLModel, table=True):
    """An account's current lifecycle stage, since when, and the indicators behind it."""

    __tablename__ = "account_stage"
    __table_args__ = (
        CheckConstraint(one_of("stage", STAGE_NAMES), name="stage"),
        Index("ix_account_stage_stage", "stage"),
    )

    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), primary_key=True)
    )
    stage: str = Field(sa_column=Column(String(8), nullable=False))
    since_on: dt.date = Field(nullable=False)
    computed_on: dt.date = Field(nullable=False)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))


class StageChange(SQLModel, table=True):
    """A transition from one stage to another (``previous`` null: the first stage computed)."""

    __tablename__ = "stage_change"
    __table_args__ = (
        CheckConstraint(one_of("stage", STAGE_NAMES), name="stage"),
        Index("ix_stage_change_account", "account_id", "changed_on"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(sa_column=account_fk())
    previous: str | None = Field(default=None, sa_column=Column(String(8)))
    stage: str = Field(sa_column=Column(String(8), nullable=False))
    changed_on: dt.date = Field(nullable=False)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))


class AccountSignal(SQLModel, table=True):
    """One episode of a signal on an account: fired, seen again each day, cleared."""

    __tablename__ = "account_signal"
    __table_args__ = (
        CheckConstraint(one_of("kind", SIGNAL_NAMES), name="kind"),
        # One open episode per account and kind, even under concurrent runs.
        Index(
            "uq_account_signal_open",
            "account_id",
            "kind",
            unique=True,
            sqlite_where=text("cleared_on IS NULL"),
            postgresql_where=text("cleared_on IS NULL"),
        ),
        Index("ix_account_signal_account", "account_id", "first_on"),
        Index("ix_account_signal_kind", "kind", "cleared_on"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(sa_column=account_fk())
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    severity: str = Field(sa_column=Column(String(8), nullable=False))
    first_on: dt.date = Field(nullable=False)
    last_on: dt.date = Field(nullable=False)
    cleared_on: dt.date | None = Field(default=None)
    #: The facts that fired it first, and the latest facts while it stays active.
    fired_data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))


TASK_STATUSES = ("open", "done", "snoozed", "closed")


#: A task in one of these states is "open" for the rule: no second one is created beside it.
OPEN_TASK_STATUSES = ("open", "snoozed")


_OPEN_RULE_TASK = f"{one_of('status', OPEN_TASK_STATUSES)} AND rule_key IS NOT NULL"


class Playbook(SQLModel, table=True):
    """A named set of rules turning account facts into tasks; its rules live in versions."""

    __tablename__ = "playbook"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(100), nullable=False, unique=True))
    description: str | None = Field(default=None, sa_column=Column(String(1000)))
    is_active: bool = Field(default=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class PlaybookVersion(SQLModel, table=True):
    """One published version of a playbook's rules; the highest version is the current one."""

    __tablename__ = "playbook_version"
    __table_args__ = (Index("uq_playbook_version", "playbook_id", "version", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    playbook_id: int = Field(
        sa_column=Column(Integer, ForeignKey("playbook.id", ondelete="CASCADE"), nullable=False)
    )
    version: int = Field(nullable=False)
    rules: list[Any] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    note: str | None = Field(default=None, sa_column=Column(String(1000)))
    published_by: str = Field(sa_column=Column(String(320), nullable=False))
    published_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)


class Task(SQLModel, table=True):
    """Something a CSM should do for an account, by a date: from a playbook rule or by hand."""

    __tablename__ = "task"
    __table_args__ = (
        CheckConstraint(one_of("status", TASK_STATUSES), name="status"),
        CheckConstraint("status <> 'snoozed' OR snoozed_until IS NOT NULL", name="snoozed_until"),
        # One open task per rule and account, even when two syncs race.
        Index(
            "uq_task_open_rule",
            "account_id",
            "playbook_id",
            "rule_key",
            unique=True,
            sqlite_where=text(_OPEN_RULE_TASK),
            postgresql_where=text(_OPEN_RULE_TASK),
        ),
        Index("ix_task_assignee_status_due", "assignee_id", "status", "due_on"),
        Index("ix_task_account_status", "account_id", "status"),
        Index("ix_task_status_due", "status", "due_on"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False)
    )
    playbook_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("playbook.id", ondelete="SET NULL"), nullable=True),
    )
    playbook_version: int | None = Field(default=None)
    rule_key: str | None = Field(default=None, sa_column=Column(String(100)))
    action: str | None = Field(default=None, sa_column=Column(String(64)))
    title: str = Field(sa_column=Column(String(255), nullable=False))
    description: str | None = Field(default=None, sa_column=Column(Text))
    due_on: dt.date = Field(nullable=False)
    assignee_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("user.id", ondelete="SET NULL"))
    )
    status: str = Field(default="open", sa_column=Column(String(8), nullable=False))
    snoozed_until: dt.date | None = Field(default=None)
    completed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    interaction_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("interaction.id", ondelete="SET NULL"), nullable=True),
    )
    closed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    close_reason: str | None = Field(default=None, sa_column=Column(String(500)))
    #: Who closed or completed it; ``playbook`` when it closed itself because its condition cleared.
    closed_by: str | None = Field(default=None, sa_column=Column(String(320)))
    #: Why the rule matched: the conditions and the account's values when the task was made.
    basis: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    created_by: str = Field(default="system", sa_column=Column(String(320), nullable=False))
    created_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    updated_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
