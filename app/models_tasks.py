"""Industry tiers, account history, playbooks and tasks.

``account_history`` holds an account's commercial events (contract start, renewal, churn, ARR
change); industry tiers are computed from it. Playbooks are versioned rule sets; a task remembers
the playbook, version and rule that created it (or none when made by hand).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    text,
)
from sqlmodel import Field, SQLModel

from app.db import JSONType, UTCDateTime, utcnow

HISTORY_KINDS = ("contract_start", "renewal", "churn", "arr_change")
HISTORY_SOURCES = ("account", "import", "demo")
TASK_STATUSES = ("open", "done", "snoozed", "closed")
#: A task in one of these states is "open" for the rule: no second one is created beside it.
OPEN_TASK_STATUSES = ("open", "snoozed")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


_OPEN_RULE_TASK = f"{_in('status', OPEN_TASK_STATUSES)} AND rule_key IS NOT NULL"


class AccountHistory(SQLModel, table=True):
    """One commercial event of an account: contract start, renewal, churn or ARR change.

    At most one event of a kind per account and day: importing it again updates it, and two ARR
    changes on one day are one net change.
    """

    __tablename__ = "account_history"
    __table_args__ = (
        CheckConstraint(_in("kind", HISTORY_KINDS), name="kind"),
        CheckConstraint(_in("source", HISTORY_SOURCES), name="source"),
        Index("uq_account_history_event", "account_id", "kind", "occurred_on", unique=True),
        # Tiers read one kind over a date window for every account.
        Index("ix_account_history_kind_occurred", "kind", "occurred_on", "account_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False)
    )
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    occurred_on: dt.date = Field(nullable=False)
    arr_before: Decimal | None = Field(default=None, sa_column=Column(Numeric(18, 2)))
    arr_after: Decimal | None = Field(default=None, sa_column=Column(Numeric(18, 2)))
    note: str | None = Field(default=None, sa_column=Column(String(1000)))
    source: str = Field(sa_column=Column(String(8), nullable=False))
    #: A user's email, an API key's name, or "system".
    actor: str = Field(default="system", sa_column=Column(String(320), nullable=False))
    recorded_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class IndustryOverride(SQLModel, table=True):
    """A tier set by hand for an industry; it beats the computed tier until removed."""

    __tablename__ = "industry_override"
    __table_args__ = (CheckConstraint("tier BETWEEN 1 AND 4", name="tier"),)

    industry: str = Field(sa_column=Column(String(100), primary_key=True))
    tier: int = Field(nullable=False)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    set_by: str = Field(sa_column=Column(String(320), nullable=False))
    set_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)


class IndustryTierConfig(SQLModel, table=True):
    """A saved tiering configuration (lookback, sample size, cuts); the newest one is in use."""

    __tablename__ = "industry_tier_config"

    id: int | None = Field(default=None, primary_key=True)
    definition: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    created_by: str = Field(sa_column=Column(String(320), nullable=False))
    created_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)


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
        CheckConstraint(_in("status", TASK_STATUSES), name="status"),
        CheckConstraint("status <> 'snoozed' OR snoozed_until IS NOT NULL", name="snoozed_until"),
        # One open task per rule and account, even when two syncs race.
        Index(
            "uq_task_open_rule", "account_id", "playbook_id", "rule_key", unique=True,
            sqlite_where=text(_OPEN_RULE_TASK), postgresql_where=text(_OPEN_RULE_TASK),
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


__all__ = [
    "HISTORY_KINDS",
    "HISTORY_SOURCES",
    "OPEN_TASK_STATUSES",
    "TASK_STATUSES",
    "AccountHistory",
    "IndustryOverride",
    "IndustryTierConfig",
    "Playbook",
    "PlaybookVersion",
    "Task",
]
