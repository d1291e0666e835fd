"""Stages, signals, weekly priority lists and feedback.

Rule sets (stage rules, signal rules, priority weights) are versioned: a change adds a version and
the newest one is in force, so every stored list names the weights it was computed with.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CheckConstraint, Column, Float, ForeignKey, Index, Integer, String, Text, text
from sqlmodel import Field, SQLModel

from app.db import JSONType, UTCDateTime, utcnow

__all__ = [
    "ITEM_STATUSES",
    "REJECT_REASONS",
    "RULE_KINDS",
    "SIGNAL_NAMES",
    "STAGE_NAMES",
    "AccountSignal",
    "AccountStage",
    "ChampionRating",
    "PriorityItem",
    "PriorityList",
    "RuleSet",
    "StageChange",
]

RULE_KINDS = ("stages", "signals", "priorities")
STAGE_NAMES = ("success", "growth", "rescue", "mogura")
SIGNAL_NAMES = (
    "onboarding_checkpoint", "score_drop", "renewal_window", "no_meeting", "champion_quiet",
    "champion_left", "nps_detractor", "goals_unverified", "usage_collapse", "stale_data",
    "disagreement",
)
ITEM_STATUSES = ("open", "done", "not_actionable")
REJECT_REASONS = ("talked_offline", "no_churn_risk", "waiting_on_customer", "other")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _account_fk() -> Column[Any]:
    return Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False)


class RuleSet(SQLModel, table=True):
    """One version of a kind of rules; the highest version of each kind is in force."""

    __tablename__ = "rule_set"
    __table_args__ = (
        CheckConstraint(_in("kind", RULE_KINDS), name="kind"),
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
    account_id: int = Field(sa_column=_account_fk())
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
        CheckConstraint(_in("stage", STAGE_NAMES), name="stage"),
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
        CheckConstraint(_in("stage", STAGE_NAMES), name="stage"),
        Index("ix_stage_change_account", "account_id", "changed_on"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(sa_column=_account_fk())
    previous: str | None = Field(default=None, sa_column=Column(String(8)))
    stage: str = Field(sa_column=Column(String(8), nullable=False))
    changed_on: dt.date = Field(nullable=False)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))


class AccountSignal(SQLModel, table=True):
    """One episode of a signal on an account: fired, seen again each day, cleared."""

    __tablename__ = "account_signal"
    __table_args__ = (
        CheckConstraint(_in("kind", SIGNAL_NAMES), name="kind"),
        # One open episode per account and kind, even under concurrent runs.
        Index(
            "uq_account_signal_open", "account_id", "kind", unique=True,
            sqlite_where=text("cleared_on IS NULL"), postgresql_where=text("cleared_on IS NULL"),
        ),
        Index("ix_account_signal_account", "account_id", "first_on"),
        Index("ix_account_signal_kind", "kind", "cleared_on"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(sa_column=_account_fk())
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    severity: str = Field(sa_column=Column(String(8), nullable=False))
    first_on: dt.date = Field(nullable=False)
    last_on: dt.date = Field(nullable=False)
    cleared_on: dt.date | None = Field(default=None)
    #: The facts that fired it first, and the latest facts while it stays active.
    fired_data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))


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
        CheckConstraint(_in("status", ITEM_STATUSES), name="status"),
        CheckConstraint(f"reason IS NULL OR {_in('reason', REJECT_REASONS)}", name="reason"),
        Index("uq_priority_item_list_account", "list_id", "account_id", unique=True),
        Index("ix_priority_item_owner", "list_id", "owner_id", "rank"),
    )

    id: int | None = Field(default=None, primary_key=True)
    list_id: int = Field(
        sa_column=Column(Integer, ForeignKey("priority_list.id", ondelete="CASCADE"), nullable=False)
    )
    account_id: int = Field(sa_column=_account_fk())
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
