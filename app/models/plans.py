"""Success plans: an account's plans, their goals and steps, goal progress, history and events.

Plans, goals and steps carry a ``version`` that every change increments; the API's ETags are
made from it, so a stale write is refused (412) instead of silently overwriting a newer one.
Templates are shipped as code (``app.plans.templates``), not stored.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, String, Text, text
from sqlmodel import Field, SQLModel

from app.db import JSONType, UTCDateTime, one_of, utcnow

PLAN_STATUSES = ("draft", "active", "completed", "archived")


GOAL_KINDS = ("quantitative", "qualitative")


GOAL_STATUSES = ("not_started", "on_track", "at_risk", "achieved", "dropped")


GOAL_PRIORITIES = ("high", "medium", "low")


AUDIT_ENTITIES = ("plan", "goal", "step")


AUDIT_ACTIONS = ("create", "update", "delete", "verify", "auto")


PLAN_EVENT_KINDS = ("goal_achieved", "goal_at_risk")


class SuccessPlan(SQLModel, table=True):
    """What a customer wants to achieve with us; an account may have several, one active."""

    __tablename__ = "success_plan"
    __table_args__ = (
        CheckConstraint(one_of("status", PLAN_STATUSES), name="status"),
        Index("ix_success_plan_account", "account_id", "id"),
        # At most one active plan per account, even under concurrent writes.
        Index(
            "uq_success_plan_active",
            "account_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False)
    )
    title: str = Field(sa_column=Column(String(255), nullable=False))
    objective: str | None = Field(default=None, sa_column=Column(Text))
    status: str = Field(default="draft", sa_column=Column(String(16), nullable=False))
    #: Our side's owner (a CSM); the customer's owner is one of the account's contacts.
    owner_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("user.id", ondelete="SET NULL"), index=True),
    )
    customer_owner_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("contact.id", ondelete="SET NULL"))
    )
    start_on: dt.date | None = Field(default=None)
    target_on: dt.date | None = Field(default=None)
    template: str | None = Field(default=None, sa_column=Column(String(64)))
    version: int = Field(default=1, nullable=False)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class PlanGoal(SQLModel, table=True):
    """A goal of a plan: quantitative (a metric, baseline → target) or qualitative (a criterion)."""

    __tablename__ = "plan_goal"
    __table_args__ = (
        CheckConstraint(one_of("kind", GOAL_KINDS), name="kind"),
        CheckConstraint(one_of("status", GOAL_STATUSES), name="status"),
        CheckConstraint(one_of("priority", GOAL_PRIORITIES), name="priority"),
        Index("ix_plan_goal_plan", "plan_id", "position"),
        Index("ix_plan_goal_status", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(
        sa_column=Column(Integer, ForeignKey("success_plan.id", ondelete="CASCADE"), nullable=False)
    )
    title: str = Field(sa_column=Column(String(255), nullable=False))
    description: str | None = Field(default=None, sa_column=Column(Text))
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    status: str = Field(default="not_started", sa_column=Column(String(16), nullable=False))
    priority: str = Field(default="medium", sa_column=Column(String(8), nullable=False))
    position: int = Field(default=0, nullable=False)
    metric: str | None = Field(default=None, sa_column=Column(String(200)))
    unit: str | None = Field(default=None, sa_column=Column(String(50)))
    baseline: float | None = Field(default=None)
    target: float | None = Field(default=None)
    current_value: float | None = Field(default=None)
    #: The usage measure the current value is tracked from: ``{"metric": ..., "feature": ...}``.
    metric_source: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType, nullable=True))
    success_criterion: str | None = Field(default=None, sa_column=Column(Text))
    due_on: dt.date | None = Field(default=None)
    achieved_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    last_verified_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    last_verified_by: str | None = Field(default=None, sa_column=Column(String(320)))
    version: int = Field(default=1, nullable=False)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class PlanStep(SQLModel, table=True):
    """A milestone on the way to a goal."""

    __tablename__ = "plan_step"
    __table_args__ = (Index("ix_plan_step_goal", "goal_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    goal_id: int = Field(
        sa_column=Column(Integer, ForeignKey("plan_goal.id", ondelete="CASCADE"), nullable=False)
    )
    title: str = Field(sa_column=Column(String(255), nullable=False))
    due_on: dt.date | None = Field(default=None)
    #: Who does it: a user's email, a contact's name, "customer", ... (free text).
    owner: str | None = Field(default=None, sa_column=Column(String(320)))
    done: bool = Field(default=False)
    done_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    position: int = Field(default=0, nullable=False)
    version: int = Field(default=1, nullable=False)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class PlanGoalProgress(SQLModel, table=True):
    """A tracked goal's metric value on a day (the team's time zone): its progress series."""

    __tablename__ = "plan_goal_progress"

    goal_id: int = Field(
        sa_column=Column(Integer, ForeignKey("plan_goal.id", ondelete="CASCADE"), primary_key=True)
    )
    day: dt.date = Field(primary_key=True)
    value: float = Field(nullable=False)
    recorded_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)


class PlanAudit(SQLModel, table=True):
    """One change to a plan, goal or step: who, when, and the fields before → after.

    ``plan_id`` and ``entity_id`` are plain integers so the history outlives a deleted plan.
    """

    __tablename__ = "plan_audit"
    __table_args__ = (
        CheckConstraint(one_of("entity_type", AUDIT_ENTITIES), name="entity_type"),
        CheckConstraint(one_of("action", AUDIT_ACTIONS), name="action"),
        Index("ix_plan_audit_plan", "plan_id", "id"),
        Index("ix_plan_audit_account", "account_id", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    entity_type: str = Field(sa_column=Column(String(8), nullable=False))
    entity_id: int = Field(nullable=False)
    plan_id: int = Field(nullable=False)
    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False)
    )
    #: A user's email, an API key's name, or "system".
    actor: str = Field(sa_column=Column(String(320), nullable=False))
    at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    action: str = Field(sa_column=Column(String(8), nullable=False))
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType, nullable=True))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType, nullable=True))


class PlanEvent(SQLModel, table=True):
    """Something the automation noticed (a goal achieved, a goal at risk), for the web app and
    webhooks to pick up."""

    __tablename__ = "plan_event"
    __table_args__ = (
        CheckConstraint(one_of("kind", PLAN_EVENT_KINDS), name="kind"),
        Index("ix_plan_event_at", "at"),
        Index("ix_plan_event_account", "account_id", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False)
    )
    goal_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("plan_goal.id", ondelete="SET NULL"), index=True),
    )
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
