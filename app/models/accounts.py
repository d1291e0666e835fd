"""Accounts, contacts, account history and industry tiers."""

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
)
from sqlmodel import Field, SQLModel

from app.db import JSONType, UTCDateTime, one_of, utcnow

ACCOUNT_STATUSES = ("active", "churned", "deleted")


CONTACT_STATUSES = ("active", "deleted")


SEGMENTS = ("enterprise", "mid_market", "smb")


def account_fk() -> Column[Any]:
    """A required reference to the account, deleted with it."""
    return Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False)


class Account(SQLModel, table=True):
    """A customer company. ``external_id`` is the id other systems (and Segment) use for it."""

    __tablename__ = "account"
    __table_args__ = (
        CheckConstraint(one_of("status", ACCOUNT_STATUSES), name="status"),
        CheckConstraint(f"segment IS NULL OR {one_of('segment', SEGMENTS)}", name="segment"),
        CheckConstraint("licensed_seats IS NULL OR licensed_seats >= 0", name="licensed_seats"),
        CheckConstraint("arr >= 0", name="arr"),
        Index("ix_account_status_name", "status", "name"),
    )

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(sa_column=Column(String(255), nullable=False, unique=True))
    name: str = Field(sa_column=Column(String(255), nullable=False, index=True))
    industry: str | None = Field(default=None, sa_column=Column(String(100), index=True))
    segment: str | None = Field(default=None, sa_column=Column(String(16), index=True))
    plan: str | None = Field(default=None, sa_column=Column(String(100)))
    licensed_seats: int | None = Field(default=None)
    arr: Decimal = Field(default=Decimal(0), sa_column=Column(Numeric(18, 2), nullable=False))
    currency: str = Field(default="JPY", sa_column=Column(String(3), nullable=False))
    contract_start_on: dt.date | None = Field(default=None)
    renewal_on: dt.date | None = Field(default=None, index=True)
    status: str = Field(default="active", sa_column=Column(String(16), nullable=False))
    churned_on: dt.date | None = Field(default=None)
    owner_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("user.id", ondelete="SET NULL"), index=True),
    )
    traits: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Contact(SQLModel, table=True):
    """A person at a customer; ``external_id`` is the product's user id (Segment ``userId``)."""

    __tablename__ = "contact"
    __table_args__ = (CheckConstraint(one_of("status", CONTACT_STATUSES), name="status"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    external_id: str | None = Field(default=None, sa_column=Column(String(255), unique=True))
    email: str | None = Field(default=None, sa_column=Column(String(320), index=True))
    name: str | None = Field(default=None, sa_column=Column(String(200)))
    title: str | None = Field(default=None, sa_column=Column(String(200)))
    is_champion: bool = Field(default=False)
    is_decision_maker: bool = Field(default=False)
    is_star_user: bool = Field(default=False)
    status: str = Field(default="active", sa_column=Column(String(16), nullable=False))
    traits: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class AccountChange(SQLModel, table=True):
    """The attributes of an account that measures and model choice read, as they became at
    ``valid_from``: one row per change (and one when the account is created), so an attribute's
    value at a past instant is the newest row before it.

    Written in the transaction of the change by every path that writes these attributes, stamped
    with that path's clock (a replay of the past writes past instants).
    """

    __tablename__ = "account_change"
    __table_args__ = (
        CheckConstraint(f"segment IS NULL OR {one_of('segment', SEGMENTS)}", name="segment"),
        Index("ix_account_change_account_valid_from", "account_id", "valid_from"),
        # "Did anything change after this instant?": the one question a current-day score asks.
        Index("ix_account_change_valid_from", "valid_from"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(sa_column=account_fk())
    licensed_seats: int | None = Field(default=None)
    arr: Decimal = Field(sa_column=Column(Numeric(18, 2), nullable=False))
    segment: str | None = Field(default=None, sa_column=Column(String(16)))
    industry: str | None = Field(default=None, sa_column=Column(String(100)))
    plan: str | None = Field(default=None, sa_column=Column(String(100)))
    owner_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("user.id", ondelete="SET NULL"))
    )
    valid_from: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    #: A user's email, an API key's name, "import", "segment", "demo" or "system".
    recorded_by: str = Field(sa_column=Column(String(320), nullable=False))


class ContactChange(SQLModel, table=True):
    """A contact's roles, status and account as they became at ``valid_from``: one row per
    change (and one when the contact is created). A contact with no row before an instant did not
    exist then.

    Written in the transaction of the change by every path that creates, updates or deletes a
    contact, stamped with that path's clock.
    """

    __tablename__ = "contact_change"
    __table_args__ = (
        CheckConstraint(one_of("status", CONTACT_STATUSES), name="status"),
        Index("ix_contact_change_contact_valid_from", "contact_id", "valid_from"),
        Index("ix_contact_change_valid_from", "valid_from"),
    )

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(
        sa_column=Column(Integer, ForeignKey("contact.id", ondelete="CASCADE"), nullable=False)
    )
    account_id: int = Field(sa_column=account_fk())
    is_champion: bool = Field(nullable=False)
    is_decision_maker: bool = Field(nullable=False)
    is_star_user: bool = Field(nullable=False)
    status: str = Field(sa_column=Column(String(16), nullable=False))
    valid_from: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    #: A user's email, an API key's name, "import", "segment", "demo" or "system".
    recorded_by: str = Field(sa_column=Column(String(320), nullable=False))


HISTORY_KINDS = ("contract_start", "renewal", "churn", "arr_change")


HISTORY_SOURCES = ("account", "import", "demo")


class AccountHistory(SQLModel, table=True):
    """One commercial event of an account: contract start, renewal, churn or ARR change.

    At most one event of a kind per account and day: importing it again updates it, and two ARR
    changes on one day are one net change.
    """

    __tablename__ = "account_history"
    __table_args__ = (
        CheckConstraint(one_of("kind", HISTORY_KINDS), name="kind"),
        CheckConstraint(one_of("source", HISTORY_SOURCES), name="source"),
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
